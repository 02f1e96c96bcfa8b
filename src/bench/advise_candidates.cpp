// Where the advisor's candidates come from: measured compare profiles, or a
// model file's arithmetic and the machine's measured bandwidth.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "bench/advise.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "tensor/dtype.h"

namespace moelab {
namespace {

double bits_per_weight(DType t) {
  const DTypeInfo& i = dtype_info(t);
  return 8.0 * static_cast<double>(i.block_bytes) / static_cast<double>(i.block_elems);
}

}  // namespace

std::vector<AdviseCandidate> candidates_from_report(const CompareReport& report) {
  std::vector<AdviseCandidate> out;
  for (const ModelProfile& p : report.profiles) {
    AdviseCandidate c;
    // Capped variants are settings of their model, not other models.
    const size_t cut = p.label.find(" k<=");
    c.model = cut == std::string::npos ? p.label : p.label.substr(0, cut);
    c.moe = p.moe;
    c.measured = true;
    c.weight_type = p.weight_type;
    c.max_active_experts = p.max_active_experts;
    c.n_expert_used = p.n_expert_used;
    c.weight_bytes = p.memory.weights;
    c.overhead_bytes = p.memory.rest;
    c.kv_bytes_per_token = p.kv_bytes_per_token;
    c.ttft_ms = p.ttft_ms;
    // Concurrency 1 from the long latency run (its p95 of token gaps); higher
    // levels scale that p95 by the measured growth of the mean.
    const double base_mean = p.tpot_ms > 0 ? p.tpot_ms : 1.0;
    c.concurrency.push_back(1);
    c.tpot_ms.push_back(p.tpot_ms);
    c.tpot_p95_ms.push_back(p.tpot_p95_ms);
    c.tokens_per_s.push_back(p.decode_tokens_per_s);
    for (const ConcurrencyPoint& t : p.throughput) {
      if (t.concurrency <= 1) continue;
      c.concurrency.push_back(t.concurrency);
      c.tpot_ms.push_back(t.tpot_ms);
      c.tpot_p95_ms.push_back(p.tpot_p95_ms * t.tpot_ms / base_mean);
      c.tokens_per_s.push_back(t.output_tokens_per_s);
    }
    c.basis = "measured, " + std::to_string(p.latency_runs) + " latency run(s)";
    c.kv_type = kv_type_name(report.options.kv_type);
    if (report.options.kv_type == DType::kF32) {
      AdviseCandidate half = c;
      half.kv_type = kv_type_name(DType::kF16);
      half.kv_bytes_per_token = c.kv_bytes_per_token / 2;
      half.basis += "; f16 cache: KV bytes halved, speed as measured with f32";
      out.push_back(std::move(c));
      out.push_back(std::move(half));
    } else {
      out.push_back(std::move(c));
    }
  }
  return out;
}

std::vector<AdviseCandidate> candidates_from_model(const Model& model, const std::string& label,
                                                   double bandwidth_gbs) {
  const ModelConfig& cfg = model.config();
  // The file's dominant weight type.
  DType file_type = DType::kF32;
  uint64_t most = 0;
  {
    std::vector<std::pair<DType, uint64_t>> bytes;
    for (const GgufTensorInfo& t : model.file().tensors()) {
      auto it = std::find_if(bytes.begin(), bytes.end(), [&](const auto& b) { return b.first == t.type; });
      if (it == bytes.end()) bytes.push_back({t.type, t.n_bytes});
      else it->second += t.n_bytes;
    }
    for (const auto& [type, b] : bytes)
      if (b > most) most = b, file_type = type;
  }
  std::vector<DType> types = {file_type};
  for (DType t : {DType::kQ8_0, DType::kQ4_K})
    if (bits_per_weight(t) < bits_per_weight(file_type)) types.push_back(t);
  std::vector<int32_t> caps = {0};
  if (cfg.is_moe() && cfg.moe.n_expert_used > 1) caps.push_back((cfg.moe.n_expert_used + 1) / 2);

  std::vector<AdviseCandidate> out;
  for (size_t ti = 0; ti < types.size(); ++ti) {
    const double scale = bits_per_weight(types[ti]) / bits_per_weight(file_type);
    for (int32_t cap : caps) {
      AdviseCandidate c;
      c.model = label;
      c.moe = cfg.is_moe();
      c.weight_type = std::string(dtype_info(types[ti]).name);
      c.weight_rank = static_cast<int32_t>(ti);
      c.max_active_experts = cap;
      c.n_expert_used = cfg.moe.n_expert_used;
      c.weight_bytes = static_cast<int64_t>(static_cast<double>(model.weight_bytes()) * scale);
      c.kv_bytes_per_token = model.kv_layout(DType::kF32).bytes_per_token();
      const double k = cap > 0 ? cap : cfg.moe.n_expert_used;
      // One step of c sequences reads the shared weights once and, per MoE
      // layer, the distinct experts chosen: n·(1 − (1 − k/n)^c) under uniform routing.
      const double one = static_cast<double>(model.bytes_per_token(k)) * scale;
      // bytes_per_token is linear in k: one more expert per token adds one
      // expert's bytes in every MoE layer.
      const double per_expert =
          cfg.is_moe() ? static_cast<double>(model.bytes_per_token(2) - model.bytes_per_token(1)) * scale : 0.0;
      const double fixed = one - k * per_expert;
      for (int32_t level = 1; level <= 4096; level *= 2) {
        double distinct = 0;
        if (cfg.is_moe()) {
          const double n = cfg.moe.n_expert;
          distinct = n * (1.0 - std::pow(1.0 - k / n, level));
        }
        const double step_bytes = fixed + distinct * per_expert;
        const double step_ms = bandwidth_gbs > 0 ? step_bytes / (bandwidth_gbs * 1e9) * 1e3 : 0.0;
        c.concurrency.push_back(level);
        c.tpot_ms.push_back(step_ms);
        c.tpot_p95_ms.push_back(step_ms);
        c.tokens_per_s.push_back(step_ms > 0 ? level / step_ms * 1e3 : 0.0);
      }
      char buf[160];
      std::snprintf(buf, sizeof buf, "estimated: decode floor %.1f MiB/token at %.1f GB/s; prefill and runtime memory not estimated",
                    one / (1024.0 * 1024.0), bandwidth_gbs);
      c.basis = buf;
      // The same with an f16 cache: half the KV bytes (the estimate leaves
      // KV reads out, so the speed is the same).
      AdviseCandidate half = c;
      half.kv_type = kv_type_name(DType::kF16);
      half.kv_bytes_per_token = model.kv_layout(DType::kF16).bytes_per_token();
      out.push_back(std::move(c));
      out.push_back(std::move(half));
    }
  }
  return out;
}

}  // namespace moelab

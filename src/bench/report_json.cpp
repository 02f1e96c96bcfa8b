// report.json: written by compare, read back by advise --profile. The field
// names are the contract scripts rely on (ttft, tpot, latency_1024,
// throughput, concurrency, memory, active_experts, bytes_per_token).
#include <cmath>

#include "bench/report.h"
#include "model/kv_cache.h"

namespace moelab {
namespace {

using nlohmann::json;

json profile_to_json(const ModelProfile& p) {
  json t = json::array();
  for (const ConcurrencyPoint& c : p.throughput) {
    t.push_back({{"concurrency", c.concurrency},
                 {"output_tokens_per_s", c.output_tokens_per_s},
                 {"end_to_end_tokens_per_s", c.end_to_end_tokens_per_s},
                 {"step_ms", c.step_ms},
                 {"tpot_ms", c.tpot_ms},
                 {"bytes_per_step", c.bytes_per_step},
                 {"bytes_per_token", c.bytes_per_token},
                 {"distinct_experts_per_layer", c.distinct_experts}});
  }
  json ctx = json::array();
  for (const ContextPoint& c : p.context)
    ctx.push_back({{"context", c.context}, {"ttft_ms", c.ttft_ms}, {"tpot_ms", c.tpot_ms}});
  const double bpt_c1 = p.throughput.empty() || p.throughput[0].concurrency != 1 ? 0.0 : p.throughput[0].bytes_per_token;
  return {
      {"label", p.label},
      {"path", p.path},
      {"arch", p.arch},
      {"weight_type", p.weight_type},
      {"moe", p.moe},
      {"n_expert", p.n_expert},
      {"n_expert_used", p.n_expert_used},
      {"max_active_experts", p.max_active_experts},
      {"n_ctx_train", p.n_ctx_train},
      {"n_params_total", p.n_params_total},
      {"n_params_active", p.n_params_active},
      {"weight_bytes", p.weight_bytes},
      {"kv_bytes_per_token", p.kv_bytes_per_token},
      {"ttft", {{"ms", p.ttft_ms}, {"prompt_tokens", p.latency_prompt}}},
      {"tpot", {{"mean_ms", p.tpot_ms}, {"p50_ms", p.tpot_p50_ms}, {"p95_ms", p.tpot_p95_ms}}},
      {"latency_1024",
       {{"gen_tokens", p.latency_gen},
        {"prompt_tokens", p.latency_prompt},
        {"runs", p.latency_runs},
        {"p50_ms", p.latency_p50_ms},
        {"p95_ms", p.latency_p95_ms}}},
      {"decode_tokens_per_s", p.decode_tokens_per_s},
      {"throughput", t},
      {"context", ctx},
      {"memory",
       {{"peak_rss_bytes", p.memory.peak_rss},
        {"weights_bytes", p.memory.weights},
        {"kv_bytes", p.memory.kv},
        {"rest_bytes", p.memory.rest},
        {"peak_reset", p.memory.peak_reset}}},
      {"active_experts",
       {{"avg_per_token", p.avg_active_experts},
        {"load", p.expert_load},
        {"imbalance_max_over_mean", p.expert_imbalance}}},
      {"bytes_per_token", {{"file_arithmetic", p.file_bytes_per_token}, {"measured_concurrency_1", bpt_c1}}},
      {"budget", {{"bytes", p.budget_bytes}, {"max_context", p.max_context}, {"max_batch", p.max_batch}}},
      {"long_context_recall", nullptr},
      {"accuracy", nullptr},
  };
}

// Reads fields, remembering the first problem with its JSON path.
class Reader {
 public:
  explicit Reader(std::string where) : where_(std::move(where)) {}
  template <typename T>
  void get(const json& obj, const char* key, T& out, const std::string& path) {
    if (!error_.is_ok()) return;
    if (!obj.is_object() || !obj.contains(key)) {
      error_ = Status::error(where_ + ": " + path + "." + key + " is missing");
      return;
    }
    try {
      out = obj.at(key).get<T>();
    } catch (const std::exception&) {
      error_ = Status::error(where_ + ": " + path + "." + key + " has the wrong type");
    }
  }
  const json& sub(const json& obj, const char* key, const std::string& path) {
    static const json kNull;
    if (!error_.is_ok()) return kNull;
    if (!obj.is_object() || !obj.contains(key) || !(obj.at(key).is_object() || obj.at(key).is_array())) {
      error_ = Status::error(where_ + ": " + path + "." + key + " is missing or not an object/array");
      return kNull;
    }
    return obj.at(key);
  }
  const Status& status() const { return error_; }

 private:
  std::string where_;
  Status error_;
};

ModelProfile profile_from_json(const json& j, Reader& r, const std::string& at) {
  ModelProfile p;
  r.get(j, "label", p.label, at);
  r.get(j, "path", p.path, at);
  r.get(j, "arch", p.arch, at);
  r.get(j, "weight_type", p.weight_type, at);
  r.get(j, "moe", p.moe, at);
  r.get(j, "n_expert", p.n_expert, at);
  r.get(j, "n_expert_used", p.n_expert_used, at);
  r.get(j, "max_active_experts", p.max_active_experts, at);
  r.get(j, "n_ctx_train", p.n_ctx_train, at);
  r.get(j, "n_params_total", p.n_params_total, at);
  r.get(j, "n_params_active", p.n_params_active, at);
  r.get(j, "weight_bytes", p.weight_bytes, at);
  r.get(j, "kv_bytes_per_token", p.kv_bytes_per_token, at);
  r.get(r.sub(j, "ttft", at), "ms", p.ttft_ms, at + ".ttft");
  const json& tpot = r.sub(j, "tpot", at);
  r.get(tpot, "mean_ms", p.tpot_ms, at + ".tpot");
  r.get(tpot, "p50_ms", p.tpot_p50_ms, at + ".tpot");
  r.get(tpot, "p95_ms", p.tpot_p95_ms, at + ".tpot");
  const json& lat = r.sub(j, "latency_1024", at);
  r.get(lat, "gen_tokens", p.latency_gen, at + ".latency_1024");
  r.get(lat, "prompt_tokens", p.latency_prompt, at + ".latency_1024");
  r.get(lat, "runs", p.latency_runs, at + ".latency_1024");
  r.get(lat, "p50_ms", p.latency_p50_ms, at + ".latency_1024");
  r.get(lat, "p95_ms", p.latency_p95_ms, at + ".latency_1024");
  r.get(j, "decode_tokens_per_s", p.decode_tokens_per_s, at);
  const json& thr = r.sub(j, "throughput", at);
  for (size_t i = 0; r.status().is_ok() && thr.is_array() && i < thr.size(); ++i) {
    const std::string here = at + ".throughput[" + std::to_string(i) + "]";
    ConcurrencyPoint c;
    r.get(thr[i], "concurrency", c.concurrency, here);
    r.get(thr[i], "output_tokens_per_s", c.output_tokens_per_s, here);
    r.get(thr[i], "end_to_end_tokens_per_s", c.end_to_end_tokens_per_s, here);
    r.get(thr[i], "step_ms", c.step_ms, here);
    r.get(thr[i], "tpot_ms", c.tpot_ms, here);
    r.get(thr[i], "bytes_per_step", c.bytes_per_step, here);
    r.get(thr[i], "bytes_per_token", c.bytes_per_token, here);
    r.get(thr[i], "distinct_experts_per_layer", c.distinct_experts, here);
    p.throughput.push_back(c);
  }
  const json& ctx = r.sub(j, "context", at);
  for (size_t i = 0; r.status().is_ok() && ctx.is_array() && i < ctx.size(); ++i) {
    const std::string here = at + ".context[" + std::to_string(i) + "]";
    ContextPoint c;
    r.get(ctx[i], "context", c.context, here);
    r.get(ctx[i], "ttft_ms", c.ttft_ms, here);
    r.get(ctx[i], "tpot_ms", c.tpot_ms, here);
    p.context.push_back(c);
  }
  const json& mem = r.sub(j, "memory", at);
  r.get(mem, "peak_rss_bytes", p.memory.peak_rss, at + ".memory");
  r.get(mem, "weights_bytes", p.memory.weights, at + ".memory");
  r.get(mem, "kv_bytes", p.memory.kv, at + ".memory");
  r.get(mem, "rest_bytes", p.memory.rest, at + ".memory");
  r.get(mem, "peak_reset", p.memory.peak_reset, at + ".memory");
  const json& ae = r.sub(j, "active_experts", at);
  r.get(ae, "avg_per_token", p.avg_active_experts, at + ".active_experts");
  r.get(ae, "load", p.expert_load, at + ".active_experts");
  r.get(ae, "imbalance_max_over_mean", p.expert_imbalance, at + ".active_experts");
  r.get(r.sub(j, "bytes_per_token", at), "file_arithmetic", p.file_bytes_per_token, at + ".bytes_per_token");
  const json& b = r.sub(j, "budget", at);
  r.get(b, "bytes", p.budget_bytes, at + ".budget");
  r.get(b, "max_context", p.max_context, at + ".budget");
  r.get(b, "max_batch", p.max_batch, at + ".budget");
  return p;
}

}  // namespace

json report_to_json(const CompareReport& r) {
  json profiles = json::array();
  for (const ModelProfile& p : r.profiles) profiles.push_back(profile_to_json(p));
  const CompareOptions& o = r.options;
  return {
      {"moelab_report", 1},
      {"machine",
       {{"bandwidth_gbs", r.machine.bandwidth_gbs},
        {"threads", r.machine.threads},
        {"memory_bytes", r.machine.memory_bytes}}},
      {"options",
       {{"concurrency", o.concurrency},
        {"gen", o.gen},
        {"prompt_len", o.prompt_len},
        {"repeats", o.repeats},
        {"concurrency_gen", o.concurrency_gen},
        {"concurrency_prompt_len", o.concurrency_prompt_len},
        {"contexts", o.contexts},
        {"context_gen", o.context_gen},
        {"max_active_experts", o.max_active_experts},
        {"memory_budget_bytes", o.memory_budget},
        {"kv_type", kv_type_name(o.kv_type)},
        {"seed", o.seed}}},
      {"profiles", profiles},
      {"not_measured", {"long_context_recall", "accuracy"}},
  };
}

Result<CompareReport> report_from_json(const json& j, const std::string& where) {
  CompareReport out;
  Reader r(where);
  if (!j.is_object() || !j.contains("moelab_report"))
    return Status::error(where + ": not a moelab compare report (no \"moelab_report\" field)");
  const json& m = r.sub(j, "machine", "$");
  r.get(m, "bandwidth_gbs", out.machine.bandwidth_gbs, "$.machine");
  r.get(m, "threads", out.machine.threads, "$.machine");
  r.get(m, "memory_bytes", out.machine.memory_bytes, "$.machine");
  const json& o = r.sub(j, "options", "$");
  r.get(o, "concurrency", out.options.concurrency, "$.options");
  r.get(o, "gen", out.options.gen, "$.options");
  r.get(o, "prompt_len", out.options.prompt_len, "$.options");
  r.get(o, "memory_budget_bytes", out.options.memory_budget, "$.options");
  // Reports from before the KV type was recorded used an f32 cache.
  if (o.is_object() && o.contains("kv_type")) {
    const auto type = o["kv_type"].is_string() ? parse_kv_type(o["kv_type"].get<std::string>())
                                               : Result<DType>(Status::error("not a string"));
    if (!type.is_ok())
      return Status::error(where + ": $.options.kv_type: " + type.status().message());
    out.options.kv_type = *type;
  }
  const json& ps = r.sub(j, "profiles", "$");
  if (r.status().is_ok() && !ps.is_array()) return Status::error(where + ": $.profiles is not an array");
  for (size_t i = 0; r.status().is_ok() && i < ps.size(); ++i)
    out.profiles.push_back(profile_from_json(ps[i], r, "$.profiles[" + std::to_string(i) + "]"));
  if (!r.status().is_ok()) return r.status();
  return out;
}

}  // namespace moelab

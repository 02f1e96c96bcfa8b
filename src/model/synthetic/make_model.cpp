#include "model/synthetic/make_model.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "base/check.h"
#include "formats/gguf.h"
#include "kernels/quant.h"
#include "model/synthetic/bpe_vocab.h"
#include "model/synthetic/presets.h"
#include "model/synthetic/rng.h"

namespace moelab {
namespace {

using synthetic::PresetSpec;
using synthetic::TensorInit;
using synthetic::TensorSpec;

// llama.cpp's llama_ftype for a file whose weights are all `type` (K-quants
// map to their _S mix, the closest single-type entry).
std::optional<uint32_t> file_type_for(DType type) {
  switch (type) {
    case DType::kF32:
      return 0;
    case DType::kF16:
      return 1;
    case DType::kQ4_0:
      return 2;
    case DType::kQ4_1:
      return 3;
    case DType::kQ8_0:
      return 7;
    case DType::kQ5_0:
      return 8;
    case DType::kQ5_1:
      return 9;
    case DType::kQ2_K:
      return 10;
    case DType::kQ3_K:
      return 11;
    case DType::kQ4_K:
      return 14;
    case DType::kQ5_K:
      return 16;
    case DType::kQ6_K:
      return 18;
    case DType::kBF16:
      return 32;
    default:
      return std::nullopt;
  }
}

// The type a weight of row length ne0 gets: llama-quantize's fallback when
// the row is not a whole number of blocks (IQ4_NL, its choice for Q2_K and
// Q3_K, is not a moelab type, so those take Q4_0 with the same block).
DType storage_type(DType requested, int64_t ne0) {
  auto fits = [ne0](DType type) { return ne0 % dtype_info(type).block_elems == 0; };
  if (fits(requested)) return requested;
  DType fallback = DType::kF16;
  switch (requested) {
    case DType::kQ2_K:
    case DType::kQ3_K:
      fallback = DType::kQ4_0;
      break;
    case DType::kQ4_K:
      fallback = DType::kQ5_0;
      break;
    case DType::kQ5_K:
      fallback = DType::kQ5_1;
      break;
    case DType::kQ6_K:
      fallback = DType::kQ8_0;
      break;
    default:
      break;
  }
  return fits(fallback) ? fallback : DType::kF16;
}

void write_metadata(const PresetSpec& s, uint32_t file_type, GgufWriter& w) {
  const std::string a = s.arch + ".";
  auto u32 = [&](const std::string& key, int64_t v) {
    w.set(a + key, GgufValue::u32(static_cast<uint32_t>(v)));
  };
  auto f32 = [&](const std::string& key, double v) {
    w.set(a + key, GgufValue::f32(static_cast<float>(v)));
  };
  const synthetic::SyntheticVocab vocab = synthetic::synthetic_vocab(s.n_vocab);

  // The converter's order: architecture, tokenizer, then hyper-parameters.
  w.set("general.architecture", GgufValue::string(s.arch));
  w.set("tokenizer.ggml.model", GgufValue::string("gpt2"));
  w.set("tokenizer.ggml.pre", GgufValue::string("deepseek-v3"));
  w.set("tokenizer.ggml.tokens", GgufValue::string_array(vocab.tokens));
  w.set("tokenizer.ggml.token_type", GgufValue::i32_array(vocab.token_types));
  w.set("tokenizer.ggml.merges", GgufValue::string_array(vocab.merges));
  w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(vocab.bos_id));
  w.set("tokenizer.ggml.eos_token_id", GgufValue::u32(vocab.eos_id));
  w.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(false));
  w.set("general.name", GgufValue::string("synthetic-" + s.name));
  u32("context_length", s.n_ctx);
  u32("embedding_length", s.n_embd);
  u32("block_count", s.n_layer);
  u32("feed_forward_length", s.n_ff);
  u32("attention.head_count", s.n_head);
  f32("rope.freq_base", s.rope_base);
  f32("attention.layer_norm_rms_epsilon", s.rms_eps);
  w.set("general.file_type", GgufValue::u32(file_type));
  w.set("general.quantization_version", GgufValue::u32(2));
  u32("vocab_size", s.n_vocab);
  u32("attention.head_count_kv", s.n_head_kv);

  if (s.arch == "deepseek2") {
    if (s.n_expert > 0) {
      u32("expert_count", s.n_expert);
      u32("expert_used_count", s.n_expert_used);
    }
    if (s.n_group > 0) {
      u32("expert_group_count", s.n_group);
      u32("expert_group_used_count", s.n_group_used);
    }
    u32("expert_gating_func", s.gating_func);
    u32("leading_dense_block_count", s.n_dense_lead);
    if (s.q_lora > 0) u32("attention.q_lora_rank", s.q_lora);
    u32("attention.kv_lora_rank", s.kv_lora);
    if (s.legacy_kv_b) {
      // Older converters: MHA head sizes, no *_mla keys.
      u32("attention.key_length", s.nope_dim + s.rope_dim);
      u32("attention.value_length", s.v_dim);
    } else {
      // MLA: the cache holds the latent (kv_lora) plus the rope part.
      u32("attention.key_length", s.kv_lora + s.rope_dim);
      u32("attention.value_length", s.kv_lora);
      u32("attention.key_length_mla", s.nope_dim + s.rope_dim);
      u32("attention.value_length_mla", s.v_dim);
    }
    u32("expert_feed_forward_length", s.n_ff_exp);
    u32("expert_shared_count", s.n_expert_shared);
    f32("expert_weights_scale", s.weights_scale);
    w.set(a + "expert_weights_norm", GgufValue::boolean(s.weights_norm));
    u32("rope.dimension_count", s.rope_dim);
  } else {
    if (s.head_dim > 0) {
      u32("attention.key_length", s.head_dim);
      u32("attention.value_length", s.head_dim);
    }
    u32("rope.dimension_count", s.head_dim_or_default());
    if (s.n_expert > 0) {
      u32("expert_count", s.n_expert);
      u32("expert_used_count", s.n_expert_used);
    }
    if (s.n_ff_exp > 0) u32("expert_feed_forward_length", s.n_ff_exp);
    if (s.n_ff_shexp > 0) u32("expert_shared_feed_forward_length", s.n_ff_shexp);
  }
  if (s.yarn_factor > 0) {
    w.set(a + "rope.scaling.type", GgufValue::string("yarn"));
    f32("rope.scaling.factor", s.yarn_factor);
    u32("rope.scaling.original_context_length", s.yarn_orig_ctx);
    f32("rope.scaling.yarn_beta_fast", s.yarn_beta_fast);
    f32("rope.scaling.yarn_beta_slow", s.yarn_beta_slow);
    f32("rope.scaling.yarn_log_multiplier", s.yarn_log_multiplier);
  }
}

// Generates the tensor's values row by row and stores each row as `type`, so
// only one row of floats is ever held.
void fill_tensor(const PresetSpec& spec, const TensorSpec& t, DType type, uint64_t seed,
                 uint8_t* dst) {
  const int64_t row_len = t.ne[0];
  int64_t n_rows = 1;
  for (size_t d = 1; d < t.ne.size(); ++d) n_rows *= t.ne[d];
  const int64_t row_bytes = dtype_row_bytes(type, row_len);

  std::vector<float> row(row_len);
  if (t.init == TensorInit::kRopeFreqs) {
    row = synthetic::llama3_rope_divisors(spec);
    MOELAB_CHECK(static_cast<int64_t>(row.size()) == row_len && n_rows == 1);
    std::memcpy(dst, row.data(), row_bytes);
    return;
  }
  double mean = 0.0;
  double stddev = 0.0;
  switch (t.init) {
    case TensorInit::kMatrix:
      stddev = 1.0 / std::sqrt(static_cast<double>(row_len));
      break;
    case TensorInit::kNorm:
      mean = 1.0;
      stddev = 0.1;
      break;
    case TensorInit::kBias:
      stddev = 0.1;
      break;
    case TensorInit::kProbsBias:
      stddev = 0.05;
      break;
    case TensorInit::kRopeFreqs:
      break;
  }
  synthetic::SplitMix64 rng = synthetic::tensor_rng(seed, t.name);
  for (int64_t r = 0; r < n_rows; ++r) {
    for (float& v : row) v = static_cast<float>(mean + stddev * rng.normal());
    uint8_t* out = dst + r * row_bytes;
    if (type == DType::kF32) {
      std::memcpy(out, row.data(), row_bytes);
    } else {
      quantize_row(type, row.data(), out, row_len);
    }
  }
}

std::string preset_names() {
  std::string names;
  for (const auto& p : synthetic::preset_specs()) names += (names.empty() ? "" : ", ") + p.name;
  return names;
}

}  // namespace

std::vector<PresetInfo> model_presets() {
  std::vector<PresetInfo> out;
  for (const auto& p : synthetic::preset_specs()) out.push_back({p.name, p.description});
  return out;
}

Status make_model(const MakeModelOptions& opts) {
  const PresetSpec* spec = synthetic::find_preset(opts.preset);
  if (spec == nullptr) {
    return Status::error("unknown model preset '" + opts.preset +
                         "'; valid presets: " + preset_names());
  }
  const DType weight_type = opts.weight_type.value_or(DType::kF32);
  const std::optional<uint32_t> file_type = file_type_for(weight_type);
  if (!file_type) {
    return Status::error("make-model: cannot write weights as '" +
                         std::string(dtype_info(weight_type).name) +
                         "'; choose f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_K, q3_K, "
                         "q4_K, q5_K or q6_K");
  }

  GgufWriter writer;
  write_metadata(*spec, *file_type, writer);

  const std::vector<TensorSpec> tensors = synthetic::preset_tensors(*spec);
  struct Planned {
    DType type;
    size_t n_bytes;
  };
  std::vector<Planned> plan;
  uint64_t bytes_total = 0;
  for (const TensorSpec& t : tensors) {
    const DType type = t.quantizable ? storage_type(weight_type, t.ne[0]) : DType::kF32;
    int64_t n_rows = 1;
    for (size_t d = 1; d < t.ne.size(); ++d) n_rows *= t.ne[d];
    plan.push_back({type, static_cast<size_t>(dtype_row_bytes(type, t.ne[0]) * n_rows)});
    bytes_total += plan.back().n_bytes;
  }

  // The writer calls the fills in order, one at a time, while it writes.
  auto progress = std::make_shared<MakeModelProgress>();
  progress->tensors_total = static_cast<int64_t>(tensors.size());
  progress->bytes_total = bytes_total;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorSpec& t = tensors[i];
    const Planned p = plan[i];
    MOELAB_TRY(writer.add_tensor_lazy(
        t.name, p.type, t.ne, p.n_bytes,
        [spec, t, p, seed = opts.seed, progress, callback = opts.progress](uint8_t* dst) {
          fill_tensor(*spec, t, p.type, seed, dst);
          progress->tensor_name = t.name;
          progress->tensors_done += 1;
          progress->bytes_done += p.n_bytes;
          if (callback) callback(*progress);
          return Status::ok();
        }));
  }
  return writer.write(opts.output_path)
      .with_context("make-model " + spec->name + " -> '" + opts.output_path + "'");
}

}  // namespace moelab

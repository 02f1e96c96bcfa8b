// The tensor-type rules follow llama.cpp's llama_tensor_get_type and
// llama_model_quantize_impl (llama-quant.cpp) for the file types we write;
// the IQ* branches and the Falcon/70B special cases are left out because we
// write neither those types nor those architectures.
#include "model/quantize.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <vector>

#include "formats/gguf.h"
#include "kernels/quant.h"

namespace moelab {
namespace {

// llama.cpp's llama_ftype numbers.
constexpr int32_t kFtypeF16 = 1, kFtypeQ4_0 = 2, kFtypeQ8_0 = 7, kFtypeQ4_K_S = 14,
                  kFtypeQ4_K_M = 15, kFtypeQ5_K_S = 16, kFtypeQ5_K_M = 17, kFtypeQ6_K = 18,
                  kFtypeBF16 = 32;
// GGML_QNT_VERSION, which llama-quantize writes as general.quantization_version.
constexpr uint32_t kQuantizationVersion = 2;

const std::vector<QuantizeTarget>& targets() {
  static const std::vector<QuantizeTarget> t = {
      {"F16", DType::kF16, kFtypeF16, false},       {"BF16", DType::kBF16, kFtypeBF16, false},
      {"Q8_0", DType::kQ8_0, kFtypeQ8_0, true},     {"Q4_0", DType::kQ4_0, kFtypeQ4_0, true},
      {"Q4_K", DType::kQ4_K, kFtypeQ4_K_S, false},  {"Q5_K", DType::kQ5_K, kFtypeQ5_K_S, false},
      {"Q6_K", DType::kQ6_K, kFtypeQ6_K, true},     {"Q4_K_M", DType::kQ4_K, kFtypeQ4_K_M, true},
      {"Q5_K_M", DType::kQ5_K, kFtypeQ5_K_M, true},
  };
  return t;
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// llama.cpp's use_more_bits: the first and last eighth of the layers and
// every third layer in between get more bits in the _M mixes.
bool use_more_bits(int i_layer, int n_layer) {
  return i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 || (i_layer - n_layer / 8) % 3 == 2;
}

// The fallback chain for rows that are not whole blocks of `type`.
DType fallback_type(DType type, int64_t n_cols) {
  if (n_cols % dtype_info(type).block_elems == 0) return type;
  DType f = DType::kF16;
  switch (type) {
    case DType::kQ2_K:
    case DType::kQ3_K:
      f = DType::kQ4_0;  // llama.cpp picks IQ4_NL, which we do not write
      break;
    case DType::kQ4_K:
      f = DType::kQ5_0;
      break;
    case DType::kQ5_K:
      f = DType::kQ5_1;
      break;
    case DType::kQ6_K:
      f = DType::kQ8_0;
      break;
    default:
      break;
  }
  return n_cols % dtype_info(f).block_elems == 0 ? f : DType::kF16;
}

// Whether llama_model_quantize_impl quantizes the tensor at all.
bool is_quantizable(const std::string& name, int n_dims) {
  if (!ends_with(name, "weight") || n_dims < 2) return false;
  if (contains(name, "_norm.weight")) return false;
  if (contains(name, "ffn_gate_inp.weight")) return false;  // the router
  if (name == "position_embd.weight" || name == "token_types.weight") return false;
  return true;
}

// The block number in "blk.N.", or -1.
int layer_of(const std::string& name) {
  int layer = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &layer) != 1) return -1;
  return layer;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<QuantizeTarget> find_quantize_target(std::string_view name) {
  const std::string u = upper(name);
  for (const QuantizeTarget& t : targets()) {
    if (t.name == u) return t;
  }
  return std::nullopt;
}

std::vector<std::string> quantize_target_names() {
  std::vector<std::string> names;
  for (const QuantizeTarget& t : targets()) names.push_back(t.name);
  return names;
}

DType quantize_tensor_type(const QuantizeTarget& target, const QuantizeModelInfo& info,
                           const std::string& name, int n_dims, const int64_t* ne, DType current,
                           int32_t& i_attention_wv, int32_t& i_ffn_down) {
  if (!is_quantizable(name, n_dims)) return current;
  DType t = target.base_type;
  if (!target.mix) return fallback_type(t, ne[0]);  // F16/BF16 and the pure K types

  const int32_t ftype = target.llama_ftype;
  const bool is_m = ftype == kFtypeQ4_K_M || ftype == kFtypeQ5_K_M;
  if (name == "output.weight" || (!info.has_output && name == "token_embd.weight")) {
    // The output projection: Q6_K, or Q8_0 when rows are not whole K blocks
    // (or the target is Q8_0 already).
    const int64_t qk = dtype_info(t).block_elems;
    if (ne[0] % qk != 0) {
      t = DType::kQ8_0;
    } else if (t != DType::kQ8_0) {
      t = DType::kQ6_K;
    }
  } else if (name == "token_embd.weight") {
    // llama.cpp changes token_embd only for IQ/TQ file types.
  } else if (contains(name, "attn_v.weight")) {
    if (is_m && use_more_bits(i_attention_wv, info.n_attention_wv)) t = DType::kQ6_K;
    if (info.n_expert == 8) t = DType::kQ8_0;
    ++i_attention_wv;
  } else if (contains(name, "attn_k.weight")) {
    if (info.n_expert == 8) t = DType::kQ8_0;
  } else if (contains(name, "ffn_down")) {
    // MoE models: the layer from the name (experts are not in layer order
    // in every file); dense: the running counter.
    const int i_layer = info.n_expert > 1 ? std::max(0, layer_of(name)) : i_ffn_down;
    if (is_m && use_more_bits(i_layer, info.n_layer)) t = DType::kQ6_K;
    ++i_ffn_down;
  } else if (contains(name, "attn_output.weight")) {
    if (info.n_expert == 8 && ftype == kFtypeQ4_K_M) t = DType::kQ5_K;
  } else if (contains(name, "attn_qkv.weight")) {
    if (ftype == kFtypeQ4_K_M) t = DType::kQ5_K;
    if (ftype == kFtypeQ5_K_M) t = DType::kQ6_K;
  }
  return fallback_type(t, ne[0]);
}

Status quantize_model(const QuantizeOptions& options, ThreadPool& pool) {
  MOELAB_ASSIGN_OR_RETURN(GgufFile in, GgufFile::open(options.input_path));
  MOELAB_ASSIGN_OR_RETURN(std::string arch, in.get_string("general.architecture"));
  QuantizeModelInfo info;
  MOELAB_ASSIGN_OR_RETURN(int64_t n_layer, in.get_int(arch + ".block_count"));
  MOELAB_ASSIGN_OR_RETURN(int64_t n_expert, in.get_int_or(arch + ".expert_count", 0));
  info.n_layer = static_cast<int32_t>(n_layer);
  info.n_expert = static_cast<int32_t>(n_expert);
  for (const GgufTensorInfo& t : in.tensors()) {
    if (contains(t.name, "attn_v.weight") || contains(t.name, "attn_qkv.weight") ||
        contains(t.name, "attn_kv_b.weight")) {
      ++info.n_attention_wv;
    }
    if (t.name == "output.weight") info.has_output = true;
  }

  GgufWriter out;
  out.copy_metadata(in);
  out.set("general.file_type", GgufValue::u32(static_cast<uint32_t>(options.target.llama_ftype)));
  out.set("general.quantization_version", GgufValue::u32(kQuantizationVersion));

  int32_t i_attention_wv = 0, i_ffn_down = 0;
  std::vector<DType> types;
  uint64_t bytes_total = 0;
  for (const GgufTensorInfo& t : in.tensors()) {
    const DType type = quantize_tensor_type(options.target, info, t.name, t.n_dims, t.ne.data(),
                                            t.type, i_attention_wv, i_ffn_down);
    if (type != t.type && !dtype_info(t.type).computable) {
      return Status::error(options.input_path + ": tensor '" + t.name + "' has type " +
                           std::string(dtype_info(t.type).name) + ", which cannot be converted");
    }
    types.push_back(type);
    bytes_total += dtype_row_bytes(type, t.ne[0]) * (t.ne[1] * t.ne[2] * t.ne[3]);
  }

  // Tensors are converted while the file is written (one at a time, rows
  // split over the pool), so peak memory is one output tensor.
  uint64_t bytes_done = 0;
  for (size_t k = 0; k < in.tensors().size(); ++k) {
    const GgufTensorInfo& t = in.tensors()[k];
    const DType type = types[k];
    const int64_t n_cols = t.ne[0];
    const int64_t n_rows = t.ne[1] * t.ne[2] * t.ne[3];
    const size_t n_bytes = dtype_row_bytes(type, n_cols) * n_rows;
    const std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
    auto fill = [&, k, type, n_cols, n_rows, n_bytes](uint8_t* dst) -> Status {
      const GgufTensorInfo& ti = in.tensors()[k];
      const TensorView src = in.view(ti);
      if (type == ti.type) {
        std::memcpy(dst, src.data, n_bytes);
      } else {
        const int64_t in_row = src.row_bytes();
        const int64_t out_row = dtype_row_bytes(type, n_cols);
        pool.parallel_for(n_rows, [&](int64_t r0, int64_t r1, int) {
          thread_local std::vector<float> row;
          row.resize(n_cols);
          for (int64_t r = r0; r < r1; ++r) {
            dequantize_row(ti.type, src.data + r * in_row, row.data(), n_cols);
            quantize_row(type, row.data(), dst + r * out_row, n_cols);
          }
        });
      }
      bytes_done += n_bytes;
      if (options.progress) {
        options.progress({ti.name, type, static_cast<int64_t>(k) + 1,
                          static_cast<int64_t>(types.size()), bytes_done, bytes_total});
      }
      return Status::ok();
    };
    MOELAB_TRY(out.add_tensor_lazy(t.name, type, ne, n_bytes, fill));
  }
  return out.write(options.output_path);
}

}  // namespace moelab

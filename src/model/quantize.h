// Quantizing a whole model file, as llama-quantize does: every 2-D/3-D weight
// except norms and the MoE router is converted to the target type, with
// llama.cpp's per-tensor choices (llama_tensor_get_type in llama-quant.cpp)
// for the mixes, and general.file_type set to llama.cpp's ftype number, so
// the files we write load in llama.cpp and look like its own.
//
// Thread-safety: quantize_model may run concurrently for different outputs.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "tensor/dtype.h"

namespace moelab {

// The target of a quantization: a llama.cpp file type.
//   F16, BF16, Q8_0, Q4_0: every quantizable tensor in that type, except that
//     the quantized ones give output.weight Q6_K (Q8_0 keeps Q8_0).
//   Q6_K: like llama.cpp's Q6_K (output.weight Q6_K too).
//   Q4_K_M, Q5_K_M: llama.cpp's mixes (attn_v / ffn_down of some layers Q6_K,
//     output.weight Q6_K).
//   Q4_K, Q5_K: every quantizable tensor in that type, no mix (llama-quantize
//     --pure), written with the _S file type numbers (14, 16).
// Rows whose length is not a multiple of the type's block fall back as
// llama.cpp does (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, then F16).
struct QuantizeTarget {
  std::string name;     // "Q4_K_M"
  DType base_type;      // the type most tensors get
  int32_t llama_ftype;  // general.file_type
  bool mix = false;     // apply llama_tensor_get_type's rules
};

// The targets by name (case-insensitive); nullopt for an unknown one.
std::optional<QuantizeTarget> find_quantize_target(std::string_view name);
// Every target name, for help and error messages.
std::vector<std::string> quantize_target_names();

// What the tensor-type rules need to know about the model.
struct QuantizeModelInfo {
  int32_t n_layer = 0;
  int32_t n_expert = 0;        // 0 or 1: dense
  int32_t n_attention_wv = 0;  // tensors named *attn_v.weight, *attn_qkv.weight, *attn_kv_b.weight
  bool has_output = false;     // output.weight exists (else token_embd is the output)
};

// The type llama.cpp gives one tensor. `i_attention_wv` / `i_ffn_down` are the
// running counters llama.cpp keeps (tensors of that kind seen before, in file
// order); the function advances them as llama.cpp does. Returns `current`
// when the tensor is not quantized (1-D, norms, router, ...).
DType quantize_tensor_type(const QuantizeTarget& target, const QuantizeModelInfo& info,
                           const std::string& name, int n_dims, const int64_t* ne, DType current,
                           int32_t& i_attention_wv, int32_t& i_ffn_down);

struct QuantizeProgress {
  std::string tensor_name;
  DType type = DType::kF32;
  int64_t tensors_done = 0, tensors_total = 0;
  uint64_t bytes_done = 0, bytes_total = 0;  // output bytes
};

struct QuantizeOptions {
  std::string input_path;
  std::string output_path;
  QuantizeTarget target;
  // Called after each tensor is written, on the calling thread.
  std::function<void(const QuantizeProgress&)> progress;
};

// Reads input_path (any computable types; already-quantized tensors are
// dequantized first), writes output_path. Errors name the file and tensor.
Status quantize_model(const QuantizeOptions& options, ThreadPool& pool);

}  // namespace moelab

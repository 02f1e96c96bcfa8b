// Element types of tensors, numbered exactly as ggml numbers them in GGUF files,
// with their block geometry. A quantized type stores `block_elems` values in
// `block_bytes` bytes; a row's length must be a multiple of block_elems.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace moelab {

enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

struct DTypeInfo {
  DType type;
  std::string_view name;  // as llama.cpp prints it: "f32", "q4_K", ...
  int64_t block_elems;
  int64_t block_bytes;
  bool quantized;
  // True where moelab's kernels can multiply by weights of this type.
  bool computable;
};

// The info for a raw type id read from a file, or nullopt for an id we do not know.
std::optional<DTypeInfo> dtype_info_for_id(uint32_t id);
// The info for a known type (never fails).
const DTypeInfo& dtype_info(DType type);
// Looks a type up by name, case-insensitive ("q8_0", "Q4_K", "bf16").
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes taken by `n_elems` consecutive values (n_elems a multiple of the block).
inline int64_t dtype_row_bytes(DType type, int64_t n_elems) {
  const DTypeInfo& info = dtype_info(type);
  return n_elems / info.block_elems * info.block_bytes;
}

}  // namespace moelab

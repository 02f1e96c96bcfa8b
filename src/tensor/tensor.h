// A non-owning view of a tensor's bytes: type, shape and data. Shapes follow
// ggml's order: ne[0] is the fastest-varying (contiguous) dimension, so a
// PyTorch weight [out, in] is a view with ne = {in, out}. Rows (ne[0] values)
// are stored back to back; views never own memory.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "tensor/dtype.h"

namespace moelab {

struct TensorView {
  std::string name;
  DType type = DType::kF32;
  int n_dims = 0;
  std::array<int64_t, 4> ne = {1, 1, 1, 1};
  const uint8_t* data = nullptr;

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t row_bytes() const { return dtype_row_bytes(type, ne[0]); }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  int64_t n_bytes() const { return row_bytes() * n_rows(); }
  const uint8_t* row(int64_t i) const { return data + i * row_bytes(); }

  // The 2-D matrix at index i of dimension 2 (one expert of a stacked
  // [n_expert, out, in] weight): ne = {ne[0], ne[1]}.
  TensorView matrix(int64_t i) const {
    TensorView v = *this;
    v.n_dims = 2;
    v.ne = {ne[0], ne[1], 1, 1};
    v.data = data + i * ne[1] * row_bytes();
    return v;
  }

  std::string shape_string() const;
};

}  // namespace moelab

// Checks our converters against weights llama.cpp quantized (the oracle GGUF
// files): Q8_0 rows re-quantized from their own dequantized values must give
// back llama.cpp's bytes exactly (the Q8_0 scale is recovered exactly from a
// row on its grid), and so must Q4_K rows (which also exercises the
// make_qkx2_quants search); Q6_K rows must come back to the same values. The kernels layer has no
// GGUF reader, so this test walks the file's header itself (test-only code).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "kernels/quant.h"

namespace moelab {
namespace {

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t type;
  uint64_t offset;
};

// A minimal GGUF v3 walker: enough to find tensor data in trusted test files.
class MiniGguf {
 public:
  explicit MiniGguf(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    bytes_.assign(std::istreambuf_iterator<char>(in), {});
    if (bytes_.size() < 24 || std::memcmp(bytes_.data(), "GGUF", 4) != 0) return;
    pos_ = 8;
    const uint64_t n_tensors = u64(), n_kv = u64();
    uint64_t alignment = 32;
    for (uint64_t i = 0; i < n_kv; ++i) {
      const std::string key = str();
      const uint32_t type = u32();
      if (key == "general.alignment" && type == 4) {
        alignment = u32();
      } else {
        skip_value(type);
      }
    }
    for (uint64_t i = 0; i < n_tensors; ++i) {
      TensorInfo t;
      t.name = str();
      const uint32_t n_dims = u32();
      for (uint32_t d = 0; d < n_dims; ++d) t.ne.push_back(u64());
      t.type = u32();
      t.offset = u64();
      tensors_.push_back(t);
    }
    data_start_ = (pos_ + alignment - 1) / alignment * alignment;
    ok_ = pos_ <= bytes_.size();
  }
  bool ok() const { return ok_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const uint8_t* data(const TensorInfo& t) const {
    return reinterpret_cast<const uint8_t*>(bytes_.data()) + data_start_ + t.offset;
  }
  size_t size() const { return bytes_.size(); }
  uint64_t data_start() const { return data_start_; }

 private:
  template <typename T>
  T read() {
    T v{};
    if (pos_ + sizeof(T) <= bytes_.size()) std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  uint32_t u32() { return read<uint32_t>(); }
  uint64_t u64() { return read<uint64_t>(); }
  std::string str() {
    const uint64_t n = u64();
    std::string s = pos_ + n <= bytes_.size() ? bytes_.substr(pos_, n) : "";
    pos_ += n;
    return s;
  }
  void skip_value(uint32_t type) {
    static const int kSizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) {
      str();
    } else if (type == 9) {
      const uint32_t elem = u32();
      const uint64_t n = u64();
      for (uint64_t i = 0; i < n && pos_ <= bytes_.size(); ++i) skip_value(elem);
    } else if (type < 13) {
      pos_ += kSizes[type];
    } else {
      pos_ = bytes_.size() + 1;  // unknown type: give up
    }
  }

  std::string bytes_;
  size_t pos_ = 0;
  uint64_t data_start_ = 0;
  bool ok_ = false;
  std::vector<TensorInfo> tensors_;
};

std::string oracle(const char* name) {
  return std::string(MOELAB_TEST_DATA_DIR) + "/oracle/" + name;
}

TEST(OracleWeights, Q8_0RowsRequantizeToLlamaCppBytes) {
  MiniGguf f(oracle("llama-dense-q8_0.gguf"));
  ASSERT_TRUE(f.ok());
  int checked = 0;
  for (const TensorInfo& t : f.tensors()) {
    if (t.type != static_cast<uint32_t>(DType::kQ8_0)) continue;
    const int64_t n_in = t.ne[0];
    int64_t n_rows = 1;
    for (size_t d = 1; d < t.ne.size(); ++d) n_rows *= t.ne[d];
    const int64_t row_bytes = dtype_row_bytes(DType::kQ8_0, n_in);
    ASSERT_LE(f.data_start() + t.offset + row_bytes * n_rows, f.size()) << t.name;
    std::vector<float> row(n_in);
    std::vector<uint8_t> again(row_bytes);
    for (int64_t r = 0; r < n_rows; ++r) {
      const uint8_t* src = f.data(t) + r * row_bytes;
      dequantize_row(DType::kQ8_0, src, row.data(), n_in);
      quantize_row(DType::kQ8_0, row.data(), again.data(), n_in);
      ASSERT_EQ(std::memcmp(src, again.data(), row_bytes), 0) << t.name << " row " << r;
    }
    ++checked;
  }
  EXPECT_GT(checked, 5);
}

TEST(OracleWeights, KQuantRowsRequantizeToLlamaCppGrid) {
  MiniGguf f(oracle("llama-dense-q4_k.gguf"));
  ASSERT_TRUE(f.ok());
  int checked_q4 = 0, checked_q6 = 0;
  for (const TensorInfo& t : f.tensors()) {
    const DType type = static_cast<DType>(t.type);
    if (type != DType::kQ4_K && type != DType::kQ6_K) continue;
    const int64_t n_in = t.ne[0];
    int64_t n_rows = 1;
    for (size_t d = 1; d < t.ne.size(); ++d) n_rows *= t.ne[d];
    const int64_t row_bytes = dtype_row_bytes(type, n_in);
    ASSERT_LE(f.data_start() + t.offset + row_bytes * n_rows, f.size()) << t.name;
    std::vector<float> row(n_in), back(n_in);
    std::vector<uint8_t> again(row_bytes);
    double err = 0, ref = 0;
    int64_t identical_rows = 0;
    for (int64_t r = 0; r < n_rows; ++r) {
      const uint8_t* src = f.data(t) + r * row_bytes;
      dequantize_row(type, src, row.data(), n_in);
      for (float v : row) ASSERT_TRUE(std::isfinite(v)) << t.name;
      quantize_row(type, row.data(), again.data(), n_in);
      identical_rows += std::memcmp(src, again.data(), row_bytes) == 0;
      dequantize_row(type, again.data(), back.data(), n_in);
      for (int64_t j = 0; j < n_in; ++j) {
        err += (back[j] - row[j]) * static_cast<double>(back[j] - row[j]);
        ref += row[j] * static_cast<double>(row[j]);
      }
    }
    ASSERT_GT(ref, 0.0) << t.name;
    EXPECT_LT(std::sqrt(err / ref), 1e-6) << t.name;
    // Q4_K rows come back as llama.cpp's exact bytes. Q6_K values come back
    // exactly, but re-quantizing grid values (not the original floats) may
    // legitimately pick another (d, scales) pair for the same values.
    if (type == DType::kQ4_K) {
      EXPECT_EQ(identical_rows, n_rows) << t.name;
    }
    (type == DType::kQ4_K ? checked_q4 : checked_q6)++;
  }
  EXPECT_GT(checked_q4, 0);
  EXPECT_GT(checked_q6, 0);
}

}  // namespace
}  // namespace moelab

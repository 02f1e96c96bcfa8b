// GGUF v2/v3: the model file format of llama.cpp. GgufFile reads one file,
// checking every count, length, offset and size before use, and maps the
// tensor data so weights are used in place. GgufWriter writes one.
//
// Errors from a bad file read "PATH: at byte offset N: what (key 'k' or
// tensor 't')". Rejected: v1 and big-endian files, unknown value or tensor
// types, arrays nested deeper than 16 levels, more than 2^26 array items in
// one file, n_dims outside 1..4, non-positive dims, sizes overflowing int64,
// rows that are not whole blocks, offsets not aligned to general.alignment
// (a u32 power of two), tensor data past the end or overlapping, and
// duplicate keys or tensor names.
//
// Ownership: a GgufFile shares its MappedFile (copies share the map); views
// and tensor data pointers stay valid while any copy is alive.
// Thread-safety: a GgufFile is immutable after open() and safe to share.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/mapped_file.h"
#include "base/status.h"
#include "tensor/tensor.h"

namespace moelab {

// Value types as numbered in the GGUF specification.
enum class GgufType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
const char* gguf_type_name(GgufType type);

struct GgufValue;
struct GgufArray {
  GgufType element_type = GgufType::kU8;
  std::vector<GgufValue> items;  // arrays may nest
};

// One metadata value. Integers of every width are held in `i` or `u` as read;
// the accessors below convert between them where the value fits.
struct GgufValue {
  GgufType type = GgufType::kU8;
  std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<GgufArray>> v;

  static GgufValue u32(uint32_t x) { return {GgufType::kU32, uint64_t{x}}; }
  static GgufValue i32(int32_t x) { return {GgufType::kI32, int64_t{x}}; }
  static GgufValue u64(uint64_t x) { return {GgufType::kU64, x}; }
  static GgufValue f32(float x) { return {GgufType::kF32, double{x}}; }
  static GgufValue boolean(bool x) { return {GgufType::kBool, x}; }
  static GgufValue string(std::string x) { return {GgufType::kString, std::move(x)}; }
  static GgufValue array(GgufType element_type, std::vector<GgufValue> items);
  static GgufValue string_array(const std::vector<std::string>& items);
  static GgufValue i32_array(const std::vector<int32_t>& items);
  static GgufValue f32_array(const std::vector<float>& items);
};

struct GgufTensorInfo {
  std::string name;
  DType type = DType::kF32;
  int n_dims = 0;
  std::array<int64_t, 4> ne = {1, 1, 1, 1};
  uint64_t offset = 0;  // relative to the start of the data section
  uint64_t n_bytes = 0;
};

// Whether the file at `path` starts with the GGUF magic (false if unreadable).
bool is_gguf_file(const std::string& path);

class GgufFile {
 public:
  static Result<GgufFile> open(const std::string& path);
  // Parses a file that is already mapped.
  static Result<GgufFile> parse(std::shared_ptr<MappedFile> file);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  // Byte offset in the file where the tensor data section starts.
  uint64_t data_offset() const { return data_offset_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed accessors. The plain form fails when the key is missing; the `_or`
  // form returns the fallback then. Both fail, naming the key and both types,
  // when the value has a type that cannot be converted without loss.
  Result<int64_t> get_int(std::string_view key) const;
  Result<int64_t> get_int_or(std::string_view key, int64_t fallback) const;
  Result<double> get_float(std::string_view key) const;  // any numeric type
  Result<double> get_float_or(std::string_view key, double fallback) const;
  Result<bool> get_bool_or(std::string_view key, bool fallback) const;
  Result<std::string> get_string(std::string_view key) const;
  Result<std::string> get_string_or(std::string_view key, std::string fallback) const;
  Result<std::vector<std::string>> get_string_array(std::string_view key) const;
  Result<std::vector<int64_t>> get_int_array(std::string_view key) const;
  Result<std::vector<double>> get_float_array(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // A view of the tensor's bytes inside the mapped file.
  TensorView view(const GgufTensorInfo& info) const;
  // Bytes of tensor data in total (the weights' footprint).
  uint64_t data_bytes() const { return data_bytes_; }
  // The mapped file the views point into.
  const MappedFile& mapping() const { return *file_; }

 private:
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::shared_ptr<MappedFile> file_;
  const uint8_t* data_ = nullptr;  // start of the tensor data section
  uint64_t data_offset_ = 0;
  uint64_t data_bytes_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, size_t, std::less<>> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;

  friend class GgufParser;
};

// Builds a GGUF v3 file and writes it. Metadata keeps insertion order;
// setting a key again replaces its value in place. general.alignment, when
// set, must be a u32 power of two; tensors are padded to it. Tensor names are
// limited to 63 bytes (llama.cpp's limit). Nested arrays are written and read
// back by moelab, but llama.cpp refuses them: model files should not use them.
// Not thread-safe; one writer per thread.
class GgufWriter {
 public:
  void set(const std::string& key, GgufValue value);
  void remove(const std::string& key);
  // Copies every metadata entry of `file` (general.alignment included).
  void copy_metadata(const GgufFile& file);
  // The tensor's bytes are copied; ne in ggml order.
  Status add_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne,
                    const void* data, size_t n_bytes);
  // A tensor whose bytes are produced while writing (so a large model is
  // never held in memory whole): fill(dst) must write exactly n_bytes.
  using TensorFill = std::function<Status(uint8_t* dst)>;
  Status add_tensor_lazy(const std::string& name, DType type, const std::vector<int64_t>& ne,
                         size_t n_bytes, TensorFill fill);
  // Writes to `path`.tmp, then renames it into place, so readers never see a
  // half-written file; on error the temporary file is removed. Lazy tensors
  // are filled one at a time: peak memory is the largest lazy tensor.
  Status write(const std::string& path) const;

 private:
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<int64_t> ne;
    size_t n_bytes;
    std::vector<uint8_t> bytes;  // empty when `fill` produces them
    TensorFill fill;
  };
  std::vector<PendingTensor> tensors_;
};

}  // namespace moelab

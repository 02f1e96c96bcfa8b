// The GGUF parser. Layout (little-endian), as in the GGUF specification:
//   header:  "GGUF" u32 version, u64 n_tensors, u64 n_kv
//   n_kv ×   string key, u32 value type, value
//   n_tensors × string name, u32 n_dims, n_dims × u64 ne, u32 ggml type, u64 offset
//   padding to general.alignment (default 32), then the tensor data section.
// A string is u64 length + bytes; an array is u32 element type, u64 count, items.
//
// Every number read from the file is distrusted: each read is bounds-checked,
// and counts are compared with the bytes left before anything is allocated, so
// a hostile file cannot make us read out of bounds or allocate without limit.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include "base/check.h"
#include "formats/gguf.h"
#include "formats/gguf_text.h"

namespace moelab {
namespace {

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr int kMaxArrayDepth = 16;
constexpr int kMaxDims = 4;
// Bound on array items in one file. Each item costs ~50 bytes in memory, so
// this keeps a hostile file from turning 1 GB of u8 into 50 GB of values; real
// vocabularies are well under a million entries.
constexpr uint64_t kMaxTotalArrayItems = uint64_t{1} << 26;

// The smallest encoding of a value of each type, used to reject counts that
// could not fit in the bytes left. 0 for an unknown type.
uint64_t min_value_bytes(uint32_t type) {
  switch (static_cast<GgufType>(type)) {
    case GgufType::kU8:
    case GgufType::kI8:
    case GgufType::kBool:
      return 1;
    case GgufType::kU16:
    case GgufType::kI16:
      return 2;
    case GgufType::kU32:
    case GgufType::kI32:
    case GgufType::kF32:
      return 4;
    case GgufType::kU64:
    case GgufType::kI64:
    case GgufType::kF64:
    case GgufType::kString:
      return 8;
    case GgufType::kArray:
      return 12;
  }
  return 0;
}

bool is_known_type(uint32_t type) { return min_value_bytes(type) != 0; }

using gguf_internal::quoted;

}  // namespace

class GgufParser {
 public:
  GgufParser(GgufFile& out, const uint8_t* data, uint64_t size)
      : out_(out), data_(data), size_(size) {}

  Status run() {
    MOELAB_TRY(read_header());
    MOELAB_TRY(read_metadata());
    MOELAB_TRY(read_alignment());
    MOELAB_TRY(read_tensor_infos());
    return check_tensor_data();
  }

 private:
  Status error(uint64_t offset, const std::string& what) const {
    return Status::error(out_.path_ + ": at byte offset " + std::to_string(offset) + ": " + what);
  }

  uint64_t remaining() const { return size_ - pos_; }

  Status need(uint64_t n, const std::string& what) const {
    if (n > remaining()) {
      return error(pos_, "truncated file: " + what + " needs " + std::to_string(n) +
                             " bytes, only " + std::to_string(remaining()) + " left");
    }
    return Status::ok();
  }

  template <typename T>
  Status read(T* value, const std::string& what) {
    MOELAB_TRY(need(sizeof(T), what));
    std::memcpy(value, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::ok();
  }

  Status read_string(std::string* s, const std::string& what) {
    uint64_t len = 0;
    MOELAB_TRY(read(&len, "length of " + what));
    if (len > remaining()) {
      return error(pos_ - 8, what + " has length " + std::to_string(len) + " but only " +
                                 std::to_string(remaining()) + " bytes are left in the file");
    }
    s->assign(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return Status::ok();
  }

  Status read_header() {
    MOELAB_TRY(need(4, "the magic \"GGUF\""));
    if (std::memcmp(data_, kMagic, 4) != 0) {
      return error(0, "bad magic: not a GGUF file (expected \"GGUF\")");
    }
    pos_ = 4;
    uint32_t version = 0;
    MOELAB_TRY(read(&version, "the header's version"));
    // A big-endian file's small version number reads as a multiple of 2^16.
    if (version != 0 && (version & 0xFFFFu) == 0) {
      return error(4, "big-endian GGUF files are not supported (version field reads " +
                          std::to_string(version) + ")");
    }
    if (version == 1) {
      return error(4,
                   "GGUF version 1 is not supported (it uses 32-bit counts); "
                   "convert the file to version 3");
    }
    if (version != 2 && version != 3) {
      return error(4, "unsupported GGUF version " + std::to_string(version) + " (supported: 2, 3)");
    }
    out_.version_ = version;
    MOELAB_TRY(read(&n_tensors_, "the header's tensor count"));
    MOELAB_TRY(read(&n_kv_, "the header's metadata count"));
    // Each key-value pair takes at least 13 bytes (empty key, type, u8), each
    // tensor info at least 32 (empty name, one dim): counts that cannot fit in
    // the file are rejected before anything is reserved.
    if (n_kv_ > remaining() / 13) {
      return error(16, "metadata count " + std::to_string(n_kv_) + " cannot fit in the file's " +
                           std::to_string(size_) + " bytes");
    }
    if (n_tensors_ > remaining() / 32 || n_tensors_ * 32 + n_kv_ * 13 > remaining()) {
      return error(8, "tensor count " + std::to_string(n_tensors_) + " cannot fit in the file's " +
                          std::to_string(size_) + " bytes");
    }
    return Status::ok();
  }

  Status read_metadata() {
    out_.metadata_.reserve(n_kv_);
    for (uint64_t i = 0; i < n_kv_; ++i) {
      const uint64_t key_offset = pos_;
      std::string key;
      MOELAB_TRY(read_string(&key, "key of metadata entry " + std::to_string(i)));
      const std::string ctx = "key " + quoted(key);
      if (out_.metadata_index_.count(key) != 0) {
        return error(key_offset, "duplicate " + ctx);
      }
      uint32_t type = 0;
      MOELAB_TRY(read(&type, "value type of " + ctx));
      if (!is_known_type(type)) {
        return error(pos_ - 4, ctx + ": unknown value type " + std::to_string(type));
      }
      if (key == "general.alignment") alignment_value_offset_ = pos_;
      GgufValue value;
      MOELAB_TRY(read_value(static_cast<GgufType>(type), 0, &value, [&ctx] { return ctx; }));
      out_.metadata_index_.emplace(key, out_.metadata_.size());
      out_.metadata_.emplace_back(std::move(key), std::move(value));
    }
    return Status::ok();
  }

  // Reads one value of a known type. `ctx` names it for errors ("key 'x'[3]")
  // and is only called when there is an error, so big arrays stay cheap.
  template <typename Ctx>
  Status read_value(GgufType type, int depth, GgufValue* out, const Ctx& ctx) {
    out->type = type;
    switch (type) {
      case GgufType::kU8:
        return read_number<uint8_t, uint64_t>(out, ctx);
      case GgufType::kI8:
        return read_number<int8_t, int64_t>(out, ctx);
      case GgufType::kU16:
        return read_number<uint16_t, uint64_t>(out, ctx);
      case GgufType::kI16:
        return read_number<int16_t, int64_t>(out, ctx);
      case GgufType::kU32:
        return read_number<uint32_t, uint64_t>(out, ctx);
      case GgufType::kI32:
        return read_number<int32_t, int64_t>(out, ctx);
      case GgufType::kU64:
        return read_number<uint64_t, uint64_t>(out, ctx);
      case GgufType::kI64:
        return read_number<int64_t, int64_t>(out, ctx);
      case GgufType::kF32:
        return read_number<float, double>(out, ctx);
      case GgufType::kF64:
        return read_number<double, double>(out, ctx);
      case GgufType::kBool: {
        if (remaining() < 1) return need(1, "value of " + ctx());
        const uint8_t b = data_[pos_++];
        if (b > 1) {
          return error(pos_ - 1, ctx() + ": bool value " + std::to_string(b) + " is not 0 or 1");
        }
        out->v = b == 1;
        return Status::ok();
      }
      case GgufType::kString: {
        uint64_t len = 0;
        if (remaining() < 8) return need(8, "string length of " + ctx());
        std::memcpy(&len, data_ + pos_, 8);
        pos_ += 8;
        if (len > remaining()) {
          return error(pos_ - 8, ctx() + ": string length " + std::to_string(len) + " but only " +
                                     std::to_string(remaining()) + " bytes are left in the file");
        }
        out->v = std::string(reinterpret_cast<const char*>(data_ + pos_), len);
        pos_ += len;
        return Status::ok();
      }
      case GgufType::kArray:
        return read_array(depth, out, ctx());
    }
    return error(pos_, ctx() + ": unknown value type");  // not reached: types are checked
  }

  template <typename Raw, typename Stored, typename Ctx>
  Status read_number(GgufValue* out, const Ctx& ctx) {
    if (remaining() < sizeof(Raw)) return need(sizeof(Raw), "value of " + ctx());
    Raw raw{};
    std::memcpy(&raw, data_ + pos_, sizeof(Raw));
    pos_ += sizeof(Raw);
    out->v = static_cast<Stored>(raw);
    return Status::ok();
  }

  Status read_array(int depth, GgufValue* out, const std::string& ctx) {
    const uint64_t array_offset = pos_;
    if (depth >= kMaxArrayDepth) {
      return error(array_offset, ctx + ": arrays nested deeper than " +
                                     std::to_string(kMaxArrayDepth) + " levels");
    }
    uint32_t element_type = 0;
    uint64_t count = 0;
    MOELAB_TRY(read(&element_type, "array element type of " + ctx));
    if (!is_known_type(element_type)) {
      return error(pos_ - 4, ctx + ": unknown array element type " + std::to_string(element_type));
    }
    MOELAB_TRY(read(&count, "array length of " + ctx));
    if (count > remaining() / min_value_bytes(element_type)) {
      return error(pos_ - 8, ctx + ": array length " + std::to_string(count) + " of " +
                                 gguf_type_name(static_cast<GgufType>(element_type)) +
                                 " cannot fit in the " + std::to_string(remaining()) +
                                 " bytes left");
    }
    total_array_items_ += count;
    if (total_array_items_ > kMaxTotalArrayItems) {
      return error(pos_ - 8, ctx + ": more than " + std::to_string(kMaxTotalArrayItems) +
                                 " array items in the file");
    }
    auto arr = std::make_shared<GgufArray>();
    arr->element_type = static_cast<GgufType>(element_type);
    arr->items.resize(count);
    for (uint64_t i = 0; i < count; ++i) {
      auto item_ctx = [&ctx, i] { return ctx + "[" + std::to_string(i) + "]"; };
      MOELAB_TRY(read_value(arr->element_type, depth + 1, &arr->items[i], item_ctx));
    }
    out->type = GgufType::kArray;
    out->v = std::move(arr);
    return Status::ok();
  }

  Status read_alignment() {
    const GgufValue* value = out_.find("general.alignment");
    if (value == nullptr) return Status::ok();
    const auto* u = std::get_if<uint64_t>(&value->v);
    if (value->type != GgufType::kU32 || u == nullptr) {
      return error(alignment_value_offset_ - 4, "key 'general.alignment' has type " +
                                                    std::string(gguf_type_name(value->type)) +
                                                    ", expected u32");
    }
    if (*u == 0 || (*u & (*u - 1)) != 0) {
      return error(alignment_value_offset_, "key 'general.alignment' is " + std::to_string(*u) +
                                                ", expected a non-zero power of two");
    }
    out_.alignment_ = *u;
    return Status::ok();
  }

  Status read_tensor_infos() {
    out_.tensors_.reserve(n_tensors_);
    for (uint64_t i = 0; i < n_tensors_; ++i) {
      const uint64_t info_offset = pos_;
      GgufTensorInfo info;
      MOELAB_TRY(read_string(&info.name, "name of tensor " + std::to_string(i)));
      const std::string ctx = "tensor " + quoted(info.name);
      if (out_.tensor_index_.count(info.name) != 0) {
        return error(info_offset, "duplicate " + ctx);
      }
      uint32_t n_dims = 0;
      MOELAB_TRY(read(&n_dims, "n_dims of " + ctx));
      if (n_dims < 1 || n_dims > kMaxDims) {
        return error(pos_ - 4, ctx + ": n_dims " + std::to_string(n_dims) + " is not in 1.." +
                                   std::to_string(kMaxDims));
      }
      info.n_dims = static_cast<int>(n_dims);
      int64_t n_elements = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        int64_t ne = 0;
        MOELAB_TRY(read(&ne, "ne[" + std::to_string(d) + "] of " + ctx));
        if (ne <= 0) {
          return error(pos_ - 8, ctx + ": ne[" + std::to_string(d) + "] is " + std::to_string(ne) +
                                     ", must be positive");
        }
        if (__builtin_mul_overflow(n_elements, ne, &n_elements)) {
          return error(pos_ - 8, ctx + ": element count overflows int64");
        }
        info.ne[d] = ne;
      }
      uint32_t type_id = 0;
      MOELAB_TRY(read(&type_id, "type of " + ctx));
      const std::optional<DTypeInfo> dtype = dtype_info_for_id(type_id);
      if (!dtype) {
        return error(pos_ - 4, ctx + ": unknown tensor type id " + std::to_string(type_id));
      }
      info.type = dtype->type;
      if (info.ne[0] % dtype->block_elems != 0) {
        return error(pos_ - 4, ctx + ": row length " + std::to_string(info.ne[0]) +
                                   " is not a multiple of the " + std::string(dtype->name) +
                                   " block size " + std::to_string(dtype->block_elems));
      }
      int64_t n_bytes = 0;
      if (__builtin_mul_overflow(n_elements / dtype->block_elems, dtype->block_bytes, &n_bytes)) {
        return error(pos_ - 4, ctx + ": byte size overflows int64");
      }
      info.n_bytes = static_cast<uint64_t>(n_bytes);
      MOELAB_TRY(read(&info.offset, "data offset of " + ctx));
      if (info.offset % out_.alignment_ != 0) {
        return error(pos_ - 8, ctx + ": data offset " + std::to_string(info.offset) +
                                   " is not a multiple of the alignment " +
                                   std::to_string(out_.alignment_));
      }
      info_offsets_.push_back(pos_ - 8);
      out_.tensor_index_.emplace(info.name, out_.tensors_.size());
      out_.tensors_.push_back(std::move(info));
    }
    return Status::ok();
  }

  Status check_tensor_data() {
    // pos_ <= size_ and the alignment is at most 2^31, so this cannot overflow.
    const uint64_t data_offset = (pos_ + out_.alignment_ - 1) / out_.alignment_ * out_.alignment_;
    out_.data_offset_ = data_offset;
    if (out_.tensors_.empty()) {
      out_.data_ = data_ + std::min(data_offset, size_);
      return Status::ok();
    }
    if (data_offset > size_) {
      return error(pos_, "truncated file: the tensor data section starts at byte " +
                             std::to_string(data_offset) + ", past the end of the file");
    }
    out_.data_ = data_ + data_offset;
    const uint64_t data_size = size_ - data_offset;
    std::vector<size_t> order(out_.tensors_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return out_.tensors_[a].offset < out_.tensors_[b].offset;
    });
    uint64_t prev_end = 0;
    const GgufTensorInfo* prev = nullptr;
    for (size_t i : order) {
      const GgufTensorInfo& t = out_.tensors_[i];
      const std::string ctx = "tensor " + quoted(t.name);
      // Errors point at the offending offset field in the tensor info.
      if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
        return error(info_offsets_[i],
                     ctx + ": data [" + std::to_string(t.offset) + ", +" +
                         std::to_string(t.n_bytes) + ") runs past the end of the file (data " +
                         "section holds " + std::to_string(data_size) + " bytes)");
      }
      if (prev != nullptr && t.offset < prev_end) {
        return error(info_offsets_[i], ctx + ": data at " + std::to_string(t.offset) +
                                           " overlaps tensor " + quoted(prev->name) +
                                           ", which ends at " + std::to_string(prev_end));
      }
      prev_end = t.offset + t.n_bytes;
      prev = &t;
      out_.data_bytes_ += t.n_bytes;
    }
    return Status::ok();
  }

  GgufFile& out_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
  uint64_t total_array_items_ = 0;
  uint64_t alignment_value_offset_ = 0;
  std::vector<uint64_t> info_offsets_;  // where each tensor's offset field sits
};

Result<GgufFile> GgufFile::open(const std::string& path) {
  MOELAB_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::open(path));
  return parse(std::make_shared<MappedFile>(std::move(mapped)));
}

Result<GgufFile> GgufFile::parse(std::shared_ptr<MappedFile> file) {
  MOELAB_CHECK(file != nullptr);
  GgufFile out;
  out.path_ = file->path();
  GgufParser parser(out, file->data(), file->size());
  MOELAB_TRY(parser.run());
  out.file_ = std::move(file);
  return out;
}

bool is_gguf_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace moelab

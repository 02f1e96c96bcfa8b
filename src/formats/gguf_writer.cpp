// GgufWriter: writes GGUF v3 the way llama.cpp's gguf writer lays it out:
// header, metadata in insertion order, tensor infos with offsets relative to
// the data section, zero padding to the alignment, then each tensor's bytes
// padded to the alignment. Values are checked before anything is written, so
// a bad value never leaves half a file behind.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "formats/gguf.h"
#include "formats/gguf_text.h"

namespace moelab {
namespace {

constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr int kMaxArrayDepth = 16;
constexpr size_t kMaxTensorName = 64;

using gguf_internal::quoted;

// Checks that `value` can be encoded as its declared type: the variant holds
// the matching alternative and integers fit the declared width.
Status check_value(const GgufValue& value, const std::string& ctx, int depth) {
  auto type_error = [&] {
    return Status::error(ctx + ": value does not match its type " + gguf_type_name(value.type));
  };
  auto fits = [&](int64_t lo, uint64_t hi) -> Status {
    if (const auto* u = std::get_if<uint64_t>(&value.v)) {
      if (*u > hi)
        return Status::error(ctx + ": " + std::to_string(*u) + " does not fit " +
                             gguf_type_name(value.type));
      return Status::ok();
    }
    if (const auto* i = std::get_if<int64_t>(&value.v)) {
      if (*i < lo || (*i > 0 && static_cast<uint64_t>(*i) > hi)) {
        return Status::error(ctx + ": " + std::to_string(*i) + " does not fit " +
                             gguf_type_name(value.type));
      }
      return Status::ok();
    }
    return type_error();
  };
  switch (value.type) {
    case GgufType::kU8:
      return fits(0, 0xFF);
    case GgufType::kI8:
      return fits(-128, 127);
    case GgufType::kU16:
      return fits(0, 0xFFFF);
    case GgufType::kI16:
      return fits(-32768, 32767);
    case GgufType::kU32:
      return fits(0, 0xFFFFFFFFu);
    case GgufType::kI32:
      return fits(std::numeric_limits<int32_t>::min(), 0x7FFFFFFF);
    case GgufType::kU64:
      return fits(0, std::numeric_limits<uint64_t>::max());
    case GgufType::kI64:
      return fits(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
    case GgufType::kF32:
    case GgufType::kF64:
      return std::holds_alternative<double>(value.v) ? Status::ok() : type_error();
    case GgufType::kBool:
      return std::holds_alternative<bool>(value.v) ? Status::ok() : type_error();
    case GgufType::kString:
      return std::holds_alternative<std::string>(value.v) ? Status::ok() : type_error();
    case GgufType::kArray: {
      const auto* arr = std::get_if<std::shared_ptr<GgufArray>>(&value.v);
      if (arr == nullptr || *arr == nullptr) return type_error();
      if (depth >= kMaxArrayDepth) {
        return Status::error(ctx + ": arrays nested deeper than " + std::to_string(kMaxArrayDepth) +
                             " levels");
      }
      const GgufArray& a = **arr;
      for (size_t i = 0; i < a.items.size(); ++i) {
        const std::string item_ctx = ctx + "[" + std::to_string(i) + "]";
        if (a.items[i].type != a.element_type) {
          return Status::error(item_ctx + ": has type " + gguf_type_name(a.items[i].type) +
                               " in an array of " + gguf_type_name(a.element_type));
        }
        MOELAB_TRY(check_value(a.items[i], item_ctx, depth + 1));
      }
      return Status::ok();
    }
  }
  return Status::error(ctx + ": unknown value type " +
                       std::to_string(static_cast<uint32_t>(value.type)));
}

// Little-endian byte sink over a FILE*, remembering the first write error.
class Sink {
 public:
  explicit Sink(std::FILE* f) : f_(f) {}
  void bytes(const void* p, size_t n) {
    if (n != 0 && ok_ && std::fwrite(p, 1, n, f_) != n) ok_ = false;
    written_ += n;
  }
  template <typename T>
  void pod(T x) {
    bytes(&x, sizeof(T));
  }
  void string(const std::string& s) {
    pod<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void zeros(uint64_t n) {
    static const uint8_t kZeros[256] = {};
    while (n > 0) {
      const uint64_t k = std::min<uint64_t>(n, sizeof(kZeros));
      bytes(kZeros, k);
      n -= k;
    }
  }
  void pad_to(uint64_t alignment) { zeros((alignment - written_ % alignment) % alignment); }
  bool ok() const { return ok_; }

 private:
  std::FILE* f_;
  bool ok_ = true;
  uint64_t written_ = 0;
};

// Encodes a value already accepted by check_value.
void write_value(Sink& out, const GgufValue& value) {
  auto as_u = [&] {
    if (const auto* u = std::get_if<uint64_t>(&value.v)) return *u;
    return static_cast<uint64_t>(std::get<int64_t>(value.v));
  };
  switch (value.type) {
    case GgufType::kU8:
    case GgufType::kI8:
      out.pod(static_cast<uint8_t>(as_u()));
      return;
    case GgufType::kU16:
    case GgufType::kI16:
      out.pod(static_cast<uint16_t>(as_u()));
      return;
    case GgufType::kU32:
    case GgufType::kI32:
      out.pod(static_cast<uint32_t>(as_u()));
      return;
    case GgufType::kU64:
    case GgufType::kI64:
      out.pod(as_u());
      return;
    case GgufType::kF32:
      out.pod(static_cast<float>(std::get<double>(value.v)));
      return;
    case GgufType::kF64:
      out.pod(std::get<double>(value.v));
      return;
    case GgufType::kBool:
      out.pod(static_cast<uint8_t>(std::get<bool>(value.v) ? 1 : 0));
      return;
    case GgufType::kString:
      out.string(std::get<std::string>(value.v));
      return;
    case GgufType::kArray: {
      const GgufArray& a = *std::get<std::shared_ptr<GgufArray>>(value.v);
      out.pod(static_cast<uint32_t>(a.element_type));
      out.pod(static_cast<uint64_t>(a.items.size()));
      for (const GgufValue& item : a.items) write_value(out, item);
      return;
    }
  }
}

uint64_t align_up(uint64_t x, uint64_t alignment) {
  return (x + alignment - 1) / alignment * alignment;
}

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(key, std::move(value));
}

void GgufWriter::remove(const std::string& key) {
  std::erase_if(metadata_, [&](const auto& kv) { return kv.first == key; });
}

void GgufWriter::copy_metadata(const GgufFile& file) {
  for (const auto& [key, value] : file.metadata()) set(key, value);
}

Status GgufWriter::add_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne,
                              const void* data, size_t n_bytes) {
  MOELAB_TRY(add_tensor_lazy(name, type, ne, n_bytes, nullptr));
  const auto* p = static_cast<const uint8_t*>(data);
  tensors_.back().bytes.assign(p, p + n_bytes);
  return Status::ok();
}

Status GgufWriter::add_tensor_lazy(const std::string& name, DType type,
                                   const std::vector<int64_t>& ne, size_t n_bytes,
                                   TensorFill fill) {
  const std::string ctx = "GGUF writer: tensor " + quoted(name);
  for (const auto& t : tensors_) {
    if (t.name == name) return Status::error(ctx + ": added twice");
  }
  // ggml keeps names in a char[64] and llama.cpp refuses longer ones.
  if (name.empty() || name.size() >= kMaxTensorName) {
    return Status::error(ctx + ": name must have 1.." + std::to_string(kMaxTensorName - 1) +
                         " bytes");
  }
  if (ne.empty() || ne.size() > 4) {
    return Status::error(ctx + ": has " + std::to_string(ne.size()) + " dims, expected 1..4");
  }
  const DTypeInfo& info = dtype_info(type);
  int64_t n_elements = 1;
  for (int64_t d : ne) {
    if (d <= 0 || __builtin_mul_overflow(n_elements, d, &n_elements)) {
      return Status::error(ctx + ": bad shape (dims must be positive, count within int64)");
    }
  }
  if (ne[0] % info.block_elems != 0) {
    return Status::error(ctx + ": row length " + std::to_string(ne[0]) +
                         " is not a multiple of the " + std::string(info.name) + " block size");
  }
  int64_t expected = 0;
  if (__builtin_mul_overflow(n_elements / info.block_elems, info.block_bytes, &expected) ||
      static_cast<uint64_t>(expected) != n_bytes) {
    return Status::error(ctx + ": " + std::to_string(n_bytes) + " bytes given, shape and type " +
                         "need " + std::to_string(expected));
  }
  tensors_.push_back(PendingTensor{name, type, ne, n_bytes, {}, std::move(fill)});
  return Status::ok();
}

Status GgufWriter::write(const std::string& path) const {
  uint64_t alignment = kDefaultAlignment;
  for (const auto& [key, value] : metadata_) {
    MOELAB_TRY(check_value(value, path + ": key " + quoted(key), 0));
    if (key == "general.alignment") {
      const auto* u = std::get_if<uint64_t>(&value.v);
      if (value.type != GgufType::kU32 || u == nullptr || *u == 0 || (*u & (*u - 1)) != 0) {
        return Status::error(path + ": key 'general.alignment' must be a u32 power of two");
      }
      alignment = *u;
    }
  }

  const std::string tmp_path = path + ".tmp";
  std::FILE* f = std::fopen(tmp_path.c_str(), "wb");
  if (f == nullptr) {
    return Status::error(tmp_path + ": cannot create: " + std::strerror(errno));
  }
  auto fail = [&](const std::string& what) {
    std::fclose(f);
    std::remove(tmp_path.c_str());
    return Status::error(tmp_path + ": " + what);
  };

  Sink out(f);
  out.bytes("GGUF", 4);
  out.pod(kVersion);
  out.pod(static_cast<uint64_t>(tensors_.size()));
  out.pod(static_cast<uint64_t>(metadata_.size()));
  for (const auto& [key, value] : metadata_) {
    out.string(key);
    out.pod(static_cast<uint32_t>(value.type));
    write_value(out, value);
  }
  uint64_t offset = 0;
  size_t max_lazy_bytes = 0;
  for (const auto& t : tensors_) {
    out.string(t.name);
    out.pod(static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) out.pod(d);
    out.pod(static_cast<uint32_t>(t.type));
    out.pod(offset);
    offset = align_up(offset + t.n_bytes, alignment);
    if (t.fill) max_lazy_bytes = std::max(max_lazy_bytes, t.n_bytes);
  }
  out.pad_to(alignment);

  // Lazy tensors are produced one at a time into one reused buffer, so peak
  // memory is the largest tensor, not the model.
  std::vector<uint8_t> buffer;
  buffer.reserve(max_lazy_bytes);
  for (const auto& t : tensors_) {
    if (t.fill) {
      buffer.assign(t.n_bytes, 0);
      Status st = t.fill(buffer.data());
      if (!st.is_ok()) return fail("tensor " + quoted(t.name) + ": " + st.message());
      out.bytes(buffer.data(), t.n_bytes);
    } else {
      out.bytes(t.bytes.data(), t.n_bytes);
    }
    out.pad_to(alignment);
    if (!out.ok()) return fail(std::string("write failed: ") + std::strerror(errno));
  }
  if (!out.ok() || std::fflush(f) != 0) {
    return fail(std::string("write failed: ") + std::strerror(errno));
  }
  if (std::fclose(f) != 0) {
    std::remove(tmp_path.c_str());
    return Status::error(tmp_path + ": close failed: " + std::strerror(errno));
  }
  if (std::rename(tmp_path.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp_path.c_str());
    return Status::error(path + ": cannot rename temporary file into place: " + std::strerror(err));
  }
  return Status::ok();
}

}  // namespace moelab

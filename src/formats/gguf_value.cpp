// GgufValue constructors and GgufFile's typed metadata accessors. The
// accessors convert only where no information is lost, so a model that reads
// `n_head` as an integer fails loudly on a file that stores it as a float.
#include <cmath>
#include <limits>

#include "formats/gguf.h"
#include "formats/gguf_text.h"

namespace moelab {
namespace {

bool is_integer_type(GgufType t) {
  switch (t) {
    case GgufType::kU8:
    case GgufType::kI8:
    case GgufType::kU16:
    case GgufType::kI16:
    case GgufType::kU32:
    case GgufType::kI32:
    case GgufType::kU64:
    case GgufType::kI64:
      return true;
    default:
      return false;
  }
}

bool is_float_type(GgufType t) { return t == GgufType::kF32 || t == GgufType::kF64; }

using gguf_internal::quoted;

// The value as int64, when it is an integer that fits.
Result<int64_t> value_as_int(const GgufValue& value, const std::string& where) {
  if (is_integer_type(value.type)) {
    if (const auto* u = std::get_if<uint64_t>(&value.v)) {
      if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Status::error(where + ": value " + std::to_string(*u) + " does not fit in int64");
      }
      return static_cast<int64_t>(*u);
    }
    if (const auto* i = std::get_if<int64_t>(&value.v)) return *i;
  }
  return Status::error(where + ": has type " + gguf_type_name(value.type) +
                       ", expected an integer");
}

Result<double> value_as_float(const GgufValue& value, const std::string& where) {
  if (is_float_type(value.type)) {
    if (const auto* d = std::get_if<double>(&value.v)) return *d;
  }
  if (is_integer_type(value.type)) {
    if (const auto* u = std::get_if<uint64_t>(&value.v)) return static_cast<double>(*u);
    if (const auto* i = std::get_if<int64_t>(&value.v)) return static_cast<double>(*i);
  }
  return Status::error(where + ": has type " + gguf_type_name(value.type) + ", expected a number");
}

// The items of an array value, or an error naming the key.
Result<const GgufArray*> value_as_array(const GgufValue& value, const std::string& where) {
  const auto* arr = std::get_if<std::shared_ptr<GgufArray>>(&value.v);
  if (value.type != GgufType::kArray || arr == nullptr || *arr == nullptr) {
    return Status::error(where + ": has type " + gguf_type_name(value.type) +
                         ", expected an array");
  }
  return arr->get();
}

}  // namespace

const char* gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::kU8:
      return "u8";
    case GgufType::kI8:
      return "i8";
    case GgufType::kU16:
      return "u16";
    case GgufType::kI16:
      return "i16";
    case GgufType::kU32:
      return "u32";
    case GgufType::kI32:
      return "i32";
    case GgufType::kF32:
      return "f32";
    case GgufType::kBool:
      return "bool";
    case GgufType::kString:
      return "string";
    case GgufType::kArray:
      return "array";
    case GgufType::kU64:
      return "u64";
    case GgufType::kI64:
      return "i64";
    case GgufType::kF64:
      return "f64";
  }
  return "unknown";
}

GgufValue GgufValue::array(GgufType element_type, std::vector<GgufValue> items) {
  auto arr = std::make_shared<GgufArray>();
  arr->element_type = element_type;
  arr->items = std::move(items);
  return {GgufType::kArray, std::move(arr)};
}

GgufValue GgufValue::string_array(const std::vector<std::string>& items) {
  std::vector<GgufValue> values;
  values.reserve(items.size());
  for (const auto& s : items) values.push_back(string(s));
  return array(GgufType::kString, std::move(values));
}

GgufValue GgufValue::i32_array(const std::vector<int32_t>& items) {
  std::vector<GgufValue> values;
  values.reserve(items.size());
  for (int32_t x : items) values.push_back(i32(x));
  return array(GgufType::kI32, std::move(values));
}

GgufValue GgufValue::f32_array(const std::vector<float>& items) {
  std::vector<GgufValue> values;
  values.reserve(items.size());
  for (float x : items) values.push_back(f32(x));
  return array(GgufType::kF32, std::move(values));
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

TensorView GgufFile::view(const GgufTensorInfo& info) const {
  TensorView v;
  v.name = info.name;
  v.type = info.type;
  v.n_dims = info.n_dims;
  v.ne = info.ne;
  v.data = data_ + info.offset;
  return v;
}

Result<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return Status::error(path_ + ": missing key " + quoted(key));
  return value_as_int(*value, path_ + ": key " + quoted(key));
}

Result<int64_t> GgufFile::get_int_or(std::string_view key, int64_t fallback) const {
  return has(key) ? get_int(key) : Result<int64_t>(fallback);
}

Result<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return Status::error(path_ + ": missing key " + quoted(key));
  return value_as_float(*value, path_ + ": key " + quoted(key));
}

Result<double> GgufFile::get_float_or(std::string_view key, double fallback) const {
  return has(key) ? get_float(key) : Result<double>(fallback);
}

Result<bool> GgufFile::get_bool_or(std::string_view key, bool fallback) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return fallback;
  const auto* b = std::get_if<bool>(&value->v);
  if (value->type != GgufType::kBool || b == nullptr) {
    return Status::error(path_ + ": key " + quoted(key) + ": has type " +
                         gguf_type_name(value->type) + ", expected bool");
  }
  return *b;
}

Result<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return Status::error(path_ + ": missing key " + quoted(key));
  const auto* s = std::get_if<std::string>(&value->v);
  if (value->type != GgufType::kString || s == nullptr) {
    return Status::error(path_ + ": key " + quoted(key) + ": has type " +
                         gguf_type_name(value->type) + ", expected string");
  }
  return *s;
}

Result<std::string> GgufFile::get_string_or(std::string_view key, std::string fallback) const {
  return has(key) ? get_string(key) : Result<std::string>(std::move(fallback));
}

Result<std::vector<std::string>> GgufFile::get_string_array(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return Status::error(path_ + ": missing key " + quoted(key));
  const std::string where = path_ + ": key " + quoted(key);
  MOELAB_ASSIGN_OR_RETURN(const GgufArray* arr, value_as_array(*value, where));
  if (arr->element_type != GgufType::kString) {
    return Status::error(where + ": is an array of " + gguf_type_name(arr->element_type) +
                         ", expected an array of string");
  }
  std::vector<std::string> out;
  out.reserve(arr->items.size());
  for (size_t i = 0; i < arr->items.size(); ++i) {
    const auto* s = std::get_if<std::string>(&arr->items[i].v);
    if (s == nullptr) return Status::error(where + ": item " + std::to_string(i) + " is no string");
    out.push_back(*s);
  }
  return out;
}

Result<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return Status::error(path_ + ": missing key " + quoted(key));
  const std::string where = path_ + ": key " + quoted(key);
  MOELAB_ASSIGN_OR_RETURN(const GgufArray* arr, value_as_array(*value, where));
  if (!is_integer_type(arr->element_type)) {
    return Status::error(where + ": is an array of " + gguf_type_name(arr->element_type) +
                         ", expected an array of integers");
  }
  std::vector<int64_t> out;
  out.reserve(arr->items.size());
  for (size_t i = 0; i < arr->items.size(); ++i) {
    MOELAB_ASSIGN_OR_RETURN(int64_t x,
                            value_as_int(arr->items[i], where + ": item " + std::to_string(i)));
    out.push_back(x);
  }
  return out;
}

Result<std::vector<double>> GgufFile::get_float_array(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return Status::error(path_ + ": missing key " + quoted(key));
  const std::string where = path_ + ": key " + quoted(key);
  MOELAB_ASSIGN_OR_RETURN(const GgufArray* arr, value_as_array(*value, where));
  if (!is_integer_type(arr->element_type) && !is_float_type(arr->element_type)) {
    return Status::error(where + ": is an array of " + gguf_type_name(arr->element_type) +
                         ", expected an array of numbers");
  }
  std::vector<double> out;
  out.reserve(arr->items.size());
  for (size_t i = 0; i < arr->items.size(); ++i) {
    MOELAB_ASSIGN_OR_RETURN(double x,
                            value_as_float(arr->items[i], where + ": item " + std::to_string(i)));
    out.push_back(x);
  }
  return out;
}

}  // namespace moelab

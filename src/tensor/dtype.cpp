#include "tensor/dtype.h"

#include <array>
#include <cctype>

#include "base/check.h"

namespace moelab {
namespace {

constexpr std::array kInfos = {
    DTypeInfo{DType::kF32, "f32", 1, 4, false, true},
    DTypeInfo{DType::kF16, "f16", 1, 2, false, true},
    DTypeInfo{DType::kQ4_0, "q4_0", 32, 18, true, true},
    DTypeInfo{DType::kQ4_1, "q4_1", 32, 20, true, true},
    DTypeInfo{DType::kQ5_0, "q5_0", 32, 22, true, true},
    DTypeInfo{DType::kQ5_1, "q5_1", 32, 24, true, true},
    DTypeInfo{DType::kQ8_0, "q8_0", 32, 34, true, true},
    DTypeInfo{DType::kQ8_1, "q8_1", 32, 36, true, false},
    DTypeInfo{DType::kQ2_K, "q2_K", 256, 84, true, true},
    DTypeInfo{DType::kQ3_K, "q3_K", 256, 110, true, true},
    DTypeInfo{DType::kQ4_K, "q4_K", 256, 144, true, true},
    DTypeInfo{DType::kQ5_K, "q5_K", 256, 176, true, true},
    DTypeInfo{DType::kQ6_K, "q6_K", 256, 210, true, true},
    DTypeInfo{DType::kQ8_K, "q8_K", 256, 292, true, false},
    DTypeInfo{DType::kI8, "i8", 1, 1, false, false},
    DTypeInfo{DType::kI16, "i16", 1, 2, false, false},
    DTypeInfo{DType::kI32, "i32", 1, 4, false, false},
    DTypeInfo{DType::kI64, "i64", 1, 8, false, false},
    DTypeInfo{DType::kF64, "f64", 1, 8, false, false},
    DTypeInfo{DType::kBF16, "bf16", 1, 2, false, true},
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

}  // namespace

std::optional<DTypeInfo> dtype_info_for_id(uint32_t id) {
  for (const auto& info : kInfos) {
    if (static_cast<uint32_t>(info.type) == id) return info;
  }
  return std::nullopt;
}

const DTypeInfo& dtype_info(DType type) {
  for (const auto& info : kInfos) {
    if (info.type == type) return info;
  }
  MOELAB_CHECK_MSG(false, "unknown DType");
  return kInfos[0];
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& info : kInfos) {
    if (iequals(info.name, name)) return info.type;
  }
  return std::nullopt;
}

}  // namespace moelab

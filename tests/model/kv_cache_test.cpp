// The KV cache's storage: rows go in as floats and come back, through
// load_k and through the rows the attention kernels read, exactly (f32) or
// rounded to half (f16); a GQA row is stored head-major, each head's part
// reachable on its own; the f16 cache is half the bytes.
#include "model/kv_cache.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "base/fp16.h"

namespace moelab {
namespace {

// Element i of slot's row through rows as the kernels see them.
float element(const AttnRows& rows, int64_t slot, int32_t i) {
  if (rows.type == DType::kF16) {
    return fp16_to_fp32(static_cast<const uint16_t*>(rows.base)[slot * rows.stride + i]);
  }
  return static_cast<const float*>(rows.base)[slot * rows.stride + i];
}

TEST(KvCache, RowsComeBackExactOrRoundedToHalf) {
  for (DType type : {DType::kF32, DType::kF16}) {
    KvLayout layout;
    layout.n_layer = 2;
    layout.k_width = 3 * 8;  // three heads of 8
    layout.v_width = 3 * 4;  // three heads of 4
    layout.n_heads = 3;
    layout.type = type;
    KvCache cache(layout, 4, 5);
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 3.0f);
    const int64_t slots = 20;
    std::vector<float> k(slots * layout.k_width), v(slots * layout.v_width);
    for (float& x : k) x = dist(rng);
    for (float& x : v) x = dist(rng);
    for (int64_t s = 0; s < slots; ++s) {
      cache.store_k(1, s, k.data() + s * layout.k_width);
      cache.store_v(1, s, v.data() + s * layout.v_width);
    }
    auto stored = [&](float x) { return type == DType::kF16 ? fp16_to_fp32(fp32_to_fp16(x)) : x; };
    for (int64_t s = 0; s < slots; ++s) {
      std::vector<float> back(layout.k_width);
      cache.load_k(1, s, 0, layout.k_width, back.data());
      for (int32_t i = 0; i < layout.k_width; ++i) {
        ASSERT_EQ(back[i], stored(k[s * layout.k_width + i]))
            << kv_type_name(type) << " slot " << s;
      }
      // A range across a head boundary.
      std::vector<float> part(10);
      cache.load_k(1, s, 5, 10, part.data());
      for (int32_t i = 0; i < 10; ++i) ASSERT_EQ(part[i], back[5 + i]);
      for (int32_t h = 0; h < 3; ++h) {
        const AttnRows kr = cache.k_rows(1, h, 2, 5);  // elements 2..6 of head h
        EXPECT_EQ(kr.type, type);
        EXPECT_EQ(kr.width, 5);
        for (int32_t i = 0; i < 5; ++i) {
          ASSERT_EQ(element(kr, s, i), stored(k[s * layout.k_width + h * 8 + 2 + i]));
        }
        const AttnRows vr = cache.v_rows(1, h, 0, 4);
        for (int32_t i = 0; i < 4; ++i) {
          ASSERT_EQ(element(vr, s, i), stored(v[s * layout.v_width + h * 4 + i]));
        }
      }
    }
  }
}

TEST(KvCache, HalfElementsHalveTheBytes) {
  KvLayout f32{2, 64, 64, 4, DType::kF32};
  KvLayout f16 = f32;
  f16.type = DType::kF16;
  EXPECT_EQ(f32.bytes_per_token(), 2 * 128 * 4);
  EXPECT_EQ(f16.bytes_per_token(), f32.bytes_per_token() / 2);
  const int64_t budget = int64_t{1} << 20;
  EXPECT_EQ(KvCache::with_budget(f16, 16, budget).n_blocks(),
            2 * KvCache::with_budget(f32, 16, budget).n_blocks());
}

TEST(KvCache, ParsesItsTypeNames) {
  EXPECT_EQ(*parse_kv_type("f32"), DType::kF32);
  EXPECT_EQ(*parse_kv_type("f16"), DType::kF16);
  const auto bad = parse_kv_type("q8_0");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("q8_0"), std::string::npos);
  EXPECT_STREQ(kv_type_name(DType::kF16), "f16");
}

}  // namespace
}  // namespace moelab

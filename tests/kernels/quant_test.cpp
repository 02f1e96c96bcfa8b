// Tests for dequantize_row / quantize_row. Expected values come from the
// format definitions (hand-packed blocks), from exactly representable inputs,
// or from error bounds derived from each type's step size, never from the
// code under test.
#include "kernels/quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/quant_blocks.h"

namespace moelab {
namespace {

constexpr uint16_t kHalfOne = 0x3C00;      // 1.0
constexpr uint16_t kHalfHalf = 0x3800;     // 0.5
constexpr uint16_t kHalfQuarter = 0x3400;  // 0.25

std::vector<float> gaussian(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<float> dequant(DType type, const std::vector<uint8_t>& bytes, int64_t n) {
  std::vector<float> out(n);
  dequantize_row(type, bytes.data(), out.data(), n);
  return out;
}

template <typename Block>
std::vector<uint8_t> as_bytes(const Block& b) {
  std::vector<uint8_t> v(sizeof(Block));
  std::memcpy(v.data(), &b, sizeof(Block));
  return v;
}

TEST(QuantBlocks, SizesMatchDtypeTable) {
  EXPECT_EQ(dtype_info(DType::kQ4_0).block_bytes, (int64_t)sizeof(BlockQ4_0));
  EXPECT_EQ(dtype_info(DType::kQ4_1).block_bytes, (int64_t)sizeof(BlockQ4_1));
  EXPECT_EQ(dtype_info(DType::kQ5_0).block_bytes, (int64_t)sizeof(BlockQ5_0));
  EXPECT_EQ(dtype_info(DType::kQ5_1).block_bytes, (int64_t)sizeof(BlockQ5_1));
  EXPECT_EQ(dtype_info(DType::kQ8_0).block_bytes, (int64_t)sizeof(BlockQ8_0));
  EXPECT_EQ(dtype_info(DType::kQ2_K).block_bytes, (int64_t)sizeof(BlockQ2_K));
  EXPECT_EQ(dtype_info(DType::kQ3_K).block_bytes, (int64_t)sizeof(BlockQ3_K));
  EXPECT_EQ(dtype_info(DType::kQ4_K).block_bytes, (int64_t)sizeof(BlockQ4_K));
  EXPECT_EQ(dtype_info(DType::kQ5_K).block_bytes, (int64_t)sizeof(BlockQ5_K));
  EXPECT_EQ(dtype_info(DType::kQ6_K).block_bytes, (int64_t)sizeof(BlockQ6_K));
}

// ---------------------------------------------------------------- hand-built

TEST(Dequantize, HalfAndBfloatBitPatterns) {
  const uint16_t half[] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x3555, 0x0000};
  const float half_expected[] = {1.0f, -2.0f, 65504.0f, std::ldexp(1.0f, -24), 0.333251953125f,
                                 0.0f};
  float out[6];
  dequantize_row(DType::kF16, half, out, 6);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[i], half_expected[i]) << i;
  const uint16_t bf[] = {0x3F80, 0x4049, 0xC2F7, 0x0000};
  const float bf_expected[] = {1.0f, 3.140625f, -123.5f, 0.0f};
  dequantize_row(DType::kBF16, bf, out, 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], bf_expected[i]) << i;
}

TEST(Dequantize, Q8_0HandBuilt) {
  BlockQ8_0 b;
  b.d = kHalfHalf;
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j * 8 - 127);
  const auto out = dequant(DType::kQ8_0, as_bytes(b), 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(out[j], 0.5f * (j * 8 - 127)) << j;
}

TEST(Dequantize, Q4_0AndQ4_1HandBuilt) {
  BlockQ4_0 b;
  b.d = kHalfQuarter;
  // element j (< 16) = low nibble of qs[j], element j + 16 = its high nibble
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  auto out = dequant(DType::kQ4_0, as_bytes(b), 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(out[j], 0.25f * (j - 8));
    EXPECT_EQ(out[j + 16], 0.25f * (15 - j - 8));
  }
  BlockQ4_1 c;
  c.d = kHalfHalf;
  c.m = 0xBC00;  // -1.0
  for (int j = 0; j < 16; ++j) c.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  out = dequant(DType::kQ4_1, as_bytes(c), 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(out[j], 0.5f * j - 1.0f);
    EXPECT_EQ(out[j + 16], 0.5f * (15 - j) - 1.0f);
  }
}

TEST(Dequantize, Q5_0AndQ5_1HandBuilt) {
  // 5-bit levels q[e] = (7 * e + 3) % 32; bit 4 of element e is bit e of qh.
  int q[32];
  for (int e = 0; e < 32; ++e) q[e] = (7 * e + 3) % 32;
  uint32_t qh = 0;
  uint8_t qs[16];
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 15) | ((q[j + 16] & 15) << 4));
    qh |= static_cast<uint32_t>(q[j] >> 4) << j;
    qh |= static_cast<uint32_t>(q[j + 16] >> 4) << (j + 16);
  }
  BlockQ5_0 b;
  b.d = kHalfOne;
  std::memcpy(b.qh, &qh, 4);
  std::memcpy(b.qs, qs, 16);
  auto out = dequant(DType::kQ5_0, as_bytes(b), 32);
  for (int e = 0; e < 32; ++e) EXPECT_EQ(out[e], static_cast<float>(q[e] - 16)) << e;
  BlockQ5_1 c;
  c.d = kHalfHalf;
  c.m = kHalfQuarter;
  std::memcpy(c.qh, &qh, 4);
  std::memcpy(c.qs, qs, 16);
  out = dequant(DType::kQ5_1, as_bytes(c), 32);
  for (int e = 0; e < 32; ++e) EXPECT_EQ(out[e], 0.5f * q[e] + 0.25f) << e;
}

// Packs 2-bit values the K-quant way: in each 128-element half, byte l holds
// elements l, l+32, l+64, l+96 in bit pairs 0-1, 2-3, 4-5, 6-7.
void pack_2bit(const int* levels, uint8_t* qs) {
  for (int half = 0; half < 2; ++half) {
    for (int l = 0; l < 32; ++l) {
      const int* v = levels + 128 * half + l;
      qs[32 * half + l] = static_cast<uint8_t>((v[0] & 3) | ((v[32] & 3) << 2) |
                                               ((v[64] & 3) << 4) | ((v[96] & 3) << 6));
    }
  }
}

TEST(Dequantize, Q2_KHandBuilt) {
  BlockQ2_K b;
  b.d = kHalfHalf;
  b.dmin = kHalfQuarter;
  for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<uint8_t>((g % 16) | ((15 - g) << 4));
  int levels[256];
  for (int e = 0; e < 256; ++e) levels[e] = (e * 5 + e / 7) % 4;
  pack_2bit(levels, b.qs);
  const auto out = dequant(DType::kQ2_K, as_bytes(b), 256);
  for (int e = 0; e < 256; ++e) {
    const int g = e / 16;
    EXPECT_EQ(out[e], 0.5f * g * levels[e] - 0.25f * (15 - g)) << e;
  }
}

TEST(Dequantize, Q3_KHandBuilt) {
  BlockQ3_K b;
  std::memset(&b, 0, sizeof(b));
  b.d = kHalfQuarter;
  int scale6[16];  // stored 6-bit scales; the value is scale6 - 32
  for (int g = 0; g < 16; ++g) scale6[g] = (g * 13 + 5) % 64;
  for (int g = 0; g < 16; ++g) {
    b.scales[g % 8] |= static_cast<uint8_t>((scale6[g] & 15) << (4 * (g / 8)));
    b.scales[8 + g % 4] |= static_cast<uint8_t>((scale6[g] >> 4) << (2 * (g / 4)));
  }
  int q[256], low[256];
  for (int e = 0; e < 256; ++e) {
    q[e] = (e * 3 + e / 5) % 8;  // 3-bit level; value = q - 4
    low[e] = q[e] & 3;
    if (q[e] & 4) b.hmask[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
  }
  pack_2bit(low, b.qs);
  const auto out = dequant(DType::kQ3_K, as_bytes(b), 256);
  for (int e = 0; e < 256; ++e) {
    EXPECT_EQ(out[e], 0.25f * (scale6[e / 16] - 32) * (q[e] - 4)) << e;
  }
}

// Packs Q4_K / Q5_K 6-bit scales and mins of the 8 groups.
void pack_k4_scales(const int* sc, const int* mn, uint8_t* s) {
  std::memset(s, 0, 12);
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
  }
}

TEST(Dequantize, Q4_KHandBuilt) {
  BlockQ4_K b;
  b.d = kHalfHalf;
  b.dmin = kHalfQuarter;
  int sc[8], mn[8];
  for (int g = 0; g < 8; ++g) {
    sc[g] = 10 + 7 * g;  // 10..59: exercises the high bits of groups 4..7
    mn[g] = 63 - 5 * g;
  }
  pack_k4_scales(sc, mn, b.scales);
  int q[256];
  for (int e = 0; e < 256; ++e) q[e] = (e * 7 + e / 9) % 16;
  // chunk c (64 elements): qs[32c + l] low nibble = element 64c + l, high = 64c + 32 + l
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      b.qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    }
  }
  const auto out = dequant(DType::kQ4_K, as_bytes(b), 256);
  for (int e = 0; e < 256; ++e) {
    const int g = e / 32;
    EXPECT_EQ(out[e], 0.5f * sc[g] * q[e] - 0.25f * mn[g]) << e;
  }
}

TEST(Dequantize, Q5_KHandBuilt) {
  BlockQ5_K b;
  std::memset(&b, 0, sizeof(b));
  b.d = kHalfQuarter;
  b.dmin = kHalfHalf;
  int sc[8], mn[8];
  for (int g = 0; g < 8; ++g) {
    sc[g] = 63 - 6 * g;
    mn[g] = 3 + 8 * g;
  }
  pack_k4_scales(sc, mn, b.scales);
  int q[256];
  for (int e = 0; e < 256; ++e) q[e] = (e * 11 + e / 3) % 32;
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const int a = q[64 * c + l], h = q[64 * c + 32 + l];
      b.qs[32 * c + l] = static_cast<uint8_t>((a & 15) | ((h & 15) << 4));
      b.qh[l] |= static_cast<uint8_t>(((a >> 4) << (2 * c)) | ((h >> 4) << (2 * c + 1)));
    }
  }
  const auto out = dequant(DType::kQ5_K, as_bytes(b), 256);
  for (int e = 0; e < 256; ++e) {
    const int g = e / 32;
    EXPECT_EQ(out[e], 0.25f * sc[g] * q[e] - 0.5f * mn[g]) << e;
  }
}

TEST(Dequantize, Q6_KHandBuilt) {
  BlockQ6_K b;
  std::memset(&b, 0, sizeof(b));
  b.d = kHalfQuarter;
  for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<int8_t>(g * 9 - 70);
  int q[256];
  for (int e = 0; e < 256; ++e) q[e] = (e * 13 + e / 11) % 64;
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const int* v = q + 128 * h + l;
      b.ql[64 * h + l] = static_cast<uint8_t>((v[0] & 15) | ((v[64] & 15) << 4));
      b.ql[64 * h + 32 + l] = static_cast<uint8_t>((v[32] & 15) | ((v[96] & 15) << 4));
      b.qh[32 * h + l] = static_cast<uint8_t>((v[0] >> 4) | ((v[32] >> 4) << 2) |
                                              ((v[64] >> 4) << 4) | ((v[96] >> 4) << 6));
    }
  }
  const auto out = dequant(DType::kQ6_K, as_bytes(b), 256);
  for (int e = 0; e < 256; ++e) {
    EXPECT_EQ(out[e], 0.25f * b.scales[e / 16] * (q[e] - 32)) << e;
  }
}

// ------------------------------------------------------------ exact round trip

void expect_exact_round_trip(DType type, const std::vector<float>& x) {
  std::vector<uint8_t> bytes(dtype_row_bytes(type, x.size()));
  quantize_row(type, x.data(), bytes.data(), x.size());
  const auto back = dequant(type, bytes, x.size());
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(back[i], x[i]) << dtype_info(type).name << i;
}

TEST(RoundTrip, ExactlyRepresentableValues) {
  // F16 / BF16: values with few mantissa bits in range.
  std::vector<float> plain;
  for (int i = -64; i < 64; ++i) plain.push_back(std::ldexp(static_cast<float>(i), i % 7));
  expect_exact_round_trip(DType::kF32, plain);
  expect_exact_round_trip(DType::kF16, plain);
  expect_exact_round_trip(DType::kBF16, plain);

  // Q8_0: d * q with d a power of two and |q| = 127 present: amax / 127 = d.
  std::vector<float> q8(64);
  for (int i = 0; i < 64; ++i) q8[i] = 0.0625f * ((i * 37) % 255 - 127);
  q8[5] = 0.0625f * 127;
  q8[40] = -0.0625f * 127;
  expect_exact_round_trip(DType::kQ8_0, q8);

  // Q4_0 / Q5_0: d * (q - 8) (d * (q - 16)) with the most negative level as
  // the largest magnitude, so d = max / -8 (-16) is exactly the power of two.
  std::vector<float> q4(64), q5(64);
  for (int i = 0; i < 64; ++i) {
    q4[i] = 0.5f * ((i * 5) % 16 - 8);
    q5[i] = 0.25f * ((i * 7) % 32 - 16);
  }
  q4[0] = q4[32] = -4.0f;
  q5[0] = q5[32] = -4.0f;
  expect_exact_round_trip(DType::kQ4_0, q4);
  expect_exact_round_trip(DType::kQ5_0, q5);
}

// ------------------------------------------------------------- error bounds

double relative_rms_error(DType type, const std::vector<float>& x) {
  std::vector<uint8_t> bytes(dtype_row_bytes(type, x.size()));
  quantize_row(type, x.data(), bytes.data(), x.size());
  const auto back = dequant(type, bytes, x.size());
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (back[i] - x[i]) * static_cast<double>(back[i] - x[i]);
    ref += x[i] * static_cast<double>(x[i]);
  }
  return std::sqrt(err / ref);
}

// A uniform quantizer with step s has RMS error s / sqrt(12). For N(0, 1)
// data a block of 32 has max |x| near 2.1 (256: near 2.8) so the steps are
// about 2 * 2.1 / (levels - 1); the bounds below are that estimate with
// ~50% headroom, and the searched K-quant scales land well below it.
struct ErrorBound {
  DType type;
  double bound;
};

class RoundTripError : public ::testing::TestWithParam<ErrorBound> {};

TEST_P(RoundTripError, BelowBound) {
  const auto x = gaussian(8192, 1234);
  const double err = relative_rms_error(GetParam().type, x);
  EXPECT_LT(err, GetParam().bound) << dtype_info(GetParam().type).name;
  RecordProperty("rel_rms_error", std::to_string(err));
  EXPECT_GT(err, 0.0);  // a lossy type that is lossless here is not quantizing
}

INSTANTIATE_TEST_SUITE_P(
    AllLossyTypes, RoundTripError,
    ::testing::Values(ErrorBound{DType::kQ8_0, 0.007},   // s = 2.1/127: 0.48%
                      ErrorBound{DType::kQ6_K, 0.025},   // 64 levels over ~±2.8: 2.5%
                      ErrorBound{DType::kQ5_0, 0.06},    // s = 2.1/16: 3.8%
                      ErrorBound{DType::kQ5_1, 0.05},    // (max-min)/31: 3.2%
                      ErrorBound{DType::kQ5_K, 0.045},   // 32 levels per 32 + search
                      ErrorBound{DType::kQ4_0, 0.12},    // s = 2.1/8: 7.6%
                      ErrorBound{DType::kQ4_1, 0.10},    // (max-min)/15: 6.6%
                      ErrorBound{DType::kQ4_K, 0.09},    // 16 levels per 32 + search
                      ErrorBound{DType::kQ3_K, 0.20},    // 8 levels per 16
                      ErrorBound{DType::kQ2_K, 0.40},    // 4 levels per 16
                      ErrorBound{DType::kF16, 0.0005},   // 11-bit mantissa: 2^-11/sqrt(3)
                      ErrorBound{DType::kBF16, 0.004}),  // 8-bit mantissa: 2^-8/sqrt(3)
    [](const auto& info) { return std::string(dtype_info(info.param.type).name); });

TEST(RoundTrip, ZeroRowsStayZero) {
  const std::vector<float> zeros(512, 0.0f);
  for (DType t : {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                  DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    expect_exact_round_trip(t, zeros);
  }
}

// Values that are already on a type's grid come back on the grid: quantizing
// a dequantized row and dequantizing again changes nothing for the
// max-scaled types (their scale is recovered exactly from the grid).
TEST(RoundTrip, Q8_0IsIdempotent) {
  const auto x = gaussian(1024, 99);
  std::vector<uint8_t> a(dtype_row_bytes(DType::kQ8_0, 1024)), b(a.size());
  quantize_row(DType::kQ8_0, x.data(), a.data(), 1024);
  const auto once = dequant(DType::kQ8_0, a, 1024);
  quantize_row(DType::kQ8_0, once.data(), b.data(), 1024);
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace moelab

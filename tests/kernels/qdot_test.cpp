// The 8-bit activation path: the quantizers against the formulas of ggml's
// quantize_row_q8_0_ref / quantize_row_q8_K_ref re-derived here in double
// precision, the scalar integer dots against a double dot of the dequantized
// weights and activations, every SIMD integer kernel the host has against
// the scalar one (bit-exact where every float step is exact, within rounding
// otherwise), and matmul_rows_quantized against matmul.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/fp16.h"
#include "kernels/matmul.h"
#include "kernels/matmul_kernels.h"
#include "kernels/qdot.h"
#include "kernels/quant.h"

namespace moelab {
namespace {

using kernels_internal::ActFormat;
using kernels_internal::ActRow;
using kernels_internal::QuantRowsFn;

const DType kIntTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ5_0,
                           DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

std::vector<float> random_floats(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<uint8_t> quantize_act(ActFormat f, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> buf(kernels_internal::act_row_bytes(f, n));
  kernels_internal::quantize_act_row(f, x.data(), n, buf.data());
  return buf;
}

TEST(Qdot, Q8_0QuantizerFollowsGgmlFormula) {
  std::vector<float> x = random_floats(256, 1, 3.0f);
  for (int j = 32; j < 64; ++j) x[j] = 0.0f;  // an all-zero block
  x[70] = 0.5f * 3.0f;                         // exact halves round away from zero
  const std::vector<uint8_t> buf = quantize_act(ActFormat::kQ8_0, x);
  const ActRow a = kernels_internal::act_row(ActFormat::kQ8_0, buf.data(), 256);
  for (int b = 0; b < 8; ++b) {
    double amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(double(x[32 * b + j])));
    const float d = static_cast<float>(amax) / 127;  // float division, as ggml
    EXPECT_EQ(a.d[b], fp16_to_fp32(fp32_to_fp16(d))) << "block " << b;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    int32_t sum = 0;
    for (int j = 0; j < 32; ++j) {
      const double v = double(x[32 * b + j] * id);  // the float product, then round half away
      const int expect = static_cast<int>(v < 0 ? -std::floor(-v + 0.5) : std::floor(v + 0.5));
      EXPECT_EQ(a.qs[32 * b + j], expect) << "block " << b << " j " << j;
      EXPECT_LE(std::abs(expect), 127);
      sum += a.qs[32 * b + j];
    }
    EXPECT_EQ(a.sum[b], sum);
  }
}

TEST(Qdot, Q8_KQuantizerFollowsGgmlFormula) {
  std::vector<float> x = random_floats(768, 2, 0.7f);
  for (int j = 256; j < 512; ++j) x[j] = 0.0f;  // an all-zero super-block
  x[600] = -10.0f;                              // a negative extreme sets the sign of d
  const std::vector<uint8_t> buf = quantize_act(ActFormat::kQ8_K, x);
  const ActRow a = kernels_internal::act_row(ActFormat::kQ8_K, buf.data(), 768);
  for (int b = 0; b < 3; ++b) {
    float max = 0, amax = 0;
    for (int j = 0; j < 256; ++j) {
      if (std::fabs(x[256 * b + j]) > amax) amax = std::fabs(x[256 * b + j]), max = x[256 * b + j];
    }
    const float iscale = amax != 0 ? -127.f / max : 0.0f;
    EXPECT_EQ(a.d[b], amax != 0 ? 1 / iscale : 0.0f);
    for (int j = 0; j < 256; ++j) {
      // nearest, ties to even (the product is a float, as in ggml)
      const int expect = std::min(127, static_cast<int>(std::nearbyint(double(iscale * x[256 * b + j]))));
      EXPECT_EQ(a.qs[256 * b + j], expect) << "block " << b << " j " << j;
    }
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += a.qs[256 * b + 16 * g + j];
      EXPECT_EQ(a.bsums[16 * b + g], s);
    }
  }
  // The extreme always maps to -127 (iscale = -127 / max), and the scale's
  // sign makes q·d reproduce it.
  EXPECT_EQ(a.qs[600], -127);
  EXPECT_NEAR(a.qs[600] * a.d[2], -10.0f, 1e-5);
}

// The AVX-512 quantizers against the scalar reference, bit for bit, on
// random rows and on the rounding edges: a block whose largest magnitude is
// -127 has scale exactly 1 (both formats), so the products are the values
// themselves and their rounding is checked by hand: roundf sends halves
// away from zero (Q8_0), nearest_int to even (Q8_K), 0.49999997 down.
TEST(Qdot, VectorQuantizersEqualScalar) {
  if (!isa_supported(Isa::kAvx512)) GTEST_SKIP() << "no AVX-512 on this host";
  const float edges[] = {0.49999997f, 0.5f,  -0.5f, 1.5f,        2.5f,   -2.5f,
                         0.50000006f, -0.49999997f, 126.5f, -126.5f, 3.4999998f, -0.0f};
  const int q8_0_want[] = {0, 1, -1, 2, 3, -3, 1, 0, 127, -127, 3, 0};
  const int q8_k_want[] = {0, 0, 0, 2, 2, -2, 1, 0, 126, -126, 3, 0};
  for (ActFormat f : {ActFormat::kQ8_0, ActFormat::kQ8_K}) {
    const int64_t n = 2304;
    std::vector<float> x = random_floats(n, 77, 2.0f);
    for (int j = 256; j < 512; ++j) x[j] = 0.0f;                // an all-zero (super-)block
    x[600] = 5.0f, x[610] = -5.0f, x[620] = 5.0f;                // magnitude ties: the first wins
    for (int j = 1024; j < 1280; ++j) x[j] = 0.25f * static_cast<float>(j % 7) - 0.75f;
    x[1024] = -127.0f;                                           // scale exactly 1
    for (int k = 0; k < 12; ++k) x[1025 + k] = edges[k];
    std::vector<uint8_t> ref(kernels_internal::act_row_bytes(f, n)), got(ref.size());
    kernels_internal::quantize_act_row_scalar(f, x.data(), n, ref.data());
    kernels_internal::quantize_act_row_avx512(f, x.data(), n, got.data());
    EXPECT_EQ(got, ref) << (f == ActFormat::kQ8_0 ? "q8_0" : "q8_K");
    const ActRow a = kernels_internal::act_row(f, got.data(), n);
    for (int k = 0; k < 12; ++k) {
      const int want = f == ActFormat::kQ8_0 ? q8_0_want[k] : q8_k_want[k];
      EXPECT_EQ(a.qs[1025 + k], want) << "edge " << edges[k];
    }
  }
}

struct IntProblem {
  DType type;
  int64_t n_in, n_rows;
  std::vector<uint8_t> w;               // [n_rows, row_bytes]
  std::vector<std::vector<uint8_t>> x;  // n_tok quantized rows
  int64_t row_bytes() const { return dtype_row_bytes(type, n_in); }
  ActFormat format() const { return kernels_internal::act_format_for(type); }
};

IntProblem make_int_problem(DType type, int64_t n_in, int64_t n_rows, int n_tok, uint32_t seed) {
  IntProblem p{type, n_in, n_rows, {}, {}};
  const std::vector<float> w = random_floats(n_in * n_rows, seed);
  p.w.resize(p.row_bytes() * n_rows);
  for (int64_t r = 0; r < n_rows; ++r) {
    quantize_row(type, w.data() + r * n_in, p.w.data() + r * p.row_bytes(), n_in);
  }
  for (int t = 0; t < n_tok; ++t) p.x.push_back(quantize_act(p.format(), random_floats(n_in, seed + 100 + t)));
  return p;
}

std::vector<float> run_kernel(QuantRowsFn fn, const IntProblem& p) {
  const int n_tok = static_cast<int>(p.x.size());
  std::vector<const uint8_t*> xq;
  for (const auto& x : p.x) xq.push_back(x.data());
  std::vector<float> y(n_tok * p.n_rows, NAN);
  fn(p.w.data(), p.row_bytes(), p.n_rows, p.n_in, xq.data(), n_tok, y.data(), p.n_rows);
  return y;
}

// Σ |w a| over the row: the scale of the float rounding.
double abs_dot(const IntProblem& p, int64_t r, int t, double* exact) {
  std::vector<float> wd(p.n_in);
  dequantize_row(p.type, p.w.data() + r * p.row_bytes(), wd.data(), p.n_in);
  const ActRow a = kernels_internal::act_row(p.format(), p.x[t].data(), p.n_in);
  const int64_t blk = p.format() == ActFormat::kQ8_0 ? 32 : 256;
  double s = 0, sa = 0;
  for (int64_t j = 0; j < p.n_in; ++j) {
    const double av = double(a.qs[j]) * a.d[j / blk];
    s += wd[j] * av;
    sa += std::fabs(wd[j] * av);
  }
  *exact = s;
  return sa;
}

TEST(Qdot, ScalarMatchesDoubleDotOfDequantizedValues) {
  for (DType type : kIntTypes) {
    const IntProblem p = make_int_problem(type, 768, 9, 3, 7);
    const std::vector<float> y = run_kernel(kernels_internal::scalar_quant_rows(type), p);
    for (int t = 0; t < 3; ++t) {
      for (int64_t r = 0; r < p.n_rows; ++r) {
        double exact;
        const double scale = abs_dot(p, r, t, &exact);
        // Dequantized weights are float products (d·sc)·q, the kernel's are
        // integer sums scaled once: they differ by float rounding only.
        EXPECT_NEAR(y[t * p.n_rows + r], exact, 1e-5 * scale)
            << dtype_info(type).name << " r=" << r << " t=" << t;
      }
    }
  }
}

QuantRowsFn kernel_for(Isa isa, DType type) {
  const kernels_internal::MatmulKernels& k = isa == Isa::kAvx512 ? kernels_internal::avx512_kernels()
                                             : isa == Isa::kAvx2 ? kernels_internal::avx2_kernels()
                                                                 : kernels_internal::scalar_kernels();
  return k.quant_rows(type);
}

class QdotIsa : public ::testing::TestWithParam<Isa> {};

// Every kernel takes the exact integer dot of each block (super-block) and
// then the reference's float steps in block order, so the SIMD kernels equal
// the scalar reference bit for bit, at every token count (decode tiles for
// 1-4 tokens, a panel reused by token tiles beyond), row count (slabs of 16
// rows, two per tile: 1, 11, 37 leave partial slabs) and row length (one
// super-block, an odd number of Q8_0 blocks, 2304; for the legacy types also
// 3 blocks (one odd pair, one partial Q4_0/Q5_0 quad), 41 blocks (a quad and
// a lone block), 128 (Q5_0's attn_k_b) and 2048 (several chunks of block
// pairs or quads on the decode path)).
TEST_P(QdotIsa, MatchesScalarBitForBit) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not supported on this host";
  for (DType type : kIntTypes) {
    const QuantRowsFn fn = kernel_for(isa, type);
    if (fn == nullptr) continue;  // this family runs the float path for it
    const bool legacy = dtype_info(type).block_elems == 32;
    const std::vector<int64_t> lengths =
        legacy ? std::vector<int64_t>{96, 128, 256, 1312, 2048, 2304}
               : std::vector<int64_t>{256, 1280, 2304};
    for (const int64_t n_in : lengths) {
      for (const int64_t n_rows : {1, 11, 37}) {
        for (int n_tok : {1, 2, 3, 4, 5, 9, 33}) {
          if (n_in >= 2048 && n_tok > 9 && n_rows < 37) continue;  // keep the test fast
          const IntProblem p = make_int_problem(type, n_in, n_rows, n_tok,
                                                static_cast<uint32_t>(40 + n_tok + n_rows));
          const std::vector<float> ref = run_kernel(kernels_internal::scalar_quant_rows(type), p);
          const std::vector<float> y = run_kernel(fn, p);
          for (int t = 0; t < n_tok; ++t) {
            for (int64_t r = 0; r < p.n_rows; ++r) {
              ASSERT_EQ(y[t * p.n_rows + r], ref[t * p.n_rows + r])
                  << isa_name(isa) << " " << dtype_info(type).name << " n_in=" << n_in
                  << " rows=" << n_rows << " n_tok=" << n_tok << " r=" << r << " t=" << t;
            }
          }
        }
      }
    }
  }
}

// Scales that are powers of two and small quants make every float step
// exact, so the SIMD kernels must equal the scalar reference bit for bit:
// any difference is in the integer part (a wrong nibble, scale, min, offset
// or lane).
TEST_P(QdotIsa, IntegerPartIsExact) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not supported on this host";
  std::mt19937 rng(5);
  for (DType type : kIntTypes) {
    const QuantRowsFn fn = kernel_for(isa, type);
    if (fn == nullptr) continue;
    IntProblem p = make_int_problem(type, dtype_info(type).block_elems == 32 ? 1312 : 1280, 7, 4, 9);
    // Random bytes everywhere, then the fp16 scales set to 2^-k.
    for (auto& b : p.w) b = static_cast<uint8_t>(rng());
    const DTypeInfo& info = dtype_info(type);
    const int64_t nb = p.n_in / info.block_elems;
    auto set_half = [&](uint8_t* at, int e) {
      const uint16_t h = fp32_to_fp16(std::ldexp(1.0f, e));
      std::memcpy(at, &h, 2);
    };
    for (int64_t r = 0; r < p.n_rows; ++r) {
      for (int64_t i = 0; i < nb; ++i) {
        uint8_t* blk = p.w.data() + r * p.row_bytes() + i * info.block_bytes;
        switch (type) {
          case DType::kQ4_K:
          case DType::kQ5_K:
            set_half(blk, -4), set_half(blk + 2, -6);  // d, dmin
            break;
          case DType::kQ6_K:
            set_half(blk + info.block_bytes - 2, -5);
            break;
          default:
            set_half(blk, -3);
            break;
        }
      }
    }
    // Activations in [-2, 2] with scales 2^-3 (every partial sum stays below
    // 2^24 units), and sums to match.
    for (auto& x : p.x) {
      const ActRow a = kernels_internal::act_row(p.format(), x.data(), p.n_in);
      auto* qs = const_cast<int8_t*>(a.qs);
      for (int64_t j = 0; j < p.n_in; ++j) qs[j] = static_cast<int8_t>(static_cast<int>(rng() % 5) - 2);
      const int64_t blk = p.format() == ActFormat::kQ8_0 ? 32 : 256;
      for (int64_t b = 0; b < p.n_in / blk; ++b) const_cast<float*>(a.d)[b] = 0.125f;
      if (p.format() == ActFormat::kQ8_0) {
        for (int64_t b = 0; b < p.n_in / 32; ++b) {
          int32_t s = 0;
          for (int j = 0; j < 32; ++j) s += qs[32 * b + j];
          const_cast<int32_t*>(a.sum)[b] = s;
        }
      } else {
        for (int64_t g = 0; g < p.n_in / 16; ++g) {
          int s = 0;
          for (int j = 0; j < 16; ++j) s += qs[16 * g + j];
          const_cast<int16_t*>(a.bsums)[g] = static_cast<int16_t>(s);
        }
      }
    }
    const std::vector<float> ref = run_kernel(kernels_internal::scalar_quant_rows(type), p);
    const std::vector<float> y = run_kernel(fn, p);
    EXPECT_EQ(y, ref) << isa_name(isa) << " " << info.name;
  }
}

// Long rows (5632 = 22 super-blocks / 176 blocks: many chunks of the decode
// walk, and a last chunk that is partial) with row counts past a slab and a
// row pass (75 = 9 slabs of 8 + 3, 37 = 2 slabs of 16 + 5), at every decode
// token count and in token groups beyond (6 = 4 + 2, 9 = 4 + 4 + 1).
TEST_P(QdotIsa, LongRowsMatchScalarBitForBit) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not supported on this host";
  for (DType type : kIntTypes) {
    const QuantRowsFn fn = kernel_for(isa, type);
    if (fn == nullptr) continue;
    for (const int64_t n_rows : {37, 75}) {
      for (int n_tok : {1, 2, 3, 4, 6, 9}) {
        if (n_rows == 75 && n_tok != 1 && n_tok != 6) continue;  // keep the test fast
        const IntProblem p =
            make_int_problem(type, 5632, n_rows, n_tok, static_cast<uint32_t>(900 + n_tok));
        const std::vector<float> ref = run_kernel(kernels_internal::scalar_quant_rows(type), p);
        const std::vector<float> y = run_kernel(fn, p);
        for (size_t j = 0; j < y.size(); ++j) {
          ASSERT_EQ(y[j], ref[j]) << isa_name(isa) << " " << dtype_info(type).name
                                  << " rows=" << n_rows << " n_tok=" << n_tok << " t="
                                  << j / n_rows << " r=" << j % n_rows;
        }
      }
    }
  }
}

// Any split of the rows over calls (as threads and MoE experts split them)
// gives the whole call's bits, for this ISA's kernels directly (the matmul
// level test below only reaches the host's best ISA).
TEST_P(QdotIsa, RowsSplitAnywhereGiveTheSameBits) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not supported on this host";
  for (DType type : kIntTypes) {
    const QuantRowsFn fn = kernel_for(isa, type);
    if (fn == nullptr) continue;
    const int64_t n_in = dtype_info(type).block_elems == 32 ? 640 : 768;
    for (int n_tok : {1, 3, 4, 7}) {
      const IntProblem p =
          make_int_problem(type, n_in, 83, n_tok, static_cast<uint32_t>(60 + n_tok));
      const std::vector<float> whole = run_kernel(fn, p);
      std::vector<const uint8_t*> xq;
      for (const auto& x : p.x) xq.push_back(x.data());
      std::vector<float> y(whole.size(), NAN);
      for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, 5}, {5, 13}, {13, 14}, {14, 40},
                            {40, 83}}) {
        fn(p.w.data() + r0 * p.row_bytes(), p.row_bytes(), r1 - r0, n_in, xq.data(), n_tok,
           y.data() + r0, p.n_rows);
      }
      EXPECT_EQ(y, whole) << isa_name(isa) << " " << dtype_info(type).name << " n_tok=" << n_tok;
    }
  }
}

// Every family has an integer kernel for every type with an activation
// format, so the tests above really run them (none is skipped as missing).
TEST_P(QdotIsa, HasKernelForEveryIntegerType) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not supported on this host";
  for (DType type : kIntTypes) {
    EXPECT_NE(kernel_for(isa, type), nullptr) << isa_name(isa) << " " << dtype_info(type).name;
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, QdotIsa, ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

TEST(Qdot, QuantizedRowsSplitAnywhereEqualMatmul) {
  ThreadPool pool(2);
  for (DType type : kIntTypes) {
    const DType at = quantized_activation_type(type);
    if (at == DType::kF32) continue;
    const bool legacy = dtype_info(type).block_elems == 32;
    for (const int64_t n_in : legacy ? std::vector<int64_t>{128, 512, 2048}
                                     : std::vector<int64_t>{512, 2048}) {
      for (int64_t n_tok : {1, 3, 7}) {
        const int64_t n_out = 61;
        const std::vector<float> w = random_floats(n_in * n_out, 3);
        const std::vector<float> x = random_floats(n_in * n_tok, 4);
        std::vector<uint8_t> wq(dtype_row_bytes(type, n_in) * n_out);
        for (int64_t r = 0; r < n_out; ++r) {
          quantize_row(type, w.data() + r * n_in, wq.data() + r * dtype_row_bytes(type, n_in), n_in);
        }
        TensorView v;
        v.type = type;
        v.n_dims = 2;
        v.ne = {n_in, n_out, 1, 1};
        v.data = wq.data();
        std::vector<float> ref(n_tok * n_out), y(n_tok * n_out, NAN);
        matmul(v, x.data(), n_tok, ref.data(), pool, Activations::kQuantized);
        const int64_t bytes = quantized_activation_bytes(at, n_in);
        std::vector<uint8_t> xq(bytes * n_tok);
        std::vector<const uint8_t*> ptrs;
        for (int64_t t = 0; t < n_tok; ++t) {
          quantize_activation(at, x.data() + t * n_in, n_in, xq.data() + t * bytes);
          ptrs.push_back(xq.data() + t * bytes);
        }
        for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, 5}, {5, 16}, {16, 23}, {23, 48}, {48, 61}}) {
          matmul_rows_quantized(v, ptrs.data(), n_tok, y.data(), n_out, r0, r1);
        }
        EXPECT_EQ(y, ref) << dtype_info(type).name << " n_in=" << n_in << " n_tok=" << n_tok;
      }
    }
  }
}

}  // namespace
}  // namespace moelab

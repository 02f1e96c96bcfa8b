// Every SIMD variant of the vector ops against the scalar reference (and the
// scalar reference against a double-precision sum), over lengths that hit
// every tail case.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/matmul.h"  // isa_supported
#include "kernels/ops.h"

namespace moelab {
namespace {

TEST(Ops, DotAndAxpyVariantsMatchScalar) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (!isa_supported(isa)) continue;
    for (int64_t n : {0, 1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 512, 576, 1000}) {
      std::vector<float> a(n), b(n), y(n), y_ref(n);
      for (int64_t i = 0; i < n; ++i) {
        a[i] = dist(rng);
        b[i] = dist(rng);
        y[i] = y_ref[i] = dist(rng);
      }
      double exact = 0.0, magnitude = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        exact += double(a[i]) * b[i];
        magnitude += std::abs(double(a[i]) * b[i]);
      }
      const float got = dot_f32_with_isa(isa, a.data(), b.data(), n);
      EXPECT_NEAR(got, exact, 1e-6 * (magnitude + 1)) << isa_name(isa) << " n=" << n;
      axpy_with_isa(isa, 0.37f, a.data(), y.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const double want = double(y_ref[i]) + 0.37 * a[i];
        EXPECT_NEAR(y[i], want, 1e-6 * (std::abs(want) + 1)) << isa_name(isa) << " n=" << n << " i=" << i;
      }
    }
  }
}


constexpr Isa kIsas[] = {Isa::kScalar, Isa::kAvx2, Isa::kAvx512};
constexpr int64_t kLengths[] = {1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 576, 1000};

std::vector<float> randn(int64_t n, std::mt19937& rng, float sd = 1.0f) {
  std::normal_distribution<float> dist(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// The polynomial exp against the double-precision exp on a dense sweep of
// the range softmax and SiLU use. Bound: 3e-7 relative (about 2.5 ulp).
TEST(Ops, ExpVariantsWithinStatedError) {
  std::vector<float> x;
  for (double v = -87.0; v <= 88.0; v += 0.00731) x.push_back(static_cast<float>(v));
  for (float v : {0.0f, -0.0f, 1e-8f, -1e-8f, 0.34657359f, -0.34657359f, 1.0f}) x.push_back(v);
  for (Isa isa : kIsas) {
    if (!isa_supported(isa)) continue;
    std::vector<float> y(x.size());
    exp_f32_with_isa(isa, x.data(), y.data(), static_cast<int64_t>(x.size()));
    double worst = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = std::exp(static_cast<double>(x[i]));
      worst = std::max(worst, std::abs(y[i] - want) / want);
    }
    EXPECT_LT(worst, 3e-7) << isa_name(isa);
    // Below the clamp: tiny but finite and never negative.
    const float low[3] = {-100.0f, -1e30f, -INFINITY};
    float out[3];
    exp_f32_with_isa(isa, low, out, 3);
    for (float o : out) EXPECT_TRUE(o >= 0.0f && o < 1.2e-38f) << isa_name(isa) << " " << o;
  }
}

TEST(Ops, RmsNormVariantsMatchDoubleReference) {
  std::mt19937 rng(11);
  for (Isa isa : kIsas) {
    if (!isa_supported(isa)) continue;
    for (int64_t n : kLengths) {
      const std::vector<float> x = randn(n, rng, 3.0f), w = randn(n, rng);
      double ss = 0.0;
      for (float v : x) ss += double(v) * v;
      const double scale = 1.0 / std::sqrt(ss / n + 1e-6);
      std::vector<float> y(n), y_nw(n), inplace = x;
      rms_norm_with_isa(isa, x.data(), w.data(), y.data(), n, 1e-6f);
      rms_norm_with_isa(isa, x.data(), nullptr, y_nw.data(), n, 1e-6f);
      rms_norm_with_isa(isa, inplace.data(), w.data(), inplace.data(), n, 1e-6f);
      for (int64_t i = 0; i < n; ++i) {
        const double want = x[i] * scale * w[i], want_nw = x[i] * scale;
        EXPECT_NEAR(y[i], want, 1e-6 * (std::abs(want) + 1e-3)) << isa_name(isa) << " n=" << n;
        EXPECT_NEAR(y_nw[i], want_nw, 1e-6 * (std::abs(want_nw) + 1e-3)) << isa_name(isa);
        EXPECT_EQ(inplace[i], y[i]) << isa_name(isa) << " in place n=" << n;
      }
    }
  }
}

TEST(Ops, SoftmaxVariantsMatchDoubleReference) {
  std::mt19937 rng(12);
  for (Isa isa : kIsas) {
    if (!isa_supported(isa)) continue;
    for (int64_t n : kLengths) {
      for (float sd : {1.0f, 30.0f}) {  // flat and sharply peaked
        std::vector<float> x = randn(n, rng, sd);
        const std::vector<float> in = x;
        softmax_inplace_with_isa(isa, x.data(), n);
        const double mx = *std::max_element(in.begin(), in.end());
        double sum = 0.0;
        for (float v : in) sum += std::exp(double(v) - mx);
        double total = 0.0;
        for (int64_t i = 0; i < n; ++i) {
          const double want = std::exp(double(in[i]) - mx) / sum;
          EXPECT_NEAR(x[i], want, 1e-6 * want + 1e-9) << isa_name(isa) << " n=" << n << " sd=" << sd;
          total += x[i];
        }
        EXPECT_NEAR(total, 1.0, 1e-5) << isa_name(isa);
      }
    }
  }
}

TEST(Ops, SiluMulVariantsMatchDoubleReference) {
  std::mt19937 rng(13);
  for (Isa isa : kIsas) {
    if (!isa_supported(isa)) continue;
    for (int64_t n : kLengths) {
      std::vector<float> g = randn(n, rng, 4.0f), u = randn(n, rng), out(n);
      if (n > 2) {
        g[0] = -100.0f;  // e^100 beyond float: the gate must still give ~0
        g[1] = 100.0f;
      }
      silu_mul_with_isa(isa, g.data(), u.data(), out.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const double want = g[i] / (1.0 + std::exp(-double(g[i]))) * u[i];
        EXPECT_NEAR(out[i], want, 1e-6 * std::abs(want) + 1e-30) << isa_name(isa) << " n=" << n << " i=" << i;
      }
      std::vector<float> alias = g;  // out may alias gate (the FFN does this)
      silu_mul_with_isa(isa, alias.data(), u.data(), alias.data(), n);
      EXPECT_EQ(alias, out) << isa_name(isa);
    }
  }
}

TEST(Ops, RopeRotateVariantsMatchDoubleReference) {
  std::mt19937 rng(14);
  for (Isa isa : kIsas) {
    if (!isa_supported(isa)) continue;
    for (bool neox : {false, true}) {
      for (int32_t n_pairs : {1, 4, 8, 13, 16, 32, 64}) {
        for (int32_t extra : {0, 6}) {  // rotating part of a head only, as MLA's k_pe does
          const int32_t n_heads = 3, stride = 2 * n_pairs + extra;
          const std::vector<float> x = randn(int64_t{n_heads} * stride, rng);
          std::vector<float> cs(n_pairs), sn(n_pairs);
          for (int32_t i = 0; i < n_pairs; ++i) {
            const double angle = 0.37 * (i + 1) * 17.0;
            cs[i] = static_cast<float>(std::cos(angle));
            sn[i] = static_cast<float>(std::sin(angle));
          }
          std::vector<float> y = x;
          rope_rotate_with_isa(isa, y.data(), n_heads, stride, cs.data(), sn.data(), n_pairs, neox);
          for (int32_t h = 0; h < n_heads; ++h) {
            const float* xh = x.data() + h * stride;
            const float* yh = y.data() + h * stride;
            for (int32_t i = 0; i < n_pairs; ++i) {
              const int32_t ia = neox ? i : 2 * i, ib = neox ? i + n_pairs : 2 * i + 1;
              const double a = double(xh[ia]) * cs[i] - double(xh[ib]) * sn[i];
              const double b = double(xh[ia]) * sn[i] + double(xh[ib]) * cs[i];
              EXPECT_NEAR(yh[ia], a, 1e-6) << isa_name(isa) << " neox=" << neox << " pairs=" << n_pairs;
              EXPECT_NEAR(yh[ib], b, 1e-6) << isa_name(isa) << " neox=" << neox << " pairs=" << n_pairs;
            }
            for (int32_t i = 2 * n_pairs; i < stride; ++i) EXPECT_EQ(yh[i], xh[i]) << "untouched tail";
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace moelab

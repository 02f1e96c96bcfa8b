// Every SIMD variant of the vector ops against the scalar reference (and the
// scalar reference against a double-precision sum), over lengths that hit
// every tail case.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace moelab

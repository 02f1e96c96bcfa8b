// matmul against a double-precision dot of the dequantized weights (the
// scalar reference), and every SIMD family this host supports against the
// scalar reference, for every computable type, both the fused (few tokens)
// and the panel (many tokens) paths, and shapes with ragged edges.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/matmul_kernels.h"
#include "kernels/quant.h"

namespace moelab {
namespace {

const DType kTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ4_0, DType::kQ4_1,
                        DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ2_K, DType::kQ3_K,
                        DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

struct Shape {
  int64_t n_in, n_out, n_tok;
};

struct Problem {
  DType type;
  int64_t n_in, n_out, n_tok;
  std::vector<uint8_t> w_bytes;  // [n_out, n_in] in `type`
  std::vector<float> w_deq;      // [n_out, n_in] dequantized
  std::vector<float> x;          // [n_tok, n_in]
  TensorView view() const {
    TensorView v;
    v.type = type;
    v.n_dims = 2;
    v.ne = {n_in, n_out, 1, 1};
    v.data = w_bytes.data();
    return v;
  }
};

Problem make_problem(DType type, Shape s, uint32_t seed) {
  Problem p{type, s.n_in, s.n_out, s.n_tok, {}, {}, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> w(s.n_out * s.n_in);
  for (auto& v : w) v = dist(rng);
  p.x.resize(s.n_tok * s.n_in);
  for (auto& v : p.x) v = dist(rng);
  const int64_t row_bytes = dtype_row_bytes(type, s.n_in);
  p.w_bytes.resize(row_bytes * s.n_out);
  p.w_deq.resize(w.size());
  for (int64_t r = 0; r < s.n_out; ++r) {
    quantize_row(type, w.data() + r * s.n_in, p.w_bytes.data() + r * row_bytes, s.n_in);
    dequantize_row(type, p.w_bytes.data() + r * row_bytes, p.w_deq.data() + r * s.n_in, s.n_in);
  }
  return p;
}

// Float accumulation error is bounded by a small multiple of eps * n * Σ|w x|;
// in practice it is ~sqrt(n) smaller. 2e-6 * Σ|w x| is far below what any
// indexing mistake (a wrong block, scale or nibble) would produce.
double tolerance(const Problem& p, int64_t t, int64_t r) {
  double sum_abs = 0;
  for (int64_t j = 0; j < p.n_in; ++j) {
    sum_abs += std::fabs(p.w_deq[r * p.n_in + j] * static_cast<double>(p.x[t * p.n_in + j]));
  }
  return 2e-6 * sum_abs + 1e-30;
}

std::vector<Shape> shapes_for(DType type) {
  const int64_t blk = dtype_info(type).block_elems;
  std::vector<Shape> shapes = {{256, 37, 1},
                               {512, 50, 3},
                               {256, 33, 4},
                               {256, 70, 5},
                               {512, 19, 13},
                               {768, 48, 9},
                               // Longer than one k-block of the panel kernel (1024).
                               {1280, 21, 9}};
  if (blk <= 32) {  // 32-multiples that are not 256-multiples
    shapes.push_back({96, 41, 2});
    shapes.push_back({160, 35, 7});
  }
  if (blk == 1) {  // plain types: any length, so SIMD tails are exercised
    shapes.push_back({100, 21, 1});
    shapes.push_back({37, 18, 6});
    shapes.push_back({1100, 19, 7});
  }
  return shapes;
}

std::string label(const Problem& p) {
  return std::string(dtype_info(p.type).name) + " n_in=" + std::to_string(p.n_in) +
         " n_out=" + std::to_string(p.n_out) + " n_tok=" + std::to_string(p.n_tok);
}

TEST(Matmul, ScalarMatchesDoubleReference) {
  ThreadPool pool(3);
  uint32_t seed = 1;
  for (DType type : kTypes) {
    for (Shape s : shapes_for(type)) {
      const Problem p = make_problem(type, s, seed++);
      std::vector<float> y(s.n_tok * s.n_out, NAN);
      matmul_with_isa(Isa::kScalar, p.view(), p.x.data(), s.n_tok, y.data(), pool);
      for (int64_t t = 0; t < s.n_tok; ++t) {
        for (int64_t r = 0; r < s.n_out; ++r) {
          double ref = 0;
          for (int64_t j = 0; j < s.n_in; ++j) {
            ref += static_cast<double>(p.w_deq[r * s.n_in + j]) * p.x[t * s.n_in + j];
          }
          ASSERT_NEAR(y[t * s.n_out + r], ref, tolerance(p, t, r))
              << label(p) << " t=" << t << " r=" << r;
        }
      }
    }
  }
}

class MatmulIsa : public ::testing::TestWithParam<Isa> {};

TEST_P(MatmulIsa, MatchesScalarReference) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not supported on this host";
  ThreadPool pool(2);
  uint32_t seed = 100;
  for (DType type : kTypes) {
    for (Shape s : shapes_for(type)) {
      const Problem p = make_problem(type, s, seed++);
      std::vector<float> ref(s.n_tok * s.n_out), y(s.n_tok * s.n_out, NAN);
      matmul_with_isa(Isa::kScalar, p.view(), p.x.data(), s.n_tok, ref.data(), pool);
      matmul_with_isa(isa, p.view(), p.x.data(), s.n_tok, y.data(), pool);
      for (int64_t t = 0; t < s.n_tok; ++t) {
        for (int64_t r = 0; r < s.n_out; ++r) {
          ASSERT_NEAR(y[t * s.n_out + r], ref[t * s.n_out + r], 2 * tolerance(p, t, r))
              << isa_name(isa) << " " << label(p) << " t=" << t << " r=" << r;
        }
      }
    }
  }
}

TEST_P(MatmulIsa, GatherEqualsMatmulOfGatheredRows) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not supported on this host";
  ThreadPool pool(2);
  for (DType type : {DType::kF32, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K}) {
    for (int64_t n_rows : {1, 3, 6}) {
      const Problem p = make_problem(type, {256, 45, 8}, 7);
      const std::vector<int32_t> rows = {5, 0, 7, 5, 2, 3};
      std::vector<float> gathered;
      for (int64_t i = 0; i < n_rows; ++i) {
        gathered.insert(gathered.end(), p.x.begin() + rows[i] * 256,
                        p.x.begin() + (rows[i] + 1) * 256);
      }
      std::vector<float> y(n_rows * 45), ref(n_rows * 45);
      matmul_gather_with_isa(isa, p.view(), p.x.data(), rows.data(), n_rows, y.data(), pool);
      matmul_with_isa(isa, p.view(), gathered.data(), n_rows, ref.data(), pool);
      EXPECT_EQ(y, ref) << isa_name(isa) << " " << dtype_info(type).name << " rows=" << n_rows;
    }
  }
}

// Batch invariance: a token's outputs must be bit-identical whatever else is
// in its batch, so the fused path (few tokens), the panel path (many tokens)
// and every token count in between must agree bit for bit, for every type.
// Each token alone (fused path, 1 token) is the reference; the same token in
// batches of 2..4 (fused) and 5, 9, 17 (panel) must reproduce it exactly.
TEST_P(MatmulIsa, EveryBatchSizeGivesBitIdenticalRows) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not supported on this host";
  ThreadPool pool(2);
  uint32_t seed = 300;
  // Both activation modes: 8-bit activations run the integer kernels (decode
  // call for few tokens, panel × token groups for many) where the ISA has one.
  for (Activations act : {Activations::kFloat32, Activations::kQuantized}) {
    for (DType type : kTypes) {
      const int64_t blk = dtype_info(type).block_elems;
      // Plain types get a SIMD tail too; the longer rows span several k-blocks
      // of the panel kernel; 1312 is an odd number of Q8_0 blocks.
      for (const int64_t n_in : blk == 1   ? std::vector<int64_t>{300, 1100}
                                : blk == 32 ? std::vector<int64_t>{128, 512, 1312}
                                            : std::vector<int64_t>{512, 1280}) {
        const Problem p = make_problem(type, {n_in, 53, 17}, seed++);
        std::vector<float> alone(17 * 53);
        for (int64_t t = 0; t < 17; ++t) {
          matmul_with_isa(isa, p.view(), p.x.data() + t * n_in, 1, alone.data() + t * 53, pool,
                          act);
        }
        for (int64_t n_tok : {2, 3, 4, 5, 9, 17}) {
          std::vector<float> y(n_tok * 53, NAN);
          matmul_with_isa(isa, p.view(), p.x.data(), n_tok, y.data(), pool, act);
          for (int64_t t = 0; t < n_tok; ++t) {
            for (int64_t r = 0; r < 53; ++r) {
              ASSERT_EQ(y[t * 53 + r], alone[t * 53 + r])
                  << isa_name(isa) << " " << activations_name(act) << " "
                  << dtype_info(type).name << " n_tok=" << n_tok << " n_in=" << n_in
                  << " t=" << t << " r=" << r;
            }
          }
        }
      }
    }
  }
}

// The panel path's SIMD row converters against the scalar converter, value by
// value: exact where both compute the same single product (d * q, or
// (d * sc) * q), and for Q4_K within the rounding that separates one fused
// multiply-subtract from a multiply then a subtract (a wrong nibble, scale or
// min would be off by a whole quantization step, ~max|row| / 15).
TEST_P(MatmulIsa, PanelDequantMatchesScalarConverter) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not supported on this host";
  const kernels_internal::MatmulKernels& k =
      isa == Isa::kAvx512 ? kernels_internal::avx512_kernels()
      : isa == Isa::kAvx2 ? kernels_internal::avx2_kernels()
                          : kernels_internal::scalar_kernels();
  uint32_t seed = 500;
  for (DType type : {DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K}) {
    const Problem p = make_problem(type, {1280, 6, 1}, seed++);
    const int64_t row_bytes = dtype_row_bytes(type, 1280);
    for (int64_t r = 0; r < 6; ++r) {
      std::vector<float> got(1280, NAN);
      k.dequant(type)(p.w_bytes.data() + r * row_bytes, got.data(), 1280);
      const float* want = p.w_deq.data() + r * 1280;
      float max_abs = 0;
      for (int64_t j = 0; j < 1280; ++j) max_abs = std::max(max_abs, std::fabs(want[j]));
      const float tol = type == DType::kQ4_K ? std::ldexp(max_abs, -21) : 0.0f;
      for (int64_t j = 0; j < 1280; ++j) {
        ASSERT_NEAR(got[j], want[j], tol)
            << isa_name(isa) << " " << dtype_info(type).name << " r=" << r << " j=" << j;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, MatmulIsa,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

TEST(Matmul, DefaultDispatchIsSupported) {
  EXPECT_TRUE(isa_supported(matmul_isa()));
  EXPECT_TRUE(isa_supported(Isa::kScalar));
}

TEST(Matmul, RowsSplitAnywhereEqualMatmul) {
  // matmul_rows over any split of the rows (as the MoE layer splits them
  // across threads and experts) gives matmul's bits.
  ThreadPool pool(2);
  for (DType type :
       {DType::kF32, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ5_0, DType::kQ4_K,
        DType::kQ6_K, DType::kQ5_K}) {
    for (int64_t n_tok : {1, 3, 7}) {
      const Problem p = make_problem(type, {512, 61, n_tok}, 11);
      std::vector<float> ref(n_tok * 61), y(n_tok * 61, NAN);
      matmul(p.view(), p.x.data(), n_tok, ref.data(), pool);
      std::vector<const float*> xs;
      for (int64_t t = 0; t < n_tok; ++t) xs.push_back(p.x.data() + t * 512);
      for (int64_t r0 : {0, 5, 16, 23, 48}) {
        const int64_t r1 = std::min<int64_t>(61, r0 + (r0 % 2 ? 7 : 16));
        matmul_rows(p.view(), xs.data(), n_tok, y.data(), 61, r0, r1);
      }
      matmul_rows(p.view(), xs.data(), n_tok, y.data(), 61, 30, 48);
      matmul_rows(p.view(), xs.data(), n_tok, y.data(), 61, 55, 61);
      EXPECT_EQ(y, ref) << dtype_info(type).name << " n_tok=" << n_tok;
    }
  }
}

TEST(Matmul, PartsGiveTheBitsOfOneMatmulEach) {
  // matmul_parts over weights of mixed types (Q8_K and Q8_0 activations,
  // the float path, a part with no rows) equals one matmul per part, in
  // both activation modes, for decode and prefill batch sizes.
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    for (Activations act : {Activations::kFloat32, Activations::kQuantized}) {
      for (int64_t n_tok : {1, 4, 9}) {
        const Problem a = make_problem(DType::kQ4_K, {512, 83, n_tok}, 21);
        const Problem b = make_problem(DType::kQ8_0, {512, 40, n_tok}, 22);
        const Problem c = make_problem(DType::kF32, {512, 17, n_tok}, 23);
        const Problem e = make_problem(DType::kQ6_K, {512, 0, n_tok}, 24);
        const Problem* ps[] = {&a, &b, &e, &c};
        TensorView views[4];
        std::vector<float> ref[4], got[4];
        MatmulPart parts[4];
        for (int k = 0; k < 4; ++k) {
          views[k] = ps[k]->view();
          ref[k].assign(n_tok * ps[k]->n_out, 0.0f);
          got[k].assign(n_tok * ps[k]->n_out, NAN);
          // Every part multiplies the same input: a's token rows.
          matmul(views[k], a.x.data(), n_tok, ref[k].data(), pool, act);
          parts[k] = {&views[k], got[k].data()};
        }
        matmul_parts(parts, a.x.data(), n_tok, pool, act);
        for (int k = 0; k < 4; ++k) {
          EXPECT_EQ(got[k], ref[k]) << "part " << k << " threads=" << threads
                                    << " act=" << activations_name(act) << " n_tok=" << n_tok;
        }
      }
    }
  }
}

TEST(Matmul, StackedExpertMatrixView) {
  // matrix(i) of a [n_expert, out, in] tensor multiplies by that expert only.
  ThreadPool pool(2);
  const Problem p = make_problem(DType::kQ8_0, {64, 3 * 10, 2}, 5);
  TensorView stacked = p.view();
  stacked.n_dims = 3;
  stacked.ne = {64, 10, 3, 1};
  std::vector<float> all(2 * 30), one(2 * 10);
  matmul(p.view(), p.x.data(), 2, all.data(), pool);
  matmul(stacked.matrix(2), p.x.data(), 2, one.data(), pool);
  for (int t = 0; t < 2; ++t) {
    for (int r = 0; r < 10; ++r) EXPECT_EQ(one[t * 10 + r], all[t * 30 + 20 + r]);
  }
}

}  // namespace
}  // namespace moelab

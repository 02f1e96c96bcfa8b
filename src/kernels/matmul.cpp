// The matmul driver: picks the kernel family once, splits output rows across
// the pool, and chooses per call between the fused decode path (few tokens:
// weights decoded in registers, each byte read once) and the panel path
// (many tokens: a panel of rows dequantized once into per-thread scratch and
// reused by every token, so dequantization cost is amortised).
#include "kernels/matmul.h"

#include <algorithm>
#include <vector>

#include "base/check.h"
#include "kernels/matmul_kernels.h"

namespace moelab {
namespace {

using kernels_internal::ActFormat;
using kernels_internal::MatmulKernels;
using kernels_internal::QuantRowsFn;

// Threads get whole multiples of 16 output rows, so two threads never write
// the same 64-byte line of a y row (when y is line-aligned).
constexpr int64_t kRowGrain = 16;
// Rows per dequantized panel: 32 rows × n_in floats stays in L2 for the
// model sizes we target (n_in 2048 → 256 KiB) while every token passes by.
constexpr int64_t kPanelRows = 32;

const MatmulKernels& kernels_for(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return kernels_internal::avx512_kernels();
    case Isa::kAvx2:
      return kernels_internal::avx2_kernels();
    case Isa::kScalar:
      break;
  }
  return kernels_internal::scalar_kernels();
}

// Per-thread scratch, grown as needed and kept for the thread's lifetime, so
// the hot path allocates only the first time a thread sees a bigger shape.
std::vector<float>& panel_scratch() {
  thread_local std::vector<float> scratch;
  return scratch;
}

std::vector<const float*>& token_pointers() {
  thread_local std::vector<const float*> ptrs;
  return ptrs;
}

// Quantized token rows, one buffer per activation format (Q8_0, Q8_K), so
// parts of one call that pair with different formats each get theirs.
std::vector<uint8_t>& act_scratch(ActFormat f) {
  thread_local std::vector<uint8_t> scratch[2];
  return scratch[f == ActFormat::kQ8_K ? 1 : 0];
}

std::vector<const uint8_t*>& act_pointers(ActFormat f) {
  thread_local std::vector<const uint8_t*> ptrs[2];
  return ptrs[f == ActFormat::kQ8_K ? 1 : 0];
}

ActFormat format_of(DType act_type) {
  if (act_type == DType::kQ8_0) return ActFormat::kQ8_0;
  if (act_type == DType::kQ8_K) return ActFormat::kQ8_K;
  return ActFormat::kNone;
}

// Rows [r0, r1) of y on quantized token rows: one kernel call, which picks
// its own panel and token tiling (see matmul_x86_q8.h); every (row, token)
// result comes from the same per-pair arithmetic whatever the tiling.
void run_rows_quant(QuantRowsFn fn, const TensorView& w, const uint8_t* const* xq, int64_t n_tok,
                    float* y, int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t row_bytes = w.row_bytes();
  fn(w.data + r0 * row_bytes, row_bytes, r1 - r0, w.ne[0], xq, static_cast<int>(n_tok), y + r0,
     ldy);
}

// Rows [r0, r1) of y for the n_tok tokens, on the calling thread. Every row's
// result depends only on that row and the token (both paths give the same
// bits; see matmul_x86.h), so any split of rows over threads or calls gives
// the same output.
//   w: [n_out, n_in]; xs: n_tok pointers to [n_in] rows; y: [n_tok, ldy]
void run_rows(const MatmulKernels& k, const TensorView& w, const float* const* xs, int64_t n_tok,
              float* y, int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t n_in = w.ne[0];
  const int64_t row_bytes = w.row_bytes();
  if (n_tok <= kernels_internal::kMaxFusedTokens) {
    const kernels_internal::FusedRowsFn fused = k.fused_rows(w.type);
    if (fused != nullptr) {
      fused(w.data + r0 * row_bytes, row_bytes, r1 - r0, n_in, xs, static_cast<int>(n_tok), y + r0,
            ldy);
      return;
    }
  }
  if (w.type == DType::kF32) {  // already a panel: no copy
    for (int64_t p = r0; p < r1; p += kPanelRows) {
      const auto* panel = reinterpret_cast<const float*>(w.data + p * row_bytes);
      k.panel_gemm(panel, n_in, std::min(kPanelRows, r1 - p), xs, n_tok, n_in, y + p, ldy);
    }
    return;
  }
  const kernels_internal::DequantFn dequant = k.dequant(w.type);
  MOELAB_CHECK(dequant != nullptr);
  std::vector<float>& scratch = panel_scratch();
  if (static_cast<int64_t>(scratch.size()) < kPanelRows * n_in) scratch.resize(kPanelRows * n_in);
  for (int64_t p = r0; p < r1; p += kPanelRows) {
    const int64_t n_rows = std::min(kPanelRows, r1 - p);
    for (int64_t r = 0; r < n_rows; ++r) {
      dequant(w.data + (p + r) * row_bytes, scratch.data() + r * n_in, n_in);
    }
    k.panel_gemm(scratch.data(), n_in, n_rows, xs, n_tok, n_in, y + p, ldy);
  }
}

void check_weight(const TensorView& w) {
  const DTypeInfo& info = dtype_info(w.type);
  MOELAB_CHECK_MSG(info.computable, "matmul: weight type is not computable");
  MOELAB_CHECK(w.ne[0] % info.block_elems == 0);
}

// The n_tok token rows quantized to format f (once per call and format),
// before the rows of the weights are split over threads.
const uint8_t* const* quantized_rows(ActFormat f, const float* const* xs, int64_t n_tok,
                                     int64_t n_in, ThreadPool& pool) {
  const int64_t bytes = kernels_internal::act_row_bytes(f, n_in);
  std::vector<uint8_t>& buf = act_scratch(f);
  if (static_cast<int64_t>(buf.size()) < n_tok * bytes + 64) buf.resize(n_tok * bytes + 64);
  uint8_t* base = buf.data() + (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64;
  std::vector<const uint8_t*>& ptrs = act_pointers(f);
  ptrs.resize(n_tok);
  for (int64_t t = 0; t < n_tok; ++t) ptrs[t] = base + t * bytes;
  auto quantize = [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) {
      kernels_internal::quantize_act_row(f, xs[t], n_in, base + t * bytes);
    }
  };
  pool.parallel_for_if_large(n_tok, n_tok * n_in, quantize);
  return ptrs.data();
}

// ys[k] = x · W_kᵀ for every part (all with the same n_in), in one parallel
// region over the parts' rows laid end to end.
//   parts[k].w: [n_out_k, n_in]; xs: n_tok pointers to [n_in] rows;
//   parts[k].y: [n_tok, n_out_k]
void run(const MatmulKernels& k, std::span<const MatmulPart> parts, const float* const* xs,
         int64_t n_tok, ThreadPool& pool, Activations act) {
  constexpr size_t kMaxParts = 4;
  MOELAB_CHECK(parts.size() <= kMaxParts);
  struct Plan {
    QuantRowsFn qfn = nullptr;
    const uint8_t* const* xq = nullptr;
    int64_t n_out = 0, grain0 = 0;
  };
  Plan plan[kMaxParts + 1];
  int64_t grains = 0;
  const uint8_t* const* quantized[2] = {nullptr, nullptr};  // by format, once each
  for (size_t p = 0; p < parts.size(); ++p) {
    const TensorView& w = *parts[p].w;
    check_weight(w);
    MOELAB_CHECK_MSG(w.ne[0] == parts[0].w->ne[0], "matmul_parts: the parts' n_in differ");
    plan[p].n_out = w.n_rows();
    plan[p].grain0 = grains;
    grains += (plan[p].n_out + kRowGrain - 1) / kRowGrain;
    if (n_tok <= 0 || act != Activations::kQuantized) continue;
    plan[p].qfn = k.quant_rows(w.type);
    if (plan[p].qfn == nullptr) continue;
    const ActFormat f = kernels_internal::act_format_for(w.type);
    const uint8_t* const*& rows = quantized[f == ActFormat::kQ8_K ? 1 : 0];
    if (rows == nullptr) rows = quantized_rows(f, xs, n_tok, w.ne[0], pool);
    plan[p].xq = rows;
  }
  plan[parts.size()].grain0 = grains;
  if (n_tok <= 0 || grains == 0) return;
  // Each thread walks its own run of rows, in calls that shrink to one
  // 32-row panel, and takes over half of another's rest when it is done
  // (see parallel_for_stealing). Guided claims from one shared counter
  // restarted the weight stream at every claim: on 2048×512 and 2048×2048
  // Q8_0 decode from memory, this is 7-10% and 3% faster.
  pool.parallel_for_stealing(grains, kPanelRows / kRowGrain, [&](int64_t g0, int64_t g1, int) {
    size_t p = 0;
    while (plan[p + 1].grain0 <= g0) ++p;
    for (; g0 < g1; ++p) {
      const int64_t end = std::min(g1, plan[p + 1].grain0);
      if (end == g0) continue;  // a part without rows
      const TensorView& w = *parts[p].w;
      const int64_t r0 = (g0 - plan[p].grain0) * kRowGrain;
      const int64_t r1 = std::min(plan[p].n_out, (end - plan[p].grain0) * kRowGrain);
      if (plan[p].qfn != nullptr) {
        run_rows_quant(plan[p].qfn, w, plan[p].xq, n_tok, parts[p].y, plan[p].n_out, r0, r1);
      } else {
        run_rows(k, w, xs, n_tok, parts[p].y, plan[p].n_out, r0, r1);
      }
      g0 = end;
    }
  });
}

void run(const MatmulKernels& k, const TensorView& w, const float* const* xs, int64_t n_tok,
         float* y, ThreadPool& pool, Activations act) {
  const MatmulPart part{&w, y};
  run(k, std::span<const MatmulPart>(&part, 1), xs, n_tok, pool, act);
}

}  // namespace

Isa matmul_isa() {
  static const Isa isa = cpu_features().best_isa();
  return isa;
}

bool isa_supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return f.avx2 && f.fma && f.f16c;
    case Isa::kAvx512:  // the integer kernels use VNNI (vpdpbusd / vpdpwssd)
      return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni;
  }
  return false;
}

const char* activations_name(Activations a) {
  return a == Activations::kQuantized ? "q8" : "f32";
}

bool has_integer_kernel(Isa isa, DType weight_type) {
  return kernels_for(isa).quant_rows(weight_type) != nullptr;
}

DType quantized_activation_type(DType weight_type) {
  if (!has_integer_kernel(matmul_isa(), weight_type)) return DType::kF32;
  return kernels_internal::act_format_for(weight_type) == ActFormat::kQ8_0 ? DType::kQ8_0
                                                                           : DType::kQ8_K;
}

int64_t quantized_activation_bytes(DType act_type, int64_t n_in) {
  MOELAB_CHECK(format_of(act_type) != ActFormat::kNone);
  return kernels_internal::act_row_bytes(format_of(act_type), n_in);
}

void quantize_activation(DType act_type, const float* x, int64_t n_in, uint8_t* dst) {
  MOELAB_CHECK(format_of(act_type) != ActFormat::kNone);
  kernels_internal::quantize_act_row(format_of(act_type), x, n_in, dst);
}

void matmul_rows_quantized(const TensorView& w, const uint8_t* const* xq, int64_t n_tok, float* y,
                           int64_t ldy, int64_t r0, int64_t r1) {
  check_weight(w);
  MOELAB_CHECK(0 <= r0 && r0 <= r1 && r1 <= w.n_rows());
  const QuantRowsFn fn = kernels_for(matmul_isa()).quant_rows(w.type);
  MOELAB_CHECK_MSG(fn != nullptr, "matmul_rows_quantized: no integer kernel for this weight type");
  if (n_tok <= 0 || r0 == r1) return;
  run_rows_quant(fn, w, xq, n_tok, y, ldy, r0, r1);
}

void matmul_gather_with_isa(Isa isa, const TensorView& w, const float* x, const int32_t* rows,
                            int64_t n_rows, float* y, ThreadPool& pool, Activations act) {
  MOELAB_CHECK(isa_supported(isa));
  std::vector<const float*>& xs = token_pointers();
  xs.resize(n_rows);
  for (int64_t i = 0; i < n_rows; ++i) xs[i] = x + static_cast<int64_t>(rows[i]) * w.ne[0];
  run(kernels_for(isa), w, xs.data(), n_rows, y, pool, act);
}

void matmul_with_isa(Isa isa, const TensorView& w, const float* x, int64_t n_tokens, float* y,
                     ThreadPool& pool, Activations act) {
  MOELAB_CHECK(isa_supported(isa));
  std::vector<const float*>& xs = token_pointers();
  xs.resize(n_tokens);
  for (int64_t i = 0; i < n_tokens; ++i) xs[i] = x + i * w.ne[0];
  run(kernels_for(isa), w, xs.data(), n_tokens, y, pool, act);
}

void matmul_rows(const TensorView& w, const float* const* xs, int64_t n_tok, float* y, int64_t ldy,
                 int64_t r0, int64_t r1) {
  check_weight(w);
  MOELAB_CHECK(0 <= r0 && r0 <= r1 && r1 <= w.n_rows());
  if (n_tok <= 0 || r0 == r1) return;
  run_rows(kernels_for(matmul_isa()), w, xs, n_tok, y, ldy, r0, r1);
}

void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            Activations act) {
  matmul_with_isa(matmul_isa(), w, x, n_tokens, y, pool, act);
}

void matmul_parts(std::span<const MatmulPart> parts, const float* x, int64_t n_tokens,
                  ThreadPool& pool, Activations act) {
  if (parts.empty()) return;
  std::vector<const float*>& xs = token_pointers();
  xs.resize(n_tokens);
  for (int64_t i = 0; i < n_tokens; ++i) xs[i] = x + i * parts[0].w->ne[0];
  run(kernels_for(matmul_isa()), parts, xs.data(), n_tokens, pool, act);
}

void matmul_gather(const TensorView& w, const float* x, const int32_t* rows, int64_t n_rows,
                   float* y, ThreadPool& pool, Activations act) {
  matmul_gather_with_isa(matmul_isa(), w, x, rows, n_rows, y, pool, act);
}

}  // namespace moelab

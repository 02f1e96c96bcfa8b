// What the CPU can do, read once from cpuid. Kernels pick their SIMD variant
// from this at start; MOELAB_FORCE_SCALAR=1 or MOELAB_MAX_ISA=avx2 in the
// environment cap it (for tests and comparisons).
#pragma once

#include <string>

namespace moelab {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;

  // The best kernel family this CPU (and the environment's cap) allows.
  Isa best_isa() const;
  std::string describe() const;
};

const CpuFeatures& cpu_features();
const char* isa_name(Isa isa);

}  // namespace moelab

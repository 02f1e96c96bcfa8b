// Which kernel family a CPU's features select, with the environment's cap
// lifted (the suite also runs under MOELAB_MAX_ISA=avx2).
#include "base/cpu_features.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace moelab {
namespace {

class NoIsaCap {
 public:
  NoIsaCap() {
    for (int i = 0; i < 2; ++i) {
      if (const char* v = std::getenv(kNames[i])) saved_[i] = v;
      unsetenv(kNames[i]);
    }
  }
  ~NoIsaCap() {
    for (int i = 0; i < 2; ++i) {
      if (saved_[i]) setenv(kNames[i], saved_[i]->c_str(), 1);
    }
  }

 private:
  static constexpr const char* kNames[2] = {"MOELAB_MAX_ISA", "MOELAB_FORCE_SCALAR"};
  std::optional<std::string> saved_[2];
};

CpuFeatures avx512_vnni_without_bf16() {  // Cascade Lake / Ice Lake
  CpuFeatures f;
  f.avx2 = f.fma = f.f16c = true;
  f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = f.avx512vnni = true;
  return f;
}

TEST(CpuFeatures, Avx512WithVnniNeedsNoBf16) {
  NoIsaCap no_cap;
  CpuFeatures f = avx512_vnni_without_bf16();
  EXPECT_EQ(f.best_isa(), Isa::kAvx512);
  f.avx512bf16 = true;
  EXPECT_EQ(f.best_isa(), Isa::kAvx512);
}

TEST(CpuFeatures, Avx512WithoutVnniFallsBackToAvx2) {  // Skylake-SP
  NoIsaCap no_cap;
  CpuFeatures f = avx512_vnni_without_bf16();
  f.avx512vnni = false;
  EXPECT_EQ(f.best_isa(), Isa::kAvx2);
}

TEST(CpuFeatures, Avx2NeedsFmaAndF16c) {
  NoIsaCap no_cap;
  CpuFeatures f;
  f.avx2 = f.fma = true;
  EXPECT_EQ(f.best_isa(), Isa::kScalar);
  f.f16c = true;
  EXPECT_EQ(f.best_isa(), Isa::kAvx2);
}

TEST(CpuFeatures, EnvironmentCapsTheChoice) {
  NoIsaCap no_cap;
  setenv("MOELAB_MAX_ISA", "avx2", 1);
  EXPECT_EQ(avx512_vnni_without_bf16().best_isa(), Isa::kAvx2);
  setenv("MOELAB_MAX_ISA", "scalar", 1);
  EXPECT_EQ(avx512_vnni_without_bf16().best_isa(), Isa::kScalar);
}

}  // namespace
}  // namespace moelab

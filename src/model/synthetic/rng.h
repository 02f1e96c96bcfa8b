// A small seeded random number generator for synthetic weights: splitmix64 for
// uniform bits, Box–Muller for normals. Written here rather than taken from
// <random> because the standard distributions differ between standard
// libraries, and a synthetic model must be byte-identical for a given seed.
//
// Thread-safety: a SplitMix64 is a value; use one per thread.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>

namespace moelab::synthetic {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform in (0, 1): the +0.5 keeps 0 out, so log() in normal() is finite.
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }

  // Standard normal; values come in Box–Muller pairs, the second one cached.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double radius = std::sqrt(-2.0 * std::log(uniform()));
    const double angle = 2.0 * 3.14159265358979323846 * uniform();
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

 private:
  uint64_t state_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

// FNV-1a of a string, to give every tensor its own stream: a tensor's values
// then depend only on (seed, name), not on the order tensors are written in.
inline uint64_t fnv1a64(std::string_view text) {
  uint64_t hash = 0xCBF29CE484222325ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001B3ull;
  }
  return hash;
}

inline SplitMix64 tensor_rng(uint64_t seed, std::string_view tensor_name) {
  SplitMix64 mix(seed ^ fnv1a64(tensor_name));
  return SplitMix64(mix.next());
}

}  // namespace moelab::synthetic

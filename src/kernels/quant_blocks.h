// ggml's quantized block layouts, byte for byte, so weights quantized by
// llama.cpp are read in place and ours load in llama.cpp. All fields are
// little-endian; `d`/`m`/`dmin` are IEEE half bits (see base/fp16.h). The
// structs are plain bytes (alignment 2 at most) and are only ever read from
// or written to memory that holds a whole row of blocks.
#pragma once

#include <cstdint>

namespace moelab {

inline constexpr int kQk = 32;    // elements per block of the "legacy" types
inline constexpr int kQkK = 256;  // elements per super-block of the K-quants

// 4.5 bits: x = d * (q - 8), q in [0, 15]. qs[j] low nibble = element j,
// high nibble = element j + 16.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQk / 2];
};

// 5 bits: x = d * q + m, q in [0, 15]; nibbles as Q4_0.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQk / 2];
};

// 5.5 bits: x = d * (q - 16), q in [0, 31]; the 5th bit of element j is bit j
// of the little-endian uint32 qh; low 4 bits as Q4_0.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQk / 2];
};

// 6 bits: x = d * q + m, q in [0, 31]; bits as Q5_0.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQk / 2];
};

// 8.5 bits: x = d * q, q in [-127, 127].
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQk];
};

// 2.625 bits: 16 groups of 16; group g: x = d * (scales[g] & 15) * q -
// dmin * (scales[g] >> 4), q in [0, 3]. Within each 128-element half, qs byte
// l (of 32) holds elements l, l+32, l+64, l+96 in bit pairs 0-1, 2-3, 4-5, 6-7.
struct BlockQ2_K {
  uint8_t scales[kQkK / 16];
  uint8_t qs[kQkK / 4];
  uint16_t d;
  uint16_t dmin;
};

// 3.4375 bits: 16 groups of 16; x = d * (s_g - 32) * (q - 4), q in [0, 7].
// Low 2 bits of q as in Q2_K; the high bit of element e is bit (e / 32) of
// hmask[e % 32]. s_g is 6 bits: low 4 in the nibble (g / 8) of scales[g % 8],
// high 2 in bits 2*(g / 4) of scales[8 + g % 4].
struct BlockQ3_K {
  uint8_t hmask[kQkK / 8];
  uint8_t qs[kQkK / 4];
  uint8_t scales[12];
  uint16_t d;
};

// 4.5 bits: 8 groups of 32; x = d * sc_g * q - dmin * m_g, q in [0, 15].
// sc/m are 6 bits packed in `scales` (see get_scale_min_k4 in quant.cpp).
// Each 64-element chunk c uses qs[32c..32c+32): low nibbles are group 2c,
// high nibbles group 2c + 1.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQkK / 2];
};

// 5.5 bits: as Q4_K with q in [0, 31]; the 5th bit of element 64c + l
// (l < 32) is bit 2c of qh[l], of element 64c + 32 + l bit 2c + 1.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQkK / 8];
  uint8_t qs[kQkK / 2];
};

// 6.5625 bits: 16 groups of 16; x = d * scales[g] * (q - 32), q in [0, 63].
// For each 128-element half h and l < 32: ql[64h + l] holds the low nibbles
// of elements l (low) and l+64 (high), ql[64h + 32 + l] those of l+32 and
// l+96; qh[32h + l] holds their high 2 bits in pairs 0-1, 2-3, 4-5, 6-7.
struct BlockQ6_K {
  uint8_t ql[kQkK / 2];
  uint8_t qh[kQkK / 4];
  int8_t scales[kQkK / 16];
  uint16_t d;
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);

// The 6-bit scale and min of group j (0..7) of a Q4_K / Q5_K block.
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

}  // namespace moelab

// 8-bit μ-law companding of audio samples (μ = 255), as the paper's music
// models use it: codes are ordered by amplitude, so 0 is the most negative
// sample (-1), 255 the most positive (+1) and 128 the code of silence.
// (These are not G.711 bytes, which are sign/magnitude and bit-inverted.)
//
//   y    = sign(x) * ln(1 + 255 |x|) / ln(256)      x clamped to [-1, 1]
//   code = round((y + 1) / 2 * 255)                 halves round up
//   decode: y = 2 code / 255 - 1,  x = sign(y) * (256^|y| - 1) / 255
//
// Deterministic: no dither, NaN encodes as silence.
#ifndef SPARSE_TRANSFORMER_DATASETS_MULAW_H_
#define SPARSE_TRANSFORMER_DATASETS_MULAW_H_

#include <cstddef>
#include <cstdint>

namespace st {
namespace datasets {

inline constexpr int kMuLawMu = 255;

// One sample in [-1, 1] (values outside are clamped) to its code.
uint8_t MuLawEncode(float x);

// A code to the sample at the centre of its companded interval.
float MuLawDecode(uint8_t code);

// Whole buffers: codes[i] = MuLawEncode(samples[i]).
void MuLawEncode(const float* samples, size_t n, uint8_t* codes);
void MuLawDecode(const uint8_t* codes, size_t n, float* samples);

}  // namespace datasets
}  // namespace st

#endif  // SPARSE_TRANSFORMER_DATASETS_MULAW_H_

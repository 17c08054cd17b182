#include "datasets/mulaw.h"

#include <cmath>

namespace st {
namespace datasets {

uint8_t MuLawEncode(float x) {
  if (std::isnan(x)) x = 0.0f;
  const double v = x < -1.0f ? -1.0 : (x > 1.0f ? 1.0 : double{x});
  const double y = std::copysign(
      std::log1p(kMuLawMu * std::fabs(v)) / std::log1p(double{kMuLawMu}), v);
  // floor(z + 0.5): exact halves (only y = 0, z = 127.5) round up to 128.
  const double z = std::floor((y + 1.0) * 0.5 * 255.0 + 0.5);
  return static_cast<uint8_t>(z < 0.0 ? 0.0 : (z > 255.0 ? 255.0 : z));
}

float MuLawDecode(uint8_t code) {
  const double y = 2.0 * code / 255.0 - 1.0;
  const double x =
      std::expm1(std::fabs(y) * std::log1p(double{kMuLawMu})) / kMuLawMu;
  return static_cast<float>(std::copysign(x, y));
}

void MuLawEncode(const float* samples, size_t n, uint8_t* codes) {
  for (size_t i = 0; i < n; ++i) codes[i] = MuLawEncode(samples[i]);
}

void MuLawDecode(const uint8_t* codes, size_t n, float* samples) {
  for (size_t i = 0; i < n; ++i) samples[i] = MuLawDecode(codes[i]);
}

}  // namespace datasets
}  // namespace st

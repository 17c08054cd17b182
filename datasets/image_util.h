// Pixel layout helpers for the image readers. Data sets distribute images in
// channel planes ([C, H, W]); the paper models bytes in raster order (row,
// column, channel), i.e. interleaved [H, W, C].
#ifndef SPARSE_TRANSFORMER_DATASETS_IMAGE_UTIL_H_
#define SPARSE_TRANSFORMER_DATASETS_IMAGE_UTIL_H_

#include <cstdint>
#include <vector>

namespace st {
namespace datasets {

// Images of one size with optional labels.
struct LabeledImages {
  int height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // [n, H, W, C], raster order
  std::vector<int> labels;      // [n], or empty where the format has none
  int64_t size() const {
    const int64_t bytes = int64_t{height} * width * channels;
    return bytes == 0 ? 0 : static_cast<int64_t>(pixels.size()) / bytes;
  }
};

// planes: [C, H, W] -> out: [H, W, C].
inline void PlanarToInterleaved(const uint8_t* planes, int height, int width,
                                int channels, uint8_t* out) {
  const int64_t plane = int64_t{height} * width;
  for (int64_t p = 0; p < plane; ++p) {
    for (int c = 0; c < channels; ++c)
      out[p * channels + c] = planes[c * plane + p];
  }
}

}  // namespace datasets
}  // namespace st

#endif  // SPARSE_TRANSFORMER_DATASETS_IMAGE_UTIL_H_

// Writing and reading 8-bit PNG images (libpng): pattern pictures, plots,
// image samples and dataset inspection all go through here.
#ifndef SPARSE_TRANSFORMER_CORE_PNG_H_
#define SPARSE_TRANSFORMER_CORE_PNG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace st {

// An 8-bit image, rows top to bottom, channels interleaved.
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;             // 1 (gray), 3 (RGB) or 4 (RGBA)
  std::vector<uint8_t> pixels;  // [height][width][channels]
};

// Writes `image` to `path` (created or replaced). Errors name the file.
absl::Status WritePng(const std::string& path, const Image& image);

// Reads an 8-bit (or 16-bit, reduced to 8) PNG; palette and gray+alpha are
// expanded so the result has 1, 3 or 4 channels.
absl::StatusOr<Image> ReadPng(const std::string& path);

}  // namespace st

#endif  // SPARSE_TRANSFORMER_CORE_PNG_H_

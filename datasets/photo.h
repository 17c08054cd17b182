// Photographs for the image stand-ins: decoding (libjpeg-turbo for JPEG,
// libpng for PNG) to 8-bit RGB, filtered downscaling (stb_image_resize), and
// cutting into tiles.
#ifndef SPARSE_TRANSFORMER_DATASETS_PHOTO_H_
#define SPARSE_TRANSFORMER_DATASETS_PHOTO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sparse_transformer/core/png.h"

namespace st {
namespace datasets {

// Decodes a .jpg/.jpeg (integer IDCT, so identical on every machine) or .png
// file to RGB: gray is replicated, alpha dropped.
absl::StatusOr<Image> LoadPhotoRgb(const std::string& path);

// Writes an RGB image as a baseline JPEG (tests and fixtures).
absl::Status WriteJpeg(const std::string& path, const Image& image,
                       int quality);

// Scales `image` so its shorter side is `short_side` (the other side rounded
// to the nearest pixel) with a Catmull-Rom filter in linear light. Refuses to
// upsample.
absl::StatusOr<Image> ResizeShortSide(const Image& image, int short_side);

// Non-overlapping side x side tiles from the top-left corner, in raster order
// of tiles; tiles whose byte standard deviation is below `min_std` (flat sky,
// borders) are dropped. Appends [side, side, C] tiles to `out`; returns how
// many were kept.
int64_t CutTiles(const Image& image, int side, double min_std,
                 std::vector<uint8_t>* out);

}  // namespace datasets
}  // namespace st

#endif  // SPARSE_TRANSFORMER_DATASETS_PHOTO_H_

#include "datasets/photo.h"

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE first
#include <jpeglib.h>
#include <setjmp.h>
// clang-format on

#include <stb/stb_image_resize.h>

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "datasets/file_util.h"
#include "sparse_transformer/core/status.h"

namespace st {
namespace datasets {
namespace {

// libjpeg reports errors through error_exit; jump back instead of exiting.
struct JpegError {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void OnJpegError(j_common_ptr cinfo) {
  JpegError* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

absl::StatusOr<Image> DecodeJpeg(const std::string& path,
                                 const std::string& bytes) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = OnJpegError;
  err.message[0] = '\0';
  Image image;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return absl::DataLossError(
        absl::StrCat(path, ": JPEG decoding failed (", err.message, ")"));
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()),
               bytes.size());
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = JCS_RGB;  // converts gray and YCbCr
  cinfo.dct_method = JDCT_ISLOW;    // exact integer IDCT
  jpeg_start_decompress(&cinfo);
  image.width = cinfo.output_width;
  image.height = cinfo.output_height;
  image.channels = 3;
  image.pixels.resize(static_cast<size_t>(image.width) * image.height * 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = image.pixels.data() +
                   static_cast<size_t>(cinfo.output_scanline) * image.width * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  // A cut file decodes with grey fill and a warning: refuse it instead.
  const long warnings = err.mgr.num_warnings;
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  if (warnings > 0) {
    return absl::DataLossError(absl::StrCat(
        path, ": corrupt or truncated JPEG (", warnings, " decoder warnings)"));
  }
  return image;
}

}  // namespace

absl::StatusOr<Image> LoadPhotoRgb(const std::string& path) {
  const std::string lower = absl::AsciiStrToLower(path);
  if (absl::EndsWith(lower, ".png")) {
    ST_ASSIGN_OR_RETURN(Image in, ReadPng(path));
    if (in.channels == 3) return in;
    Image out;
    out.width = in.width;
    out.height = in.height;
    out.channels = 3;
    const size_t n = static_cast<size_t>(in.width) * in.height;
    out.pixels.resize(n * 3);
    for (size_t p = 0; p < n; ++p) {
      for (int c = 0; c < 3; ++c) {
        // gray: replicate; RGBA: drop alpha.
        out.pixels[p * 3 + c] =
            in.pixels[p * in.channels + (in.channels >= 3 ? c : 0)];
      }
    }
    return out;
  }
  if (absl::EndsWith(lower, ".jpg") || absl::EndsWith(lower, ".jpeg")) {
    ST_ASSIGN_OR_RETURN(const std::string bytes, ReadFile(path));
    return DecodeJpeg(path, bytes);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": not a .jpg, .jpeg or .png file"));
}

absl::Status WriteJpeg(const std::string& path, const Image& image,
                       int quality) {
  if (image.channels != 3 ||
      image.pixels.size() !=
          static_cast<size_t>(image.width) * image.height * 3) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": WriteJpeg needs an RGB image"));
  }
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open for writing"));
  }
  jpeg_compress_struct cinfo;
  jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, f);
  cinfo.image_width = image.width;
  cinfo.image_height = image.height;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(image.pixels.data()) +
                   static_cast<size_t>(cinfo.next_scanline) * image.width * 3;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return std::fclose(f) == 0
             ? absl::OkStatus()
             : absl::InternalError(absl::StrCat(path, ": write failed"));
}

absl::StatusOr<Image> ResizeShortSide(const Image& image, int short_side) {
  const int shorter = std::min(image.width, image.height);
  if (short_side <= 0 || short_side > shorter) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot scale a ", image.width, "x", image.height,
                     " image to short side ", short_side, " (no upsampling)"));
  }
  Image out;
  out.channels = image.channels;
  const double scale = static_cast<double>(short_side) / shorter;
  out.width = image.width == shorter
                  ? short_side
                  : static_cast<int>(std::lround(image.width * scale));
  out.height = image.height == shorter
                   ? short_side
                   : static_cast<int>(std::lround(image.height * scale));
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * out.channels);
  if (!stbir_resize_uint8_generic(
          image.pixels.data(), image.width, image.height,
          image.width * image.channels, out.pixels.data(), out.width,
          out.height, out.width * out.channels, image.channels,
          STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
          STBIR_FILTER_CATMULLROM, STBIR_COLORSPACE_SRGB, nullptr)) {
    return absl::InternalError("stb_image_resize failed");
  }
  return out;
}

int64_t CutTiles(const Image& image, int side, double min_std,
                 std::vector<uint8_t>* out) {
  const int c = image.channels;
  const size_t tile_bytes = static_cast<size_t>(side) * side * c;
  int64_t kept = 0;
  std::vector<uint8_t> tile(tile_bytes);
  for (int y0 = 0; y0 + side <= image.height; y0 += side) {
    for (int x0 = 0; x0 + side <= image.width; x0 += side) {
      double sum = 0, sum_sq = 0;
      for (int y = 0; y < side; ++y) {
        const uint8_t* row =
            image.pixels.data() +
            (static_cast<size_t>(y0 + y) * image.width + x0) * c;
        std::copy(row, row + side * c, tile.begin() + y * side * c);
        for (int i = 0; i < side * c; ++i) {
          sum += row[i];
          sum_sq += static_cast<double>(row[i]) * row[i];
        }
      }
      const double mean = sum / tile_bytes;
      const double var = std::max(0.0, sum_sq / tile_bytes - mean * mean);
      if (std::sqrt(var) < min_std) continue;
      out->insert(out->end(), tile.begin(), tile.end());
      ++kept;
    }
  }
  return kept;
}

}  // namespace datasets
}  // namespace st

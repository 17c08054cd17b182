#include "sparse_transformer/core/png.h"

#include <png.h>

#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"

namespace st {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

}  // namespace

absl::Status WritePng(const std::string& path, const Image& image) {
  int color_type;
  switch (image.channels) {
    case 1:
      color_type = PNG_COLOR_TYPE_GRAY;
      break;
    case 3:
      color_type = PNG_COLOR_TYPE_RGB;
      break;
    case 4:
      color_type = PNG_COLOR_TYPE_RGBA;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": cannot write a PNG with ", image.channels, " channels"));
  }
  const size_t expected =
      static_cast<size_t>(image.width) * image.height * image.channels;
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": image of ", image.width, "x", image.height, "x",
                     image.channels, " has ", image.pixels.size(),
                     " bytes, expected ", expected));
  }
  File file(std::fopen(path.c_str(), "wb"));
  if (!file) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open for writing"));
  }
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    return absl::ResourceExhaustedError(absl::StrCat(path, ": libpng init"));
  }
  if (setjmp(png_jmpbuf(png))) {  // libpng reports errors by longjmp
    png_destroy_write_struct(&png, &info);
    return absl::InternalError(absl::StrCat(path, ": libpng write failed"));
  }
  png_init_io(png, file.get());
  png_set_IHDR(png, info, image.width, image.height, 8, color_type,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  const size_t stride = static_cast<size_t>(image.width) * image.channels;
  for (int y = 0; y < image.height; ++y) {
    png_write_row(png, const_cast<png_bytep>(image.pixels.data() + y * stride));
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  if (std::fflush(file.get()) != 0) {
    return absl::DataLossError(absl::StrCat(path, ": write failed"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Image> ReadPng(const std::string& path) {
  File file(std::fopen(path.c_str(), "rb"));
  if (!file) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return absl::ResourceExhaustedError(absl::StrCat(path, ": libpng init"));
  }
  Image image;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return absl::DataLossError(absl::StrCat(path, ": not a readable PNG"));
  }
  png_init_io(png, file.get());
  png_read_info(png, info);
  png_set_expand(png);  // palette -> RGB, low bit depth gray -> 8 bit
  png_set_strip_16(png);
  const png_byte color = png_get_color_type(png, info);
  if (color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_strip_alpha(png);
  png_read_update_info(png, info);
  image.width = png_get_image_width(png, info);
  image.height = png_get_image_height(png, info);
  image.channels = png_get_channels(png, info);
  image.pixels.resize(static_cast<size_t>(image.width) * image.height *
                      image.channels);
  std::vector<png_bytep> rows(image.height);
  for (int y = 0; y < image.height; ++y) {
    rows[y] = image.pixels.data() +
              static_cast<size_t>(y) * image.width * image.channels;
  }
  png_read_image(png, rows.data());
  png_destroy_read_struct(&png, &info, nullptr);
  return image;
}

}  // namespace st

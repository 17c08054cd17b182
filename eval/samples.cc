#include "eval/samples.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "datasets/mulaw.h"
#include "sparse_transformer/core/png.h"

namespace st::eval {
namespace {

absl::Status WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    return absl::InternalError(
        absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

void PutLe(std::string* out, uint32_t value, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out->push_back(static_cast<char>(value >> (8 * i)));
}

}  // namespace

absl::Status WriteTextSample(const std::string& path,
                             absl::Span<const uint8_t> bytes) {
  return WriteFile(path, std::string(bytes.begin(), bytes.end()));
}

absl::Status WriteImageSample(const std::string& path,
                              absl::Span<const uint8_t> bytes, int height,
                              int width, int channels) {
  if (height <= 0 || width <= 0 || (channels != 1 && channels != 3)) {
    return absl::InvalidArgumentError(
        absl::StrCat("image sample ", path, ": bad shape ", height, "x", width,
                     "x", channels, " (channels must be 1 or 3)"));
  }
  const size_t expected = static_cast<size_t>(height) * width * channels;
  if (bytes.size() != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("image sample ", path, ": ", bytes.size(), " bytes, ",
                     height, "x", width, "x", channels, " needs ", expected));
  }
  Image image;
  image.height = height;
  image.width = width;
  image.channels = channels;
  image.pixels.assign(bytes.begin(), bytes.end());
  return WritePng(path, image);
}

std::vector<int16_t> MuLawToPcm16(absl::Span<const uint8_t> codes) {
  std::vector<int16_t> pcm(codes.size());
  for (size_t i = 0; i < codes.size(); ++i) {
    const float x = datasets::MuLawDecode(codes[i]);
    const long v = std::lround(std::clamp(x, -1.0f, 1.0f) * 32767.0f);
    pcm[i] = static_cast<int16_t>(v);
  }
  return pcm;
}

absl::Status WriteAudioSample(const std::string& path,
                              absl::Span<const uint8_t> codes,
                              int sample_rate) {
  if (sample_rate <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "audio sample ", path, ": sample rate must be > 0, got ", sample_rate));
  }
  const std::vector<int16_t> pcm = MuLawToPcm16(codes);
  const uint32_t data_bytes = static_cast<uint32_t>(pcm.size() * 2);
  std::string wav = "RIFF";
  PutLe(&wav, 36 + data_bytes, 4);
  wav += "WAVEfmt ";
  PutLe(&wav, 16, 4);               // fmt chunk size
  PutLe(&wav, 1, 2);                // PCM
  PutLe(&wav, 1, 2);                // mono
  PutLe(&wav, sample_rate, 4);      // samples per second
  PutLe(&wav, sample_rate * 2, 4);  // bytes per second
  PutLe(&wav, 2, 2);                // bytes per frame
  PutLe(&wav, 16, 2);               // bits per sample
  wav += "data";
  PutLe(&wav, data_bytes, 4);
  for (int16_t s : pcm) PutLe(&wav, static_cast<uint16_t>(s), 2);
  return WriteFile(path, wav);
}

}  // namespace st::eval

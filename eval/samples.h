// Writers for generated samples: text bytes to a file, image bytes to PNG,
// 8-bit μ-law audio to a 16-bit PCM WAV.
#ifndef EVAL_SAMPLES_H_
#define EVAL_SAMPLES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace st::eval {

// The bytes as they are.
absl::Status WriteTextSample(const std::string& path,
                             absl::Span<const uint8_t> bytes);

// `bytes` in raster order (row, column, channel): height * width * channels
// values; channels 1 (gray) or 3 (RGB).
absl::Status WriteImageSample(const std::string& path,
                              absl::Span<const uint8_t> bytes, int height,
                              int width, int channels);

// μ-law codes (datasets/mulaw.h convention) decoded to 16-bit PCM samples.
std::vector<int16_t> MuLawToPcm16(absl::Span<const uint8_t> codes);

// A mono 16-bit PCM WAV of the decoded μ-law codes at `sample_rate` Hz (the
// paper's music is 12 kHz).
absl::Status WriteAudioSample(const std::string& path,
                              absl::Span<const uint8_t> codes,
                              int sample_rate = 12000);

}  // namespace st::eval

#endif  // EVAL_SAMPLES_H_

// Audio files to the paper's music format: mono, 12 kHz, 8-bit μ-law codes
// ordered by amplitude (mulaw.h).
//
// Decoding is libsndfile (WAV at any rate, bit depth and channel count, and
// Ogg Vorbis through libvorbis); channels are averaged to mono; resampling is
// libsamplerate's band-limited sinc converter. Every step is deterministic:
// no dither anywhere, float arithmetic in a fixed order.
#ifndef SPARSE_TRANSFORMER_DATASETS_AUDIO_H_
#define SPARSE_TRANSFORMER_DATASETS_AUDIO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace st {
namespace datasets {

inline constexpr int kAudioRate = 12000;

struct DecodedAudio {
  int sample_rate = 0;
  int channels = 0;         // in the file; `mono` is their mean
  std::vector<float> mono;  // [frames], in [-1, 1]
};

// Decodes a WAV or Ogg Vorbis file. A WAV whose RIFF header promises more
// bytes than the file has, or an Ogg stream without its final page, is
// refused as truncated (libsndfile alone would return the partial audio).
absl::StatusOr<DecodedAudio> DecodeAudio(const std::string& path);

// Band-limited resampling of mono samples from `from_rate` to `to_rate` Hz.
absl::StatusOr<std::vector<float>> Resample(const std::vector<float>& samples,
                                            int from_rate, int to_rate);

// DecodeAudio + Resample to 12 kHz + μ-law: the bytes a music model sees.
absl::StatusOr<std::vector<uint8_t>> LoadMuLaw12k(const std::string& path);

// The *.wav and *.ogg files directly in `dir`, by name.
absl::StatusOr<std::vector<std::string>> ListAudioFiles(const std::string& dir);

// Writes the prepared audio file from whole tracks: the tracks are ordered by
// a fixed-seed shuffle of their sorted names; the first 80% of tracks (at
// least one) train, the next 10% valid and the rest test, so no track spans
// two splits. `provenance` is extended with the track list.
absl::Status PrepareAudioTracks(const std::vector<std::string>& tracks,
                                const std::string& out, uint64_t seed,
                                const std::string& provenance);

}  // namespace datasets
}  // namespace st

#endif  // SPARSE_TRANSFORMER_DATASETS_AUDIO_H_

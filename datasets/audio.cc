#include "datasets/audio.h"

#include <samplerate.h>
#include <sndfile.h>

#include <cmath>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "datasets/file_util.h"
#include "datasets/mulaw.h"
#include "datasets/prepared.h"
#include "datasets/shuffle.h"
#include "sparse_transformer/core/status.h"

namespace st {
namespace datasets {
namespace {

uint32_t Le32(const std::string& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}

// A RIFF/WAVE file declares its length: refuse files shorter than that.
absl::Status CheckWavLength(const std::string& path, int64_t size) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(path + ": cannot open");
  std::string head(12, '\0');
  const size_t got = std::fread(head.data(), 1, 12, f);
  std::fclose(f);
  if (got < 12 || head.compare(0, 4, "RIFF") != 0 ||
      head.compare(8, 4, "WAVE") != 0) {
    return absl::OkStatus();  // not RIFF (e.g. RF64): libsndfile decides
  }
  const uint32_t riff_size = Le32(head, 4);
  // Streaming writers leave 0 or 0xFFFFFFFF here: the length is unknown.
  if (riff_size == 0 || riff_size == 0xFFFFFFFFu) return absl::OkStatus();
  const int64_t expected = int64_t{riff_size} + 8;
  // Some writers omit the pad byte after an odd-sized last chunk.
  if (size < expected - 1) return SizeError(path, expected, size);
  return absl::OkStatus();
}

// An Ogg stream ends with a page whose header has the end-of-stream flag
// (0x04); a cut file loses that page.
absl::Status CheckOggComplete(const std::string& path, int64_t size) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(path + ": cannot open");
  const int64_t tail = std::min<int64_t>(size, 1 << 16);
  std::string b(static_cast<size_t>(tail), '\0');
  std::fseek(f, static_cast<long>(size - tail), SEEK_SET);
  const size_t got = std::fread(b.data(), 1, b.size(), f);
  std::fclose(f);
  b.resize(got);
  // Walk back to the last page header whose segment table fits.
  for (size_t at = b.rfind("OggS"); at != std::string::npos && at > 0;
       at = b.rfind("OggS", at - 1)) {
    if (at + 27 > b.size()) continue;
    const int segments = static_cast<uint8_t>(b[at + 26]);
    if (at + 27 + segments > b.size()) continue;
    int64_t body = 0;
    for (int s = 0; s < segments; ++s)
      body += static_cast<uint8_t>(b[at + 27 + s]);
    const int64_t page_end = static_cast<int64_t>(at) + 27 + segments + body;
    if (page_end > static_cast<int64_t>(b.size())) {
      return SizeError(path, size - tail + page_end, size);
    }
    if ((static_cast<uint8_t>(b[at + 5]) & 0x04) == 0) {
      return absl::DataLossError(absl::StrCat(
          path, ": truncated Ogg stream: the last page (ending at byte ",
          size - tail + page_end, " of ", size,
          ") is not marked end-of-stream"));
    }
    return absl::OkStatus();
  }
  return absl::DataLossError(
      absl::StrCat(path, ": no Ogg page in the last ", tail, " bytes"));
}

}  // namespace

absl::StatusOr<DecodedAudio> DecodeAudio(const std::string& path) {
  ST_ASSIGN_OR_RETURN(const int64_t size, FileSize(path));
  // Containers that declare their length are checked before decoding, so a
  // cut file is reported as truncated rather than as undecodable.
  std::string magic(4, '\0');
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    magic.resize(std::fread(magic.data(), 1, 4, f));
    std::fclose(f);
  }
  if (magic == "RIFF") ST_RETURN_IF_ERROR(CheckWavLength(path, size));
  if (magic == "OggS") ST_RETURN_IF_ERROR(CheckOggComplete(path, size));
  SF_INFO info;
  std::memset(&info, 0, sizeof(info));
  SNDFILE* sf = sf_open(path.c_str(), SFM_READ, &info);
  if (sf == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": cannot decode audio (", sf_strerror(nullptr), ")"));
  }
  const int major = info.format & SF_FORMAT_TYPEMASK;
  if (info.channels <= 0 || info.samplerate <= 0) {
    sf_close(sf);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": bad audio header (", info.channels,
                     " channels at ", info.samplerate, " Hz)"));
  }
  DecodedAudio out;
  out.sample_rate = info.samplerate;
  out.channels = info.channels;
  // Integer PCM becomes x / 2^(bits-1) (libsndfile's normalised float read).
  sf_command(sf, SFC_SET_NORM_FLOAT, nullptr, SF_TRUE);
  constexpr sf_count_t kChunk = 1 << 16;  // frames per read
  std::vector<float> buffer(kChunk * info.channels);
  if (info.frames > 0) out.mono.reserve(static_cast<size_t>(info.frames));
  while (true) {
    const sf_count_t frames = sf_readf_float(sf, buffer.data(), kChunk);
    if (frames <= 0) break;
    for (sf_count_t i = 0; i < frames; ++i) {
      float sum = 0.0f;
      for (int c = 0; c < info.channels; ++c)
        sum += buffer[i * info.channels + c];
      out.mono.push_back(sum / info.channels);
    }
  }
  const int error = sf_error(sf);
  const std::string message = sf_strerror(sf);
  sf_close(sf);
  if (error != SF_ERR_NO_ERROR) {
    return absl::DataLossError(
        absl::StrCat(path, ": decoding failed (", message, ")"));
  }
  if (info.frames > 0 && static_cast<int64_t>(out.mono.size()) < info.frames &&
      major != SF_FORMAT_OGG) {
    return absl::DataLossError(absl::StrCat(path, ": truncated: expected ",
                                            info.frames, " frames, found ",
                                            out.mono.size()));
  }
  return out;
}

absl::StatusOr<std::vector<float>> Resample(const std::vector<float>& samples,
                                            int from_rate, int to_rate) {
  if (from_rate <= 0 || to_rate <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("resample: bad rates ", from_rate, " -> ", to_rate));
  }
  if (from_rate == to_rate || samples.empty()) return samples;
  const double ratio = static_cast<double>(to_rate) / from_rate;
  std::vector<float> out(
      static_cast<size_t>(std::ceil(samples.size() * ratio)) + 16);
  SRC_DATA data;
  std::memset(&data, 0, sizeof(data));
  data.data_in = samples.data();
  data.input_frames = static_cast<long>(samples.size());
  data.data_out = out.data();
  data.output_frames = static_cast<long>(out.size());
  data.src_ratio = ratio;
  data.end_of_input = 1;
  const int error = src_simple(&data, SRC_SINC_MEDIUM_QUALITY, 1);
  if (error != 0) {
    return absl::InternalError(
        absl::StrCat("resample: libsamplerate: ", src_strerror(error)));
  }
  out.resize(static_cast<size_t>(data.output_frames_gen));
  return out;
}

absl::StatusOr<std::vector<uint8_t>> LoadMuLaw12k(const std::string& path) {
  ST_ASSIGN_OR_RETURN(const DecodedAudio audio, DecodeAudio(path));
  auto resampled = Resample(audio.mono, audio.sample_rate, kAudioRate);
  if (!resampled.ok()) {
    return absl::Status(resampled.status().code(),
                        absl::StrCat(path, ": ", resampled.status().message()));
  }
  std::vector<uint8_t> codes(resampled->size());
  MuLawEncode(resampled->data(), resampled->size(), codes.data());
  return codes;
}

absl::StatusOr<std::vector<std::string>> ListAudioFiles(
    const std::string& dir) {
  return ListFiles(dir, {".wav", ".ogg"});
}

absl::Status PrepareAudioTracks(const std::vector<std::string>& tracks,
                                const std::string& out, uint64_t seed,
                                const std::string& provenance) {
  if (tracks.size() < 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("audio: need at least 3 tracks for train/valid/test, got ",
                     tracks.size()));
  }
  std::vector<std::string> order = tracks;
  std::sort(order.begin(), order.end());
  Shuffle(seed, &order);
  const size_t n = order.size();
  const size_t valid = std::max<size_t>(1, n / 10);
  const size_t test = valid;
  const size_t train = n - valid - test;
  std::string text = absl::StrCat(provenance, "rate: ", kAudioRate,
                                  " Hz mono, 8-bit mu-law (mu = 255, codes "
                                  "ordered by amplitude)\nresampler: "
                                  "libsamplerate SRC_SINC_MEDIUM_QUALITY\n"
                                  "track order seed: ",
                                  seed, "\n");
  std::vector<std::vector<uint8_t>> codes(n);
  for (size_t i = 0; i < n; ++i) {
    ST_ASSIGN_OR_RETURN(codes[i], LoadMuLaw12k(order[i]));
    const char* split =
        i < train ? "train" : (i < train + valid ? "valid" : "test");
    absl::StrAppend(&text, "track ", split, " ", Basename(order[i]), " ",
                    codes[i].size(), " samples\n");
  }
  ST_ASSIGN_OR_RETURN(auto writer,
                      PreparedWriter::Create(out, Kind::kAudio, {1}, text));
  for (size_t i = 0; i < n; ++i) {
    const Split split =
        i < train ? Split::kTrain
                  : (i < train + valid ? Split::kValid : Split::kTest);
    ST_RETURN_IF_ERROR(writer->Append(split, codes[i]));
  }
  return writer->Finish();
}

}  // namespace datasets
}  // namespace st

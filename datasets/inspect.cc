// Prints a prepared file's header, provenance and split sizes, and writes a
// sample of one split: text bytes to stdout, images as a PNG grid, audio as
// a 16-bit WAV.
//
//   bazel run //datasets:inspect -- data/text/text.stp
//   bazel run //datasets:inspect -- data/images/images32.stp --split=valid
//       --sample=/tmp/valid.png
#include <sndfile.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "datasets/audio.h"
#include "datasets/mulaw.h"
#include "datasets/prepared.h"
#include "datasets/tool_paths.h"
#include "gflags/gflags.h"
#include "sparse_transformer/core/png.h"
#include "sparse_transformer/core/status.h"

DEFINE_string(split, "train", "split to sample: train, valid or test");
DEFINE_int64(offset, 0, "first byte (streams) or example (images) to sample");
DEFINE_int64(count, 0,
             "bytes of text (default 400), images (default 16, shown in a "
             "grid) or audio samples (default 5 s)");
DEFINE_string(sample, "",
              "where to write the image/audio sample (default "
              "/tmp/<file>.<split>.png or .wav)");
DEFINE_bool(verify, true, "check the payload checksum");

namespace st {
namespace datasets {
namespace {

absl::Status WriteImageGrid(const PreparedSplit& split, int64_t first,
                            int64_t count, const std::string& path) {
  const int h = split.example_shape[0], w = split.example_shape[1],
            c = split.example_shape[2];
  const int cols = static_cast<int>(std::min<int64_t>(count, 8));
  const int rows = static_cast<int>((count + cols - 1) / cols);
  const int gap = 2;
  Image grid;
  grid.width = cols * (w + gap) - gap;
  grid.height = rows * (h + gap) - gap;
  grid.channels = c;
  grid.pixels.assign(static_cast<size_t>(grid.width) * grid.height * c, 255);
  for (int64_t i = 0; i < count; ++i) {
    const uint8_t* x = split.data.data() + (first + i) * split.example_bytes;
    const int gx = static_cast<int>(i % cols) * (w + gap);
    const int gy = static_cast<int>(i / cols) * (h + gap);
    for (int y = 0; y < h; ++y) {
      std::memcpy(&grid.pixels[((gy + y) * grid.width + gx) * c], x + y * w * c,
                  static_cast<size_t>(w) * c);
    }
  }
  return WritePng(path, grid);
}

absl::Status WriteWav(const uint8_t* codes, int64_t n,
                      const std::string& path) {
  std::vector<float> samples(n);
  MuLawDecode(codes, n, samples.data());
  SF_INFO info;
  std::memset(&info, 0, sizeof(info));
  info.samplerate = kAudioRate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* sf = sf_open(path.c_str(), SFM_WRITE, &info);
  if (sf == nullptr) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open for writing (",
                                            sf_strerror(nullptr), ")"));
  }
  const sf_count_t written = sf_writef_float(sf, samples.data(), n);
  sf_close(sf);
  if (written != n) return absl::InternalError(path + ": write failed");
  return absl::OkStatus();
}

absl::Status Inspect(const std::string& path) {
  PreparedFile::Options options;
  options.verify_payload = FLAGS_verify;
  ST_ASSIGN_OR_RETURN(auto file, PreparedFile::Open(path, options));
  const PreparedHeader& h = file->header();
  std::printf(
      "file: %s\nformat: prepared v%u, %s, example shape [%s] (%lld "
      "bytes)\n",
      path.c_str(), kPreparedVersion, KindName(h.kind),
      absl::StrJoin(h.example_shape, ", ").c_str(),
      static_cast<long long>(h.example_bytes()));
  for (int s = 0; s < kNumSplits; ++s) {
    const Split split = static_cast<Split>(s);
    std::printf("split %-5s: %lld %s (%lld bytes)\n", SplitName(split),
                static_cast<long long>(h.split_examples[s]),
                h.is_stream() ? "bytes" : "examples",
                static_cast<long long>(h.split_bytes(split)));
  }
  std::printf("payload: %lld bytes at offset %lld, crc32 %08x%s\n",
              static_cast<long long>(h.payload_bytes),
              static_cast<long long>(h.payload_offset), h.payload_crc32,
              FLAGS_verify ? " (verified)" : " (not checked)");
  std::printf("provenance:\n%s", h.provenance.c_str());
  if (!h.provenance.empty() && h.provenance.back() != '\n') std::printf("\n");

  ST_ASSIGN_OR_RETURN(const Split split, ParseSplit(FLAGS_split));
  const PreparedSplit data = file->split(split);
  const int64_t n = data.num_examples();
  if (n == 0) {
    std::printf("sample: split %s is empty\n", SplitName(split));
    return absl::OkStatus();
  }
  const int64_t first = std::min(std::max<int64_t>(FLAGS_offset, 0), n - 1);
  const std::string base = absl::StrCat(
      "/tmp/", path.substr(path.find_last_of('/') + 1), ".", SplitName(split));
  switch (h.kind) {
    case Kind::kText: {
      const int64_t count =
          std::min(FLAGS_count > 0 ? FLAGS_count : 400, n - first);
      std::printf("sample (%s bytes %lld..%lld):\n", SplitName(split),
                  static_cast<long long>(first),
                  static_cast<long long>(first + count));
      std::fwrite(data.data.data() + first, 1, count, stdout);
      std::printf("\n");
      return absl::OkStatus();
    }
    case Kind::kImage: {
      const int64_t count =
          std::min(FLAGS_count > 0 ? FLAGS_count : 16, n - first);
      const std::string out =
          FLAGS_sample.empty() ? base + ".png" : UserPath(FLAGS_sample);
      ST_RETURN_IF_ERROR(WriteImageGrid(data, first, count, out));
      std::printf("sample: %s examples %lld..%lld written to %s\n",
                  SplitName(split), static_cast<long long>(first),
                  static_cast<long long>(first + count), out.c_str());
      return absl::OkStatus();
    }
    case Kind::kAudio: {
      const int64_t count = std::min(
          FLAGS_count > 0 ? FLAGS_count : int64_t{5} * kAudioRate, n - first);
      const std::string out =
          FLAGS_sample.empty() ? base + ".wav" : UserPath(FLAGS_sample);
      ST_RETURN_IF_ERROR(WriteWav(data.data.data() + first, count, out));
      std::printf(
          "sample: %s samples %lld..%lld (%.1f s at 12 kHz) written "
          "to %s\n",
          SplitName(split), static_cast<long long>(first),
          static_cast<long long>(first + count),
          static_cast<double>(count) / kAudioRate, out.c_str());
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace datasets
}  // namespace st

int main(int argc, char** argv) {
  gflags::SetUsageMessage("inspect <prepared file> [--split=...]");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (argc != 2) {
    std::fprintf(
        stderr,
        "error: usage: inspect <prepared file> [--split=train|valid|test]\n");
    return 1;
  }
  st::ExitOnError(st::datasets::Inspect(st::datasets::UserPath(argv[1])));
  return 0;
}

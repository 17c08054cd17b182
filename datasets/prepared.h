// The one on-disk format for prepared data, and its memory-mapped reader.
//
// A prepared file holds one data set: a header, then the uint8 payload of its
// train, valid and test splits back to back. Streams (text, audio) are 1-D
// byte sequences; images are whole examples of H x W x C bytes in raster
// order (row, column, channel). Layout (little-endian):
//
//   offset  size  field
//        0     8  magic "STPREP\r\n"
//        8     4  version (1)
//       12     4  kind (1 text, 2 image, 3 audio)
//       16     4  rank of one example (1 for streams, 3 for images)
//       20     4  reserved (0)
//       24    32  example shape, int64[4] (streams {1}; images {H, W, C})
//       56    24  examples per split, int64[3] (train, valid, test;
//                 for streams one example is one byte)
//       80     8  payload offset (a multiple of 4096, so the payload is
//                 page-aligned in the mapping)
//       88     8  payload bytes (= examples * example bytes, summed)
//       96     4  CRC-32 (zlib) of the payload
//      100     4  provenance bytes P
//      104     4  CRC-32 of bytes [0, 104) and the provenance text
//      108     4  reserved (0)
//      112     P  provenance: UTF-8 text (sources, package versions, options)
//   payload offset: train bytes, then valid, then test; the file ends there.
//
// Readers refuse (with the file name, the expected and the found value) a
// wrong magic or version, a header or payload checksum mismatch, and a file
// whose size is not exactly what the header says; never partial data.
#ifndef SPARSE_TRANSFORMER_DATASETS_PREPARED_H_
#define SPARSE_TRANSFORMER_DATASETS_PREPARED_H_

#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace st {
namespace datasets {

inline constexpr char kPreparedMagic[8] = {'S', 'T', 'P',  'R',
                                           'E', 'P', '\r', '\n'};
inline constexpr uint32_t kPreparedVersion = 1;
inline constexpr int64_t kPreparedFixedHeaderBytes = 112;
inline constexpr int64_t kPreparedAlignment = 4096;

enum class Kind : uint32_t { kText = 1, kImage = 2, kAudio = 3 };
enum class Split : int { kTrain = 0, kValid = 1, kTest = 2 };
inline constexpr int kNumSplits = 3;

const char* KindName(Kind kind);     // "text", "image", "audio"
const char* SplitName(Split split);  // "train", "valid", "test"
absl::StatusOr<Split> ParseSplit(const std::string& name);

struct PreparedHeader {
  Kind kind = Kind::kText;
  std::vector<int64_t> example_shape = {1};  // streams {1}; images {H, W, C}
  std::array<int64_t, kNumSplits> split_examples = {0, 0, 0};
  int64_t payload_offset = 0;
  int64_t payload_bytes = 0;
  uint32_t payload_crc32 = 0;
  std::string provenance;

  bool is_stream() const { return kind != Kind::kImage; }
  // Bytes of one example: 1 for streams, H * W * C for images.
  int64_t example_bytes() const;
  int64_t split_bytes(Split s) const {
    return split_examples[static_cast<int>(s)] * example_bytes();
  }
};

// One split of an open prepared file: a view, valid while the file is open.
struct PreparedSplit {
  std::string name;  // "<file>:<split>", for messages
  Kind kind = Kind::kText;
  std::vector<int64_t> example_shape;
  int64_t example_bytes = 1;
  absl::Span<const uint8_t> data;  // [examples * example_bytes]

  bool is_stream() const { return kind != Kind::kImage; }
  int64_t num_examples() const {
    return static_cast<int64_t>(data.size()) / example_bytes;
  }
};

// A prepared file mapped read-only into memory.
class PreparedFile {
 public:
  struct Options {
    // Checks the payload CRC-32 on open (about 1 s per GB).
    bool verify_payload = true;
  };
  static absl::StatusOr<std::unique_ptr<PreparedFile>> Open(
      const std::string& path, const Options& options);
  static absl::StatusOr<std::unique_ptr<PreparedFile>> Open(
      const std::string& path) {
    return Open(path, Options());
  }
  ~PreparedFile();
  PreparedFile(const PreparedFile&) = delete;
  PreparedFile& operator=(const PreparedFile&) = delete;

  const std::string& path() const { return path_; }
  const PreparedHeader& header() const { return header_; }
  absl::Span<const uint8_t> data(Split s) const;
  PreparedSplit split(Split s) const;

 private:
  PreparedFile() = default;
  std::string path_;
  PreparedHeader header_;
  const uint8_t* map_ = nullptr;
  size_t map_bytes_ = 0;
};

// Reads and checks only the header (no mapping, no payload checksum); the
// file size is still checked against it.
absl::StatusOr<PreparedHeader> ReadPreparedHeader(const std::string& path);

// Writes a prepared file in one pass, splits in order train, valid, test.
// The data goes to "<path>.partial", which Finish() renames to `path`, so a
// failed or interrupted build never leaves a file that looks complete.
class PreparedWriter {
 public:
  static absl::StatusOr<std::unique_ptr<PreparedWriter>> Create(
      const std::string& path, Kind kind, std::vector<int64_t> example_shape,
      const std::string& provenance);
  ~PreparedWriter();
  PreparedWriter(const PreparedWriter&) = delete;
  PreparedWriter& operator=(const PreparedWriter&) = delete;

  // Appends whole examples to `split`; a split may not be appended to once a
  // later one has begun.
  absl::Status Append(Split split, absl::Span<const uint8_t> bytes);
  // Writes the header (sizes, checksums) and moves the file into place.
  absl::Status Finish();
  const PreparedHeader& header() const { return header_; }

 private:
  PreparedWriter() = default;
  std::string path_;
  std::string partial_path_;
  std::FILE* file_ = nullptr;
  PreparedHeader header_;
  int current_split_ = 0;
  bool finished_ = false;
};

// Convenience: writes a whole file from three in-memory splits.
absl::Status WritePrepared(const std::string& path, Kind kind,
                           std::vector<int64_t> example_shape,
                           const std::string& provenance,
                           absl::Span<const uint8_t> train,
                           absl::Span<const uint8_t> valid,
                           absl::Span<const uint8_t> test);

}  // namespace datasets
}  // namespace st

#endif  // SPARSE_TRANSFORMER_DATASETS_PREPARED_H_

#include "datasets/prepared.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "sparse_transformer/core/status.h"

namespace st {
namespace datasets {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the prepared format is read by memcpy on little-endian hosts");

// Fixed header fields at their offsets (see prepared.h).
constexpr size_t kVersionAt = 8, kKindAt = 12, kRankAt = 16, kShapeAt = 24,
                 kSplitsAt = 56, kPayloadOffsetAt = 80, kPayloadBytesAt = 88,
                 kPayloadCrcAt = 96, kProvenanceBytesAt = 100,
                 kHeaderCrcAt = 104;
constexpr int kMaxRank = 4;
constexpr uint32_t kMaxProvenanceBytes = 1 << 20;

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
template <typename T>
void Store(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

uint32_t Crc32(uint32_t crc, const uint8_t* data, size_t n) {
  return static_cast<uint32_t>(crc32_z(crc, data, n));
}

int64_t AlignUp(int64_t n) {
  return (n + kPreparedAlignment - 1) / kPreparedAlignment * kPreparedAlignment;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

absl::Status CheckShape(const std::string& path, Kind kind,
                        const std::vector<int64_t>& shape) {
  const bool stream = kind != Kind::kImage;
  const size_t rank = stream ? 1 : 3;
  if (shape.size() != rank) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": a ", KindName(kind), " example has rank ", rank,
                     ", found shape ", ShapeString(shape)));
  }
  for (int64_t d : shape) {
    if (d <= 0 || d > (int64_t{1} << 20)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": bad example shape ", ShapeString(shape)));
    }
  }
  if (stream && shape[0] != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": a stream example has shape [1], found ", ShapeString(shape)));
  }
  return absl::OkStatus();
}

// Serialises the fixed part and provenance; the header CRC covers both.
std::vector<uint8_t> EncodeHeader(const PreparedHeader& h) {
  std::vector<uint8_t> out(kPreparedFixedHeaderBytes + h.provenance.size(), 0);
  std::memcpy(out.data(), kPreparedMagic, 8);
  Store<uint32_t>(&out[kVersionAt], kPreparedVersion);
  Store<uint32_t>(&out[kKindAt], static_cast<uint32_t>(h.kind));
  Store<uint32_t>(&out[kRankAt], static_cast<uint32_t>(h.example_shape.size()));
  for (size_t i = 0; i < h.example_shape.size(); ++i) {
    Store<int64_t>(&out[kShapeAt + 8 * i], h.example_shape[i]);
  }
  for (int s = 0; s < kNumSplits; ++s) {
    Store<int64_t>(&out[kSplitsAt + 8 * s], h.split_examples[s]);
  }
  Store<int64_t>(&out[kPayloadOffsetAt], h.payload_offset);
  Store<int64_t>(&out[kPayloadBytesAt], h.payload_bytes);
  Store<uint32_t>(&out[kPayloadCrcAt], h.payload_crc32);
  Store<uint32_t>(&out[kProvenanceBytesAt],
                  static_cast<uint32_t>(h.provenance.size()));
  std::memcpy(&out[kPreparedFixedHeaderBytes], h.provenance.data(),
              h.provenance.size());
  uint32_t crc = Crc32(0, out.data(), kHeaderCrcAt);
  crc = Crc32(crc, out.data() + kPreparedFixedHeaderBytes, h.provenance.size());
  Store<uint32_t>(&out[kHeaderCrcAt], crc);
  return out;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

absl::Status ReadExact(const std::string& path, int fd, int64_t offset,
                       uint8_t* out, int64_t n, int64_t file_size) {
  int64_t done = 0;
  while (done < n) {
    const ssize_t r = pread(fd, out + done, n - done, offset + done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      return absl::DataLossError(
          absl::StrCat(path, ": truncated header: expected at least ",
                       offset + n, " bytes, found ", file_size));
    }
    done += r;
  }
  return absl::OkStatus();
}

// Parses and checks the header of an open file of `file_size` bytes.
absl::StatusOr<PreparedHeader> DecodeHeader(const std::string& path, int fd,
                                            int64_t file_size) {
  uint8_t fixed[kPreparedFixedHeaderBytes];
  if (file_size < kPreparedFixedHeaderBytes) {
    return absl::DataLossError(absl::StrCat(
        path, ": truncated: expected at least ", kPreparedFixedHeaderBytes,
        " header bytes, found ", file_size, " bytes"));
  }
  ST_RETURN_IF_ERROR(
      ReadExact(path, fd, 0, fixed, kPreparedFixedHeaderBytes, file_size));
  if (std::memcmp(fixed, kPreparedMagic, 8) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     ": not a prepared data file (wrong magic; expected "
                     "\"STPREP\\r\\n\")"));
  }
  const uint32_t version = Load<uint32_t>(&fixed[kVersionAt]);
  if (version != kPreparedVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": prepared format version ", version,
                     ", this reader expects ", kPreparedVersion));
  }
  PreparedHeader h;
  const uint32_t provenance_bytes = Load<uint32_t>(&fixed[kProvenanceBytesAt]);
  if (provenance_bytes > kMaxProvenanceBytes ||
      kPreparedFixedHeaderBytes + provenance_bytes > file_size) {
    return absl::DataLossError(absl::StrCat(
        path, ": truncated or corrupt header: provenance of ", provenance_bytes,
        " bytes does not fit a file of ", file_size, " bytes"));
  }
  h.provenance.resize(provenance_bytes);
  ST_RETURN_IF_ERROR(ReadExact(path, fd, kPreparedFixedHeaderBytes,
                               reinterpret_cast<uint8_t*>(h.provenance.data()),
                               provenance_bytes, file_size));
  uint32_t crc = Crc32(0, fixed, kHeaderCrcAt);
  crc = Crc32(crc, reinterpret_cast<const uint8_t*>(h.provenance.data()),
              provenance_bytes);
  const uint32_t stored_crc = Load<uint32_t>(&fixed[kHeaderCrcAt]);
  if (crc != stored_crc) {
    return absl::DataLossError(absl::StrFormat(
        "%s: header checksum mismatch: expected %08x, found %08x", path,
        stored_crc, crc));
  }
  const uint32_t kind = Load<uint32_t>(&fixed[kKindAt]);
  if (kind < 1 || kind > 3) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": unknown data kind ", kind));
  }
  h.kind = static_cast<Kind>(kind);
  const uint32_t rank = Load<uint32_t>(&fixed[kRankAt]);
  if (rank < 1 || rank > kMaxRank) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": bad example rank ", rank));
  }
  h.example_shape.resize(rank);
  for (uint32_t i = 0; i < rank; ++i) {
    h.example_shape[i] = Load<int64_t>(&fixed[kShapeAt + 8 * i]);
  }
  ST_RETURN_IF_ERROR(CheckShape(path, h.kind, h.example_shape));
  int64_t expected_payload = 0;
  for (int s = 0; s < kNumSplits; ++s) {
    h.split_examples[s] = Load<int64_t>(&fixed[kSplitsAt + 8 * s]);
    if (h.split_examples[s] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": negative size of split ", SplitName(static_cast<Split>(s))));
    }
    expected_payload += h.split_examples[s] * h.example_bytes();
  }
  h.payload_offset = Load<int64_t>(&fixed[kPayloadOffsetAt]);
  h.payload_bytes = Load<int64_t>(&fixed[kPayloadBytesAt]);
  h.payload_crc32 = Load<uint32_t>(&fixed[kPayloadCrcAt]);
  if (h.payload_bytes != expected_payload) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": header says ", h.payload_bytes,
        " payload bytes, but its split sizes need ", expected_payload));
  }
  if (h.payload_offset !=
      AlignUp(kPreparedFixedHeaderBytes + provenance_bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": payload offset ", h.payload_offset, ", expected ",
                     AlignUp(kPreparedFixedHeaderBytes + provenance_bytes)));
  }
  const int64_t expected_size = h.payload_offset + h.payload_bytes;
  if (file_size != expected_size) {
    return absl::DataLossError(absl::StrCat(
        path, file_size < expected_size ? ": truncated" : ": wrong size",
        ": expected ", expected_size, " bytes, found ", file_size));
  }
  return h;
}

absl::StatusOr<int64_t> OpenForRead(const std::string& path, Fd* fd) {
  fd->fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd->fd < 0) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open (", std::strerror(errno), ")"));
  }
  struct stat st;
  if (fstat(fd->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file"));
  }
  return static_cast<int64_t>(st.st_size);
}

}  // namespace

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kText:
      return "text";
    case Kind::kImage:
      return "image";
    case Kind::kAudio:
      return "audio";
  }
  return "unknown";
}

const char* SplitName(Split split) {
  switch (split) {
    case Split::kTrain:
      return "train";
    case Split::kValid:
      return "valid";
    case Split::kTest:
      return "test";
  }
  return "unknown";
}

absl::StatusOr<Split> ParseSplit(const std::string& name) {
  for (int s = 0; s < kNumSplits; ++s) {
    if (name == SplitName(static_cast<Split>(s))) return static_cast<Split>(s);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown split '", name, "' (want train, valid or test)"));
}

int64_t PreparedHeader::example_bytes() const {
  int64_t n = 1;
  for (int64_t d : example_shape) n *= d;
  return n;
}

absl::StatusOr<PreparedHeader> ReadPreparedHeader(const std::string& path) {
  Fd fd;
  ST_ASSIGN_OR_RETURN(const int64_t size, OpenForRead(path, &fd));
  return DecodeHeader(path, fd.fd, size);
}

absl::StatusOr<std::unique_ptr<PreparedFile>> PreparedFile::Open(
    const std::string& path, const Options& options) {
  Fd fd;
  ST_ASSIGN_OR_RETURN(const int64_t size, OpenForRead(path, &fd));
  ST_ASSIGN_OR_RETURN(PreparedHeader header, DecodeHeader(path, fd.fd, size));
  std::unique_ptr<PreparedFile> file(new PreparedFile());
  file->path_ = path;
  file->header_ = std::move(header);
  file->map_bytes_ = static_cast<size_t>(size);
  void* map = mmap(nullptr, file->map_bytes_, PROT_READ, MAP_SHARED, fd.fd, 0);
  if (map == MAP_FAILED) {
    return absl::InternalError(
        absl::StrCat(path, ": mmap failed (", std::strerror(errno), ")"));
  }
  file->map_ = static_cast<const uint8_t*>(map);
  if (options.verify_payload) {
    const uint32_t crc =
        Crc32(0, file->map_ + file->header_.payload_offset,
              static_cast<size_t>(file->header_.payload_bytes));
    if (crc != file->header_.payload_crc32) {
      return absl::DataLossError(absl::StrFormat(
          "%s: payload checksum mismatch: expected %08x, found %08x", path,
          file->header_.payload_crc32, crc));
    }
  }
  return file;
}

PreparedFile::~PreparedFile() {
  if (map_ != nullptr) munmap(const_cast<uint8_t*>(map_), map_bytes_);
}

absl::Span<const uint8_t> PreparedFile::data(Split s) const {
  int64_t offset = header_.payload_offset;
  for (int i = 0; i < static_cast<int>(s); ++i) {
    offset += header_.split_bytes(static_cast<Split>(i));
  }
  return absl::Span<const uint8_t>(map_ + offset,
                                   static_cast<size_t>(header_.split_bytes(s)));
}

PreparedSplit PreparedFile::split(Split s) const {
  PreparedSplit out;
  out.name = absl::StrCat(path_, ":", SplitName(s));
  out.kind = header_.kind;
  out.example_shape = header_.example_shape;
  out.example_bytes = header_.example_bytes();
  out.data = data(s);
  return out;
}

absl::StatusOr<std::unique_ptr<PreparedWriter>> PreparedWriter::Create(
    const std::string& path, Kind kind, std::vector<int64_t> example_shape,
    const std::string& provenance) {
  ST_RETURN_IF_ERROR(CheckShape(path, kind, example_shape));
  if (provenance.size() > kMaxProvenanceBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": provenance text of ", provenance.size(),
                     " bytes exceeds ", kMaxProvenanceBytes));
  }
  std::unique_ptr<PreparedWriter> w(new PreparedWriter());
  w->path_ = path;
  w->partial_path_ = path + ".partial";
  w->header_.kind = kind;
  w->header_.example_shape = std::move(example_shape);
  w->header_.provenance = provenance;
  w->header_.payload_offset = AlignUp(kPreparedFixedHeaderBytes +
                                      static_cast<int64_t>(provenance.size()));
  w->file_ = std::fopen(w->partial_path_.c_str(), "wb");
  if (w->file_ == nullptr) {
    return absl::NotFoundError(absl::StrCat(w->partial_path_,
                                            ": cannot open for writing (",
                                            std::strerror(errno), ")"));
  }
  // Placeholder header; Finish() rewrites it with the sizes and checksums.
  const std::vector<uint8_t> zeros(w->header_.payload_offset, 0);
  if (std::fwrite(zeros.data(), 1, zeros.size(), w->file_) != zeros.size()) {
    return absl::InternalError(
        absl::StrCat(w->partial_path_, ": write failed"));
  }
  return w;
}

PreparedWriter::~PreparedWriter() {
  if (file_ != nullptr) std::fclose(file_);
  if (!finished_) std::remove(partial_path_.c_str());
}

absl::Status PreparedWriter::Append(Split split,
                                    absl::Span<const uint8_t> bytes) {
  const int s = static_cast<int>(split);
  if (finished_ || file_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": append after Finish"));
  }
  if (bytes.empty()) return absl::OkStatus();  // opens no split
  if (s < current_split_) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": split ", SplitName(split), " appended after ",
                     SplitName(static_cast<Split>(current_split_))));
  }
  const int64_t example_bytes = header_.example_bytes();
  if (static_cast<int64_t>(bytes.size()) % example_bytes != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": appended ", bytes.size(),
        " bytes, not a whole number of examples of ", example_bytes, " bytes"));
  }
  current_split_ = s;
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    return absl::InternalError(absl::StrCat(partial_path_, ": write failed (",
                                            std::strerror(errno), ")"));
  }
  header_.payload_crc32 =
      Crc32(header_.payload_crc32, bytes.data(), bytes.size());
  header_.split_examples[s] +=
      static_cast<int64_t>(bytes.size()) / example_bytes;
  header_.payload_bytes += static_cast<int64_t>(bytes.size());
  return absl::OkStatus();
}

absl::Status PreparedWriter::Finish() {
  if (finished_ || file_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": Finish called twice"));
  }
  const std::vector<uint8_t> header = EncodeHeader(header_);
  const bool ok =
      std::fseek(file_, 0, SEEK_SET) == 0 &&
      std::fwrite(header.data(), 1, header.size(), file_) == header.size() &&
      std::fflush(file_) == 0;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!ok || !closed) {
    return absl::InternalError(
        absl::StrCat(partial_path_, ": writing the header failed"));
  }
  if (std::rename(partial_path_.c_str(), path_.c_str()) != 0) {
    return absl::InternalError(absl::StrCat(path_, ": cannot move ",
                                            partial_path_, " into place (",
                                            std::strerror(errno), ")"));
  }
  finished_ = true;
  return absl::OkStatus();
}

absl::Status WritePrepared(const std::string& path, Kind kind,
                           std::vector<int64_t> example_shape,
                           const std::string& provenance,
                           absl::Span<const uint8_t> train,
                           absl::Span<const uint8_t> valid,
                           absl::Span<const uint8_t> test) {
  ST_ASSIGN_OR_RETURN(
      auto writer,
      PreparedWriter::Create(path, kind, std::move(example_shape), provenance));
  ST_RETURN_IF_ERROR(writer->Append(Split::kTrain, train));
  ST_RETURN_IF_ERROR(writer->Append(Split::kValid, valid));
  ST_RETURN_IF_ERROR(writer->Append(Split::kTest, test));
  return writer->Finish();
}

}  // namespace datasets
}  // namespace st

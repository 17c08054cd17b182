#include "sparse_transformer/train/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"

namespace st::train {
namespace {

constexpr char kMagic[8] = {'S', 'T', 'C', 'K', 'P', 'T', '\r', '\n'};
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8;

template <typename T>
void Put(std::string* out, T value) {
  out->append(reinterpret_cast<const char*>(&value), sizeof(T));
}

void PutString(std::string* out, const std::string& s) {
  Put<uint64_t>(out, s.size());
  out->append(s);
}

void PutFloats(std::string* out, const std::vector<float>& v) {
  out->append(reinterpret_cast<const char*>(v.data()),
              v.size() * sizeof(float));
}

// Reads fields from a payload, failing (not crashing) on a short buffer.
class Reader {
 public:
  Reader(const std::string& data, size_t pos) : data_(data), pos_(pos) {}
  template <typename T>
  bool Get(T* value) {
    if (data_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(value, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool GetString(std::string* s) {
    uint64_t n;
    if (!Get(&n) || data_.size() - pos_ < n) return false;
    s->assign(data_, pos_, n);
    pos_ += n;
    return true;
  }
  bool GetFloats(uint64_t n, std::vector<float>* v) {
    if ((data_.size() - pos_) / sizeof(float) < n) return false;
    v->resize(n);
    std::memcpy(v->data(), data_.data() + pos_, n * sizeof(float));
    pos_ += n * sizeof(float);
    return true;
  }
  size_t pos() const { return pos_; }

 private:
  const std::string& data_;
  size_t pos_;
};

uint32_t Crc32(const char* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large buffers in chunks.
  while (size > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
    data += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

absl::Status ErrnoError(const std::string& what, const std::string& path) {
  return absl::InternalError(absl::StrCat("checkpoint ", path, ": ", what, ": ",
                                          std::strerror(errno)));
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::string ModelSignature(const std::vector<ParamGroup>& groups) {
  std::string sig;
  for (const ParamGroup& g : groups) {
    absl::StrAppend(&sig, g.name, "[");
    for (size_t i = 0; i < g.shape.size(); ++i) {
      absl::StrAppend(&sig, i ? "," : "", g.shape[i]);
    }
    absl::StrAppend(&sig, "]@", g.offset, g.decay ? "d" : "", ";");
  }
  return sig;
}

std::string ModelSignature(const Trainable& model) {
  std::string sig = ModelSignature(model.param_groups());
  const std::string structure = model.structure();
  if (!structure.empty()) absl::StrAppend(&sig, "structure: ", structure);
  return sig;
}

absl::Status WriteCheckpoint(const std::string& path, const TrainState& state) {
  const size_t p = state.params.size();
  if (state.adam_m.size() != p || state.adam_v.size() != p) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint ", path, ": params has ", p, " values but adam_m ",
        state.adam_m.size(), " and adam_v ", state.adam_v.size()));
  }
  std::string payload;
  payload.reserve(64 + state.model_signature.size() + state.data_state.size() +
                  3 * p * sizeof(float));
  Put<int64_t>(&payload, state.step);
  Put<int64_t>(&payload, state.adam_steps);
  Put<uint64_t>(&payload, state.rng_state);
  Put<float>(&payload, state.loss_scale);
  Put<int64_t>(&payload, state.loss_scale_clean_steps);
  PutString(&payload, state.model_signature);
  PutString(&payload, state.data_state);
  Put<uint64_t>(&payload, p);
  PutFloats(&payload, state.params);
  PutFloats(&payload, state.adam_m);
  PutFloats(&payload, state.adam_v);

  std::string header(kMagic, sizeof(kMagic));
  Put<uint32_t>(&header, kCheckpointVersion);
  Put<uint32_t>(&header, Crc32(payload.data(), payload.size()));
  Put<uint64_t>(&header, payload.size());

  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return ErrnoError("cannot create " + tmp, path);
  for (const std::string* part : {&header, &payload}) {
    const char* data = part->data();
    size_t left = part->size();
    while (left > 0) {
      const ssize_t n = ::write(fd, data, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        absl::Status status = ErrnoError("cannot write " + tmp, path);
        ::close(fd);
        ::unlink(tmp.c_str());
        return status;
      }
      data += n;
      left -= static_cast<size_t>(n);
    }
  }
  if (::fsync(fd) != 0) {
    absl::Status status = ErrnoError("cannot fsync " + tmp, path);
    ::close(fd);
    ::unlink(tmp.c_str());
    return status;
  }
  if (::close(fd) != 0) return ErrnoError("cannot close " + tmp, path);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return ErrnoError("cannot rename " + tmp + " to it", path);
  }
  // Make the rename itself durable.
  const int dir = ::open(DirName(path).c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return absl::OkStatus();
}

absl::StatusOr<TrainState> ReadCheckpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(
        "checkpoint ", path, ": cannot open: ", std::strerror(errno)));
  }
  std::string data((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  if (data.size() < kHeaderBytes) {
    return absl::DataLossError(absl::StrCat(
        "checkpoint ", path, " is truncated: ", data.size(),
        " bytes, shorter than the ", kHeaderBytes, "-byte header"));
  }
  if (std::memcmp(data.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::DataLossError(absl::StrCat(
        "checkpoint ", path, " is not a checkpoint (wrong magic bytes)"));
  }
  Reader header(data, sizeof(kMagic));
  uint32_t version, crc;
  uint64_t payload_bytes;
  header.Get(&version);
  header.Get(&crc);
  header.Get(&payload_bytes);
  if (version != kCheckpointVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint ", path, " has format version ", version,
                     "; this build reads version ", kCheckpointVersion));
  }
  if (data.size() - kHeaderBytes != payload_bytes) {
    return absl::DataLossError(
        absl::StrCat("checkpoint ", path,
                     " is truncated or padded: header says ", payload_bytes,
                     " payload bytes, file has ", data.size() - kHeaderBytes));
  }
  const uint32_t actual = Crc32(data.data() + kHeaderBytes, payload_bytes);
  if (actual != crc) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path,
                                            " is corrupt: CRC-32 is ", actual,
                                            ", header says ", crc));
  }
  TrainState state;
  Reader r(data, kHeaderBytes);
  uint64_t p = 0;
  if (!r.Get(&state.step) || !r.Get(&state.adam_steps) ||
      !r.Get(&state.rng_state) || !r.Get(&state.loss_scale) ||
      !r.Get(&state.loss_scale_clean_steps) ||
      !r.GetString(&state.model_signature) || !r.GetString(&state.data_state) ||
      !r.Get(&p) || !r.GetFloats(p, &state.params) ||
      !r.GetFloats(p, &state.adam_m) || !r.GetFloats(p, &state.adam_v) ||
      r.pos() != data.size()) {
    return absl::DataLossError(absl::StrCat(
        "checkpoint ", path, " has a malformed payload (fields do not fit)"));
  }
  return state;
}

}  // namespace st::train

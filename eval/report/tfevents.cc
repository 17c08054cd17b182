#include "eval/report/tfevents.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "eval/report/crc32c.h"

namespace st::report {
namespace {

constexpr char kFileVersion[] = "brain.Event:2";

void AppendLittleEndian(uint64_t value, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) {
    out->push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  }
}

uint64_t LoadLittleEndian(const char* p, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return value;
}

std::string HostName() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    return "localhost";
  }
  return host;
}

}  // namespace

double WallTimeNow() {
  return std::chrono::duration<double>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string EventFileName(int64_t unix_seconds, absl::string_view host) {
  return absl::StrCat("events.out.tfevents.", unix_seconds, ".", host);
}

std::string FrameRecord(absl::string_view data) {
  std::string record;
  record.reserve(data.size() + 16);
  AppendLittleEndian(data.size(), 8, &record);
  const uint32_t length_crc = MaskCrc(Crc32c(record));
  AppendLittleEndian(length_crc, 4, &record);
  record.append(data.data(), data.size());
  AppendLittleEndian(MaskCrc(Crc32c(data)), 4, &record);
  return record;
}

absl::StatusOr<std::unique_ptr<EventWriter>> EventWriter::Create(
    const std::string& dir) {
  return Create(dir, WallTimeNow(), HostName());
}

absl::StatusOr<std::unique_ptr<EventWriter>> EventWriter::Create(
    const std::string& dir, double wall_time, absl::string_view host) {
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) {
    return absl::NotFoundError(
        absl::StrCat("event file folder ", dir, " does not exist"));
  }
  const std::string base =
      (std::filesystem::path(dir) /
       EventFileName(static_cast<int64_t>(std::floor(wall_time)), host))
          .string();
  std::string path = base;
  for (int n = 1; std::filesystem::exists(path, error); ++n) {
    path = absl::StrCat(base, ".", n);
  }
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "cannot create event file ", path, ": ", std::strerror(errno)));
  }
  std::unique_ptr<EventWriter> writer(new EventWriter(path, file));
  tfevents::Event version;
  version.set_wall_time(wall_time);
  version.set_file_version(kFileVersion);
  absl::Status status = writer->Write(version);
  if (!status.ok()) return status;
  return writer;
}

EventWriter::~EventWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::Status EventWriter::AddScalar(absl::string_view tag, int64_t step,
                                    double value, double wall_time) {
  tfevents::Event event;
  event.set_wall_time(wall_time);
  event.set_step(step);
  tfevents::Summary::Value* summary_value =
      event.mutable_summary()->add_value();
  summary_value->set_tag(std::string(tag));
  summary_value->set_simple_value(static_cast<float>(value));
  return Write(event);
}

absl::Status EventWriter::Write(const tfevents::Event& event) {
  std::string data;
  if (!event.SerializeToString(&data)) {
    return absl::InternalError(
        absl::StrCat("cannot serialize an event for ", path_));
  }
  const std::string record = FrameRecord(data);
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size() ||
      std::fflush(file_) != 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot write event file ", path_, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ReadRecords(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open event file ", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string bytes = buffer.str();

  std::vector<std::string> records;
  size_t offset = 0;
  while (offset < bytes.size()) {
    if (bytes.size() - offset < 12) {
      return absl::DataLossError(absl::StrCat(path, ": record header at byte ",
                                              offset, " is cut short"));
    }
    const char* header = bytes.data() + offset;
    const uint64_t length = LoadLittleEndian(header, 8);
    const uint32_t length_crc = LoadLittleEndian(header + 8, 4);
    if (UnmaskCrc(length_crc) != Crc32c(absl::string_view(header, 8))) {
      return absl::DataLossError(absl::StrCat(
          path, ": length CRC mismatch in the record at byte ", offset));
    }
    if (length > bytes.size() - offset - 12 ||
        bytes.size() - offset - 12 - length < 4) {
      return absl::DataLossError(
          absl::StrCat(path, ": record at byte ", offset, " of length ", length,
                       " runs past the end of the file"));
    }
    absl::string_view data(header + 12, length);
    const uint32_t data_crc = LoadLittleEndian(header + 12 + length, 4);
    if (UnmaskCrc(data_crc) != Crc32c(data)) {
      return absl::DataLossError(absl::StrCat(
          path, ": data CRC mismatch in the record at byte ", offset));
    }
    records.emplace_back(data);
    offset += 16 + length;
  }
  return records;
}

absl::StatusOr<std::vector<tfevents::Event>> ReadEvents(
    const std::string& path) {
  absl::StatusOr<std::vector<std::string>> records = ReadRecords(path);
  if (!records.ok()) return records.status();
  std::vector<tfevents::Event> events(records->size());
  for (size_t i = 0; i < records->size(); ++i) {
    if (!events[i].ParseFromString((*records)[i])) {
      return absl::DataLossError(
          absl::StrCat(path, ": record ", i, " is not an Event proto"));
    }
  }
  return events;
}

}  // namespace st::report

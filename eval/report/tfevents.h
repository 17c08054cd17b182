// TensorBoard event files: TFRecord-framed Event protos (eval/report/
// tfevents.proto), so `tensorboard --logdir=<run folder>` shows a run's
// scalars.
//
// A record is
//   uint64 length | uint32 masked_crc32c(length) | data | uint32
//   masked_crc32c(data)
// with integers little-endian; the file's first record is an Event whose
// file_version is "brain.Event:2".
#ifndef SPARSE_TRANSFORMER_EVAL_REPORT_TFEVENTS_H_
#define SPARSE_TRANSFORMER_EVAL_REPORT_TFEVENTS_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "eval/report/tfevents.pb.h"

namespace st::report {

// Seconds since the Unix epoch, with sub-second precision.
double WallTimeNow();

// "events.out.tfevents.<unix_seconds>.<host>" (TensorBoard picks up every
// file whose name contains "tfevents").
std::string EventFileName(int64_t unix_seconds, absl::string_view host);

// One TFRecord: the framing above around `data`.
std::string FrameRecord(absl::string_view data);

// Appends scalars to a new event file. Every event is flushed at once, so a
// crashed run keeps all it logged; not thread-safe.
class EventWriter {
 public:
  // Creates <dir>/events.out.tfevents.<now>.<this host> (with ".1", ".2", ...
  // appended if that name exists) and writes the file_version record.
  // `dir` must exist.
  static absl::StatusOr<std::unique_ptr<EventWriter>> Create(
      const std::string& dir);
  // As above with the time in the name and the host given (for tests).
  static absl::StatusOr<std::unique_ptr<EventWriter>> Create(
      const std::string& dir, double wall_time, absl::string_view host);

  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // One Event with one simple_value, e.g. AddScalar("valid/bpb", 1000, 1.23).
  absl::Status AddScalar(absl::string_view tag, int64_t step, double value,
                         double wall_time);
  absl::Status AddScalar(absl::string_view tag, int64_t step, double value) {
    return AddScalar(tag, step, value, WallTimeNow());
  }
  // Any event, framed and flushed.
  absl::Status Write(const tfevents::Event& event);

  const std::string& path() const { return path_; }

 private:
  EventWriter(std::string path, std::FILE* file)
      : path_(std::move(path)), file_(file) {}

  std::string path_;
  std::FILE* file_;
};

// Every record's data, with both CRCs checked. A record cut short at the end
// of the file (a writer killed mid-record) is an error naming its offset.
absl::StatusOr<std::vector<std::string>> ReadRecords(const std::string& path);

// ReadRecords, each parsed as an Event.
absl::StatusOr<std::vector<tfevents::Event>> ReadEvents(
    const std::string& path);

}  // namespace st::report

#endif  // SPARSE_TRANSFORMER_EVAL_REPORT_TFEVENTS_H_

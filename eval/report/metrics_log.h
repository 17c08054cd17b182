// The run's metrics as an append-only CSV:
//   step,wall_seconds,split,metric,value
// One row per logged number, flushed as it is written, so a crash loses
// nothing that was logged. A resumed run appends to the same file; readers
// let a later row for the same (split, metric, step) replace an earlier one.
#ifndef SPARSE_TRANSFORMER_EVAL_REPORT_METRICS_LOG_H_
#define SPARSE_TRANSFORMER_EVAL_REPORT_METRICS_LOG_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace st::report {

// File name of the log inside a run folder.
inline constexpr char kMetricsCsvName[] = "metrics.csv";
// Names the runner logs under, so reports find them.
inline constexpr char kSplitTrain[] = "train";
inline constexpr char kSplitValid[] = "valid";
inline constexpr char kSplitTest[] = "test";
inline constexpr char kMetricBpb[] = "bits_per_byte";
inline constexpr char kMetricLoss[] = "loss";  // nats per byte

struct MetricRow {
  int64_t step = 0;         // optimizer steps done
  double wall_seconds = 0;  // since the run started
  std::string split;        // "train", "valid", "test", ...
  std::string metric;       // "bits_per_byte", "loss", ...
  double value = 0;
};

// Appends rows to a CSV file, creating it with its header line if it is new
// or empty. Not thread-safe.
class MetricsLog {
 public:
  static absl::StatusOr<std::unique_ptr<MetricsLog>> Open(
      const std::string& path);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // Writes and flushes one row. split and metric must be non-empty and free
  // of ',', '"' and line breaks; the value may be any double (nan, inf kept).
  absl::Status Append(const MetricRow& row);
  absl::Status Append(int64_t step, double wall_seconds,
                      absl::string_view split, absl::string_view metric,
                      double value);

  const std::string& path() const { return path_; }

 private:
  MetricsLog(std::string path, std::FILE* file)
      : path_(std::move(path)), file_(file) {}
  std::string path_;
  std::FILE* file_;
};

// All rows in file order. A last line without its newline (a writer killed
// mid-row) is dropped; any other malformed line is an error naming the file
// and line. Files with the older header "step,split,metric,value" (no wall
// time) are read too, with wall_seconds 0.
absl::StatusOr<std::vector<MetricRow>> ReadMetricsLog(const std::string& path);

// (step, value) of one split and metric, sorted by step; where a step was
// logged more than once (a resumed run), the last row wins.
std::vector<std::pair<int64_t, double>> SelectSeries(
    const std::vector<MetricRow>& rows, absl::string_view split,
    absl::string_view metric);

}  // namespace st::report

#endif  // SPARSE_TRANSFORMER_EVAL_REPORT_METRICS_LOG_H_

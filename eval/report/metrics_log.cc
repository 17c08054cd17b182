#include "eval/report/metrics_log.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace st::report {
namespace {

constexpr char kHeader[] = "step,wall_seconds,split,metric,value";
// Without the wall time; read for compatibility.
constexpr char kHeaderNoTime[] = "step,split,metric,value";

absl::Status CheckName(absl::string_view what, absl::string_view name,
                       const std::string& path) {
  if (name.empty() ||
      name.find_first_of(",\"\r\n") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": metric ", what, " \"", name,
                     "\" must be non-empty without ',', '\"' or line breaks"));
  }
  return absl::OkStatus();
}

// strtod accepts "nan", "inf" and "-inf", which %.17g writes.
bool ParseDouble(absl::string_view text, double* value) {
  const std::string copy(text);
  if (copy.empty()) return false;
  char* end = nullptr;
  *value = std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size();
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsLog>> MetricsLog::Open(
    const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "ab");
  if (file == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot open metrics log ", path,
                                               ": ", std::strerror(errno)));
  }
  std::unique_ptr<MetricsLog> log(new MetricsLog(path, file));
  // In append mode the position is the end of the file: 0 means empty.
  if (std::fseek(file, 0, SEEK_END) != 0 || std::ftell(file) == 0) {
    if (std::fprintf(file, "%s\n", kHeader) < 0 || std::fflush(file) != 0) {
      return absl::UnavailableError(absl::StrCat(
          "cannot write metrics log ", path, ": ", std::strerror(errno)));
    }
  }
  return log;
}

MetricsLog::~MetricsLog() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::Status MetricsLog::Append(const MetricRow& row) {
  absl::Status status = CheckName("split", row.split, path_);
  if (!status.ok()) return status;
  status = CheckName("name", row.metric, path_);
  if (!status.ok()) return status;
  // %.17g round-trips every double exactly.
  const std::string line =
      absl::StrFormat("%d,%.3f,%s,%s,%.17g\n", row.step, row.wall_seconds,
                      row.split, row.metric, row.value);
  if (std::fputs(line.c_str(), file_) < 0 || std::fflush(file_) != 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot write metrics log ", path_, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status MetricsLog::Append(int64_t step, double wall_seconds,
                                absl::string_view split,
                                absl::string_view metric, double value) {
  return Append(MetricRow{step, wall_seconds, std::string(split),
                          std::string(metric), value});
}

absl::StatusOr<std::vector<MetricRow>> ReadMetricsLog(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open metrics log ", path));
  }
  const std::string text(std::istreambuf_iterator<char>(in), {});
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  // The piece after the last '\n' is "" for a complete file and a partial
  // row after a crash; neither is data.
  lines.pop_back();
  std::vector<MetricRow> rows;
  bool with_time = true;
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (i == 0) {
      if (line != kHeader && line != kHeaderNoTime) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":1: expected the header \"", kHeader,
                         "\", found \"", line, "\""));
      }
      with_time = line == kHeader;
      continue;
    }
    if (line.empty()) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ',');
    if (!with_time && fields.size() == 4)
      fields.insert(fields.begin() + 1, "0");
    MetricRow row;
    if (fields.size() != 5 || !absl::SimpleAtoi(fields[0], &row.step) ||
        !ParseDouble(fields[1], &row.wall_seconds) || fields[2].empty() ||
        fields[3].empty() || !ParseDouble(fields[4], &row.value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", i + 1, ": malformed row \"", line,
                       "\" (want ", with_time ? kHeader : kHeaderNoTime, ")"));
    }
    row.split = std::string(fields[2]);
    row.metric = std::string(fields[3]);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<std::pair<int64_t, double>> SelectSeries(
    const std::vector<MetricRow>& rows, absl::string_view split,
    absl::string_view metric) {
  std::map<int64_t, double> by_step;
  for (const MetricRow& row : rows) {
    if (row.split == split && row.metric == metric)
      by_step[row.step] = row.value;
  }
  return std::vector<std::pair<int64_t, double>>(by_step.begin(),
                                                 by_step.end());
}

}  // namespace st::report

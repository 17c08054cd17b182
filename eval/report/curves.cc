#include "eval/report/curves.h"

#include "absl/strings/str_cat.h"
#include "sparse_transformer/core/status.h"

namespace st::report {

std::vector<PlotSeries> MetricSeries(const std::vector<MetricRow>& rows,
                                     absl::string_view metric,
                                     const std::vector<std::string>& splits) {
  std::vector<PlotSeries> series;
  for (const std::string& split : splits) {
    PlotSeries s;
    s.name = split;
    for (const auto& [step, value] : SelectSeries(rows, split, metric)) {
      s.points.emplace_back(static_cast<double>(step), value);
    }
    if (!s.points.empty()) series.push_back(std::move(s));
  }
  return series;
}

absl::Status WriteRunCurves(const std::string& metrics_csv,
                            const std::string& png_path,
                            const std::string& title,
                            absl::string_view metric) {
  ST_ASSIGN_OR_RETURN(std::vector<MetricRow> rows, ReadMetricsLog(metrics_csv));
  const std::vector<PlotSeries> series = MetricSeries(rows, metric);
  if (series.empty()) {
    return absl::NotFoundError(absl::StrCat(
        metrics_csv, ": no \"", metric, "\" rows for train, valid or test"));
  }
  PlotOptions options;
  options.title = title;
  options.y_label =
      metric == kMetricBpb ? "bits per byte" : std::string(metric);
  return WriteLinePlot(png_path, series, options);
}

}  // namespace st::report

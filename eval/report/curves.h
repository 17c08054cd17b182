// Training curves from a metrics log: one series per split of one metric
// (e.g. train and valid bits per byte), as plot series or a PNG.
#ifndef SPARSE_TRANSFORMER_EVAL_REPORT_CURVES_H_
#define SPARSE_TRANSFORMER_EVAL_REPORT_CURVES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "eval/report/metrics_log.h"
#include "eval/report/plot.h"

namespace st::report {

// `metric` of each of `splits` that has at least one row, in that order; the
// series are named after their splits, with points (step, value).
std::vector<PlotSeries> MetricSeries(const std::vector<MetricRow>& rows,
                                     absl::string_view metric,
                                     const std::vector<std::string>& splits = {
                                         kSplitTrain, kSplitValid, kSplitTest});

// Reads `metrics_csv` and plots `metric` of the train, valid and test splits
// to `png_path` (a run's curves.png). Error if no split logged `metric`.
absl::Status WriteRunCurves(const std::string& metrics_csv,
                            const std::string& png_path,
                            const std::string& title,
                            absl::string_view metric = kMetricBpb);

}  // namespace st::report

#endif  // SPARSE_TRANSFORMER_EVAL_REPORT_CURVES_H_

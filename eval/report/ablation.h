// Ablation reports: variants of one spec that differ in a single field (e.g.
// attention.pattern = dense, fixed, strided), run with the same seed and data,
// compared in one Markdown table and one plot of their bits-per-byte curves.
#ifndef SPARSE_TRANSFORMER_EVAL_REPORT_ABLATION_H_
#define SPARSE_TRANSFORMER_EVAL_REPORT_ABLATION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "eval/report/plot.h"
#include "sparse_transformer/proto/result.pb.h"

namespace st::report {

struct AblationVariant {
  std::string label;        // the varied field's value, e.g. "fixed"
  proto::RunResult result;  // the variant's result.pbtxt
  std::string metrics_csv;  // its metrics log; "" = no curve
};

// A Markdown section: the varied field, what the variants share (spec, seed,
// data, device, steps; a warning line where they differ), and the table
//   Variant | Valid bpb | Time/iter | vs first | Peak memory | Params
// where "vs first" is the time per iteration over the first variant's.
std::string RenderAblationTable(absl::string_view varied_field,
                                const std::vector<AblationVariant>& variants);

// The curves of every variant: valid bits per byte when every variant with a
// metrics log logged it at two steps or more, else train bits per byte.
absl::StatusOr<std::vector<PlotSeries>> AblationCurves(
    const std::vector<AblationVariant>& variants, std::string* split_used);

// Writes the table to `markdown_path` (linking the plot by file name) and the
// curves to `png_path`. Without any metrics logs the plot is left out and the
// Markdown says so. Error on no variants or an unreadable log or file.
absl::Status WriteAblationReport(const std::string& markdown_path,
                                 const std::string& png_path,
                                 absl::string_view varied_field,
                                 const std::vector<AblationVariant>& variants);

}  // namespace st::report

#endif  // SPARSE_TRANSFORMER_EVAL_REPORT_ABLATION_H_

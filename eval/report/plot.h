// PNG line plots of training curves: one or more series of (step, value),
// axes with tick labels, a light grid, a legend and a title.
#ifndef SPARSE_TRANSFORMER_EVAL_REPORT_PLOT_H_
#define SPARSE_TRANSFORMER_EVAL_REPORT_PLOT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "eval/report/font.h"
#include "sparse_transformer/core/png.h"

namespace st::report {

struct PlotSeries {
  std::string name;                               // legend entry
  std::vector<std::pair<double, double>> points;  // (x, y); non-finite skipped
};

struct PlotOptions {
  std::string title;
  std::string x_label = "step";
  std::string y_label = "bits per byte";
  int width = 800;    // pixels, at least 240
  int height = 480;   // pixels, at least 180
  int max_ticks = 7;  // per axis, at least 2
};

// Colour of the i-th series (a fixed palette of 8, repeating).
Rgb SeriesColor(int i);

// The smallest "nice" step (1, 2 or 5 times a power of ten) whose ticks from
// floor(lo / step) * step to ceil(hi / step) * step number at most max_ticks;
// returns those ticks (they enclose [lo, hi]). lo == hi is widened first.
std::vector<double> NiceTicks(double lo, double hi, int max_ticks);

// A tick label with as many decimals as the tick step needs: (0.2, 0.2) ->
// "0.2", (2.5, 0.05) -> "2.50", (1500, 500) -> "1500".
std::string FormatTick(double value, double step);

// An RGB image of the plot. Errors: no finite point in any series, a size
// below the minimum.
absl::StatusOr<Image> RenderLinePlot(const std::vector<PlotSeries>& series,
                                     const PlotOptions& options);

// RenderLinePlot written to `path` as PNG.
absl::Status WriteLinePlot(const std::string& path,
                           const std::vector<PlotSeries>& series,
                           const PlotOptions& options);

}  // namespace st::report

#endif  // SPARSE_TRANSFORMER_EVAL_REPORT_PLOT_H_

// Plots a run's metrics log (metrics.csv) as a PNG: one curve per split of
// one metric.
//
//   bazel run //eval/report:plot_curves -- --metrics=runs/<run>/metrics.csv
//       --out=curves.png [--metric=bits_per_byte] [--title=...]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "eval/report/curves.h"
#include "gflags/gflags.h"
#include "sparse_transformer/core/status.h"

DEFINE_string(metrics, "", "The metrics log (metrics.csv) to plot");
DEFINE_string(out, "", "The PNG to write");
DEFINE_string(metric, "bits_per_byte", "Metric to plot for every split");
DEFINE_string(title, "", "Plot title; empty = the metrics file's name");

int main(int argc, char** argv) {
  gflags::SetUsageMessage("--metrics=<metrics.csv> --out=<file.png>");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY")) {
    if (chdir(cwd) != 0) {
      st::ExitOnError(absl::UnavailableError(
          absl::StrCat("cannot enter the working directory ", cwd)));
    }
  }
  if (FLAGS_metrics.empty() || FLAGS_out.empty()) {
    st::ExitOnError(absl::InvalidArgumentError(
        "--metrics=<metrics.csv> and --out=<file.png> are required"));
  }
  st::ExitOnError(st::report::WriteRunCurves(
      FLAGS_metrics, FLAGS_out,
      FLAGS_title.empty() ? FLAGS_metrics : FLAGS_title, FLAGS_metric));
  std::fprintf(stderr, "wrote %s\n", FLAGS_out.c_str());
  return 0;
}

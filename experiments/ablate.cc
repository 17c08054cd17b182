// bazel run -c opt //experiments:ablate -- --spec=<file.pbtxt>
//     --vary=attention.pattern=dense,fixed,strided [--set=training.steps=200]
//
// Runs one variant per value of the varied field (same seed, same data, same
// everything else), each into its own run folder under
// runs/ablate-<spec>-<field>-<time>/<value>/, then writes ablation.md (bits per
// byte, time per iteration, memory, params) and ablation.png (the curves).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "eval/report/ablation.h"
#include "eval/report/metrics_log.h"
#include "experiments/cli.h"
#include "experiments/overrides.h"
#include "experiments/runner.h"
#include "experiments/spec.h"
#include "gflags/gflags.h"
#include "sparse_transformer/core/status.h"

DEFINE_string(spec, "", "the base experiment spec (text proto)");
DEFINE_string(
    vary, "",
    "path=v1,v2,...: the field to vary and its values, e.g. "
    "attention.pattern=dense,fixed,strided or attention.stride=64,128");
DEFINE_string(set, "",
              "comma-separated path=value overrides for every variant");
DEFINE_string(out, "",
              "ablation folder (default runs/ablate-<spec>-<field>-<time>)");

namespace {

std::string Timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", &tm);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "run variants of a spec: --spec=<file> --vary=path=v1,v2,...");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  const size_t eq = FLAGS_vary.find('=');
  if (FLAGS_spec.empty() || eq == std::string::npos || eq == 0) {
    std::fprintf(stderr,
                 "error: need --spec=<file.pbtxt> and --vary=path=v1,v2,...\n");
    return 1;
  }
  const std::string field = FLAGS_vary.substr(0, eq);
  const std::vector<std::string> values =
      absl::StrSplit(FLAGS_vary.substr(eq + 1), ',', absl::SkipEmpty());
  if (values.size() < 2) {
    std::fprintf(stderr, "error: --vary=%s: give at least two values\n",
                 FLAGS_vary.c_str());
    return 1;
  }
  const std::string path = st::experiments::UserPath(FLAGS_spec);
  auto base = st::experiments::ParseSpecFile(path);
  st::ExitOnError(base.status());
  st::ExitOnError(st::experiments::ApplyOverrideList(FLAGS_set, &*base));
  // Validate every variant before running any.
  std::vector<st::proto::Experiment> variants;
  for (const std::string& v : values) {
    st::proto::Experiment spec = *base;
    st::ExitOnError(st::experiments::ApplyOverride(field, v, &spec));
    spec.set_name(absl::StrCat(base->name(), "-", absl::AsciiStrToLower(v)));
    st::ExitOnError(st::experiments::ValidateSpec(
        absl::StrCat(path, " with ", field, "=", v), spec));
    variants.push_back(spec);
  }
  const std::string folder =
      FLAGS_out.empty()
          ? absl::StrCat(st::experiments::WorkspaceDir(), "/runs/ablate-",
                         base->name(), "-", field, "-", Timestamp())
          : st::experiments::UserPath(FLAGS_out);
  std::vector<st::report::AblationVariant> done;
  for (size_t i = 0; i < variants.size(); ++i) {
    std::fprintf(stderr, "=== variant %zu/%zu: %s=%s\n", i + 1, variants.size(),
                 field.c_str(), values[i].c_str());
    st::experiments::RunOptions options;
    options.workspace_dir = st::experiments::WorkspaceDir();
    options.run_dir =
        absl::StrCat(folder, "/", absl::AsciiStrToLower(values[i]));
    std::string run_dir;
    auto result =
        st::experiments::RunExperiment(variants[i], options, &run_dir);
    st::ExitOnError(result.status());
    st::report::AblationVariant av;
    av.label = absl::AsciiStrToLower(values[i]);
    av.result = *result;
    av.metrics_csv = run_dir + "/" + st::report::kMetricsCsvName;
    done.push_back(av);
  }
  const std::string md = folder + "/ablation.md";
  st::ExitOnError(st::report::WriteAblationReport(md, folder + "/ablation.png",
                                                  field, done));
  std::printf("ablation of %s over %zu variants: %s (and ablation.png)\n",
              field.c_str(), done.size(), md.c_str());
  return 0;
}

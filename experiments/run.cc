// bazel run -c opt //experiments:run -- --spec=experiments/specs/<name>.pbtxt
//
// Loads and validates an experiment spec, prints its plan (parameters,
// attention density per layer, memory), then trains, evaluates, samples and
// reports into runs/<spec>-<time>/ (see experiments/runner.h). Bad input: one
// line naming the file, the field and the problem, and exit status 1.
// Ctrl-C stops at the next step with a checkpoint; --resume continues.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "experiments/cli.h"
#include "experiments/overrides.h"
#include "experiments/plan.h"
#include "experiments/runner.h"
#include "experiments/spec.h"
#include "gflags/gflags.h"
#include "sparse_transformer/core/status.h"

DEFINE_string(spec, "",
              "experiment spec (text proto), e.g. "
              "experiments/specs/enwik8_fixed_cpu_tiny.pbtxt");
DEFINE_string(set, "",
              "comma-separated overrides path=value, e.g. "
              "training.steps=100,attention.pattern=dense");
DEFINE_bool(plan_only, false, "print the validated plan and stop");
DEFINE_string(run_dir, "", "run folder (default: runs/<spec>-<UTC time>)");
DEFINE_bool(resume, false, "continue the run in --run_dir from its checkpoint");
DEFINE_int32(log_interval, 10, "progress line every this many steps");

int main(int argc, char** argv) {
  gflags::SetUsageMessage("run an experiment spec: --spec=<file.pbtxt>");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (FLAGS_spec.empty()) {
    std::fprintf(stderr, "error: --spec=<file.pbtxt> is required\n");
    return 1;
  }
  if (FLAGS_resume && FLAGS_run_dir.empty()) {
    std::fprintf(stderr, "error: --resume needs --run_dir=<run folder>\n");
    return 1;
  }
  const std::string path = st::experiments::UserPath(FLAGS_spec);
  auto spec = st::experiments::ParseSpecFile(path);
  st::ExitOnError(spec.status());
  st::ExitOnError(st::experiments::ApplyOverrideList(FLAGS_set, &*spec));
  st::ExitOnError(st::experiments::ValidateSpec(path, *spec));
  auto plan = st::experiments::MakePlan(*spec);
  st::ExitOnError(plan.status());
  std::printf("%s", st::experiments::FormatPlan(*spec, *plan).c_str());
  std::fflush(stdout);
  if (FLAGS_plan_only) return 0;

  st::experiments::RunOptions options;
  options.workspace_dir = st::experiments::WorkspaceDir();
  options.runs_root = options.workspace_dir + "/runs";
  options.run_dir = st::experiments::UserPath(FLAGS_run_dir);
  options.resume = FLAGS_resume;
  options.log_interval = FLAGS_log_interval;
  std::string run_dir;
  auto result = st::experiments::RunExperiment(*spec, options, &run_dir);
  st::ExitOnError(result.status());
  std::printf("final %s bits per byte: %.4f\nrun folder: %s (report.md)\n",
              result->has_test_bpb() ? "test" : "valid",
              result->has_test_bpb() ? result->test_bpb() : result->valid_bpb(),
              run_dir.c_str());
  return 0;
}

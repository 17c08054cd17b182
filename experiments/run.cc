// bazel run //experiments:run -- --spec=experiments/specs/<name>.pbtxt
//
// Loads and validates an experiment spec and prints its plan (parameters,
// attention density per layer, memory). Bad input: one line naming the file,
// the field and the problem, and exit status 1.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "experiments/plan.h"
#include "experiments/spec.h"
#include "gflags/gflags.h"
#include "sparse_transformer/core/status.h"

DEFINE_string(spec, "", "experiment spec (text proto), e.g. experiments/specs/enwik8_fixed_cpu_tiny.pbtxt");
DEFINE_bool(plan_only, true, "print the validated plan and stop");

namespace {

// `bazel run` starts in the runfiles tree; relative paths are the user's.
std::string ResolvePath(const std::string& path) {
  const char* wd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || wd == nullptr) return path;
  return std::string(wd) + "/" + path;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage("run an experiment spec: --spec=<file.pbtxt>");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (FLAGS_spec.empty()) {
    std::fprintf(stderr, "error: --spec=<file.pbtxt> is required\n");
    return 1;
  }
  const std::string path = ResolvePath(FLAGS_spec);
  auto spec = st::experiments::LoadSpec(path);
  st::ExitOnError(spec.status());
  auto plan = st::experiments::MakePlan(*spec);
  st::ExitOnError(plan.status());
  std::printf("%s", st::experiments::FormatPlan(*spec, *plan).c_str());
  return 0;
}

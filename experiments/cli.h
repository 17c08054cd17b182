// Shared by the experiment binaries (run, ablate): paths as the user typed
// them under `bazel run`, and --set overrides.
#ifndef SPARSE_TRANSFORMER_EXPERIMENTS_CLI_H_
#define SPARSE_TRANSFORMER_EXPERIMENTS_CLI_H_

#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "experiments/overrides.h"
#include "sparse_transformer/proto/experiment.pb.h"

namespace st::experiments {

// The workspace root under `bazel run` (where data/ and runs/ live), else ".".
inline std::string WorkspaceDir() {
  const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  return ws ? ws : ".";
}

// `bazel run` starts in the runfiles tree; relative paths are the user's.
inline std::string UserPath(const std::string& path) {
  const char* wd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || wd == nullptr) return path;
  return std::string(wd) + "/" + path;
}

// Applies "path=value,path=value" (the --set flag); empty is no change.
inline absl::Status ApplyOverrideList(const std::string& list,
                                      proto::Experiment* spec) {
  if (list.empty()) return absl::OkStatus();
  for (absl::string_view a : absl::StrSplit(list, ',')) {
    absl::Status s = ApplyOverride(std::string(a), spec);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace st::experiments

#endif  // SPARSE_TRANSFORMER_EXPERIMENTS_CLI_H_

// Path handling for the binaries under `bazel run`, which starts them in the
// runfiles tree: relative paths are taken from the directory the user ran
// bazel in, and defaults live in the workspace.
#ifndef SPARSE_TRANSFORMER_DATASETS_TOOL_PATHS_H_
#define SPARSE_TRANSFORMER_DATASETS_TOOL_PATHS_H_

#include <cstdlib>
#include <string>

namespace st {
namespace datasets {

// `path` made absolute against $BUILD_WORKING_DIRECTORY when bazel run set it.
inline std::string UserPath(const std::string& path) {
  const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || cwd == nullptr) return path;
  return std::string(cwd) + "/" + path;
}

// The workspace root under bazel run, else the current directory.
inline std::string WorkspaceDir() {
  const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  return ws != nullptr ? std::string(ws) : std::string(".");
}

// $ST_DATA_DIR, else <workspace>/data/cache.
inline std::string DefaultCacheDir() {
  const char* dir = std::getenv("ST_DATA_DIR");
  return dir != nullptr ? std::string(dir) : WorkspaceDir() + "/data/cache";
}

}  // namespace datasets
}  // namespace st

#endif  // SPARSE_TRANSFORMER_DATASETS_TOOL_PATHS_H_

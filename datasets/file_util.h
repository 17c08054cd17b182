// Small file helpers shared by the readers: whole-file reads with exact-size
// checks, sorted directory listings, and the one-line size error.
#ifndef SPARSE_TRANSFORMER_DATASETS_FILE_UTIL_H_
#define SPARSE_TRANSFORMER_DATASETS_FILE_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace st {
namespace datasets {

// "<path>: truncated: expected <n> bytes, found <m>" (or "wrong size").
absl::Status SizeError(const std::string& path, int64_t expected,
                       int64_t found);

absl::StatusOr<int64_t> FileSize(const std::string& path);

// The whole file. With expected_size >= 0, any other size is refused.
absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     int64_t expected_size = -1);

absl::Status WriteFile(const std::string& path, const std::string& bytes);

// Regular files directly in `dir` whose names end in one of `suffixes`
// (case-insensitive), as full paths in byte order of their names.
absl::StatusOr<std::vector<std::string>> ListFiles(
    const std::string& dir, const std::vector<std::string>& suffixes);

// Like ListFiles, but descends into subdirectories; paths sorted bytewise.
absl::StatusOr<std::vector<std::string>> ListFilesRecursive(
    const std::string& dir, const std::vector<std::string>& suffixes);

// Creates `dir` and its parents (like mkdir -p).
absl::Status MakeDirs(const std::string& dir);

std::string Basename(const std::string& path);
std::string JoinPath(const std::string& a, const std::string& b);

// FNV-1a 64 of a string: a stable hash for deterministic assignments.
uint64_t Fnv1a64(const std::string& s);

}  // namespace datasets
}  // namespace st

#endif  // SPARSE_TRANSFORMER_DATASETS_FILE_UTIL_H_

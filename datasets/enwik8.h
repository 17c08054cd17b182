// enwik8 as distributed: the raw file of exactly 10^8 bytes (the first 10^8
// bytes of a 2006 English Wikipedia XML dump), or enwik8.zip holding it.
// The paper's split: the first 90M bytes train, then 5M valid and 5M test.
#ifndef SPARSE_TRANSFORMER_DATASETS_ENWIK8_H_
#define SPARSE_TRANSFORMER_DATASETS_ENWIK8_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace st {
namespace datasets {

inline constexpr int64_t kEnwik8Bytes = 100000000;
inline constexpr int64_t kEnwik8TrainBytes = 90000000;
inline constexpr int64_t kEnwik8ValidBytes = 5000000;
inline constexpr int64_t kEnwik8TestBytes = 5000000;

// Reads `path` (a name ending in .zip is read as an archive with member
// "enwik8"). Any size other than `expected_bytes` is refused, naming the
// file, the expected and the found size. Tests pass a small expected size.
absl::StatusOr<std::string> ReadEnwik8(const std::string& path,
                                       int64_t expected_bytes = kEnwik8Bytes);

// Writes the prepared text file with the 90% / 5% / 5% split (exactly
// 90M / 5M / 5M for the real file).
absl::Status PrepareEnwik8(const std::string& input, const std::string& out,
                           int64_t expected_bytes = kEnwik8Bytes);

}  // namespace datasets
}  // namespace st

#endif  // SPARSE_TRANSFORMER_DATASETS_ENWIK8_H_

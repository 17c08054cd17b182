#include "datasets/enwik8.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "datasets/file_util.h"
#include "datasets/prepared.h"
#include "datasets/zip_reader.h"
#include "sparse_transformer/core/status.h"

namespace st {
namespace datasets {

absl::StatusOr<std::string> ReadEnwik8(const std::string& path,
                                       int64_t expected_bytes) {
  if (!absl::EndsWith(path, ".zip")) return ReadFile(path, expected_bytes);
  ST_ASSIGN_OR_RETURN(std::string bytes, ReadZipMember(path, "enwik8"));
  if (static_cast<int64_t>(bytes.size()) != expected_bytes) {
    return SizeError(path + ":enwik8", expected_bytes, bytes.size());
  }
  return bytes;
}

absl::Status PrepareEnwik8(const std::string& input, const std::string& out,
                           int64_t expected_bytes) {
  ST_ASSIGN_OR_RETURN(const std::string bytes,
                      ReadEnwik8(input, expected_bytes));
  // 90M / 5M / 5M of 100M; the same proportions for test-sized inputs.
  const int64_t valid = expected_bytes / 20;
  const int64_t train = expected_bytes - 2 * valid;
  const absl::Span<const uint8_t> all(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  const std::string provenance =
      absl::StrCat("dataset: enwik8\nsource: ", Basename(input),
                   "\nbytes: ", bytes.size(), "\nsplit: first ", train,
                   " train, next ", valid, " valid, last ", valid, " test\n");
  return WritePrepared(out, Kind::kText, {1}, provenance, all.subspan(0, train),
                       all.subspan(train, valid),
                       all.subspan(train + valid, valid));
}

}  // namespace datasets
}  // namespace st

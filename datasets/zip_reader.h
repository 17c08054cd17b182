// Reading one member of a zip archive (libzip): enwik8.zip and the npz
// batches of downsampled ImageNet (numpy writes zip64, stored or deflated).
#ifndef SPARSE_TRANSFORMER_DATASETS_ZIP_READER_H_
#define SPARSE_TRANSFORMER_DATASETS_ZIP_READER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace st {
namespace datasets {

// Names of the archive's members, in archive order.
absl::StatusOr<std::vector<std::string>> ListZipMembers(
    const std::string& zip_path);

// The uncompressed bytes of `member`; a truncated archive or a member whose
// CRC or length does not match is refused.
absl::StatusOr<std::string> ReadZipMember(const std::string& zip_path,
                                          const std::string& member);

}  // namespace datasets
}  // namespace st

#endif  // SPARSE_TRANSFORMER_DATASETS_ZIP_READER_H_

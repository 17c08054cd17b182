// CIFAR-10, binary version (cifar-10-batches-bin/): data_batch_1..5.bin and
// test_batch.bin, each 10,000 records of 3,073 bytes: a label byte (0-9),
// then 1024 R, 1024 G and 1024 B bytes (32 rows of 32). Images come out in
// raster order [32, 32, 3]. The paper's split: the first 48,000 training
// images train, the last 2,000 validate; test_batch is the test set.
#ifndef SPARSE_TRANSFORMER_DATASETS_CIFAR10_H_
#define SPARSE_TRANSFORMER_DATASETS_CIFAR10_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datasets/image_util.h"

namespace st {
namespace datasets {

inline constexpr int kCifarSide = 32;
inline constexpr int64_t kCifarRecordBytes = 1 + 3 * 32 * 32;  // 3073
inline constexpr int64_t kCifarBatchRecords = 10000;
inline constexpr int64_t kCifarValidImages = 2000;

// One batch file of `records` records (10,000 in the real data set); any
// other file size is refused with the expected and the found size.
absl::StatusOr<LabeledImages> ReadCifar10Batch(
    const std::string& path, int64_t records = kCifarBatchRecords);

// Reads <dir>/data_batch_{1..5}.bin and <dir>/test_batch.bin and writes the
// prepared image file: train = first 5 * records - valid_images training
// images, valid = the rest, test = test_batch. Tests pass small sizes.
absl::Status PrepareCifar10(const std::string& dir, const std::string& out,
                            int64_t records = kCifarBatchRecords,
                            int64_t valid_images = kCifarValidImages);

}  // namespace datasets
}  // namespace st

#endif  // SPARSE_TRANSFORMER_DATASETS_CIFAR10_H_

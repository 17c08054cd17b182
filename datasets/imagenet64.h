// Downsampled ImageNet 64x64 as distributed:
//  - npz batches (train_data_batch_1..10.npz, val_data.npz): a zip of .npy
//    arrays whose `data` is uint8 [N, 12288], each row 4096 R, 4096 G, then
//    4096 B bytes (channel planes of 64 rows of 64);
//  - folders of 64x64 RGB PNGs (e.g. train_64x64/, valid_64x64/).
// Images come out in raster order [64, 64, 3]. The paper evaluates on the
// validation set, so prepared files have train and valid splits and an empty
// test split.
#ifndef SPARSE_TRANSFORMER_DATASETS_IMAGENET64_H_
#define SPARSE_TRANSFORMER_DATASETS_IMAGENET64_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datasets/image_util.h"

namespace st {
namespace datasets {

inline constexpr int kImagenetSide = 64;
inline constexpr int64_t kImagenetRowBytes = 3 * 64 * 64;  // 12288

// A parsed .npy array (format versions 1.0, 2.0 and 3.0).
struct NpyArray {
  std::string dtype;  // numpy descr, e.g. "|u1", "<i8"
  bool fortran_order = false;
  std::vector<int64_t> shape;
  std::string data;  // raw bytes, exactly prod(shape) * itemsize
};

// `name` is used in messages only.
absl::StatusOr<NpyArray> ParseNpy(const std::string& name,
                                  const std::string& bytes);

// Array `array` ("data" reads member "data.npy") of an npz archive.
absl::StatusOr<NpyArray> ReadNpzArray(const std::string& npz_path,
                                      const std::string& array);

// The images of one npz batch; `data` must be uint8 [N, 12288] in C order.
// Labels are read from `labels` when present (1-based in this data set).
absl::StatusOr<LabeledImages> ReadImagenet64Npz(const std::string& path);

// Every *.png directly in `dir`, by name; each must be 64x64 RGB.
absl::StatusOr<LabeledImages> ReadImagenet64PngFolder(const std::string& dir);
// The same for a list of PNG files, in the given order.
absl::StatusOr<LabeledImages> ReadImagenet64PngFiles(
    const std::vector<std::string>& files);

// Writes the prepared file from sources that are each an .npz batch or a
// folder of PNGs, read one at a time (the full training set is ~15 GB).
absl::Status PrepareImagenet64(const std::vector<std::string>& train,
                               const std::vector<std::string>& valid,
                               const std::string& out);

}  // namespace datasets
}  // namespace st

#endif  // SPARSE_TRANSFORMER_DATASETS_IMAGENET64_H_

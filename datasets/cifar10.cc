#include "datasets/cifar10.h"

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "datasets/file_util.h"
#include "datasets/prepared.h"
#include "sparse_transformer/core/status.h"

namespace st {
namespace datasets {

absl::StatusOr<LabeledImages> ReadCifar10Batch(const std::string& path,
                                               int64_t records) {
  ST_ASSIGN_OR_RETURN(const std::string bytes,
                      ReadFile(path, records * kCifarRecordBytes));
  LabeledImages out;
  out.height = out.width = kCifarSide;
  out.channels = 3;
  const int64_t image_bytes = kCifarRecordBytes - 1;
  out.pixels.resize(records * image_bytes);
  out.labels.resize(records);
  const auto* in = reinterpret_cast<const uint8_t*>(bytes.data());
  for (int64_t r = 0; r < records; ++r) {
    const uint8_t* record = in + r * kCifarRecordBytes;
    if (record[0] > 9) {
      return absl::DataLossError(
          absl::StrCat(path, ": record ", r, " has label ", int{record[0]},
                       ", expected 0-9 (not a CIFAR-10 binary batch?)"));
    }
    out.labels[r] = record[0];
    PlanarToInterleaved(record + 1, kCifarSide, kCifarSide, 3,
                        out.pixels.data() + r * image_bytes);
  }
  return out;
}

absl::Status PrepareCifar10(const std::string& dir, const std::string& out,
                            int64_t records, int64_t valid_images) {
  const int64_t train_images = 5 * records - valid_images;
  if (valid_images < 0 || train_images < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cifar10: cannot hold out ", valid_images, " of ",
                     5 * records, " training images"));
  }
  // Read everything first, so a bad file is refused before any output.
  std::vector<LabeledImages> batches;
  for (int b = 1; b <= 5; ++b) {
    ST_ASSIGN_OR_RETURN(
        LabeledImages batch,
        ReadCifar10Batch(JoinPath(dir, absl::StrCat("data_batch_", b, ".bin")),
                         records));
    batches.push_back(std::move(batch));
  }
  ST_ASSIGN_OR_RETURN(
      LabeledImages test,
      ReadCifar10Batch(JoinPath(dir, "test_batch.bin"), records));
  const std::string provenance = absl::StrCat(
      "dataset: cifar10 (binary version)\nsource: ", dir,
      "/data_batch_{1..5}.bin, test_batch.bin\nsplit: first ", train_images,
      " training images train, last ", valid_images,
      " valid, test_batch test\nlayout: raster order [32, 32, 3]\n");
  ST_ASSIGN_OR_RETURN(
      auto writer,
      PreparedWriter::Create(out, Kind::kImage, {32, 32, 3}, provenance));
  const int64_t image_bytes = kCifarRecordBytes - 1;
  int64_t seen = 0;
  for (const LabeledImages& batch : batches) {
    const absl::Span<const uint8_t> px(batch.pixels);
    const int64_t to_train =
        std::max<int64_t>(0, std::min(records, train_images - seen));
    ST_RETURN_IF_ERROR(
        writer->Append(Split::kTrain, px.subspan(0, to_train * image_bytes)));
    ST_RETURN_IF_ERROR(
        writer->Append(Split::kValid, px.subspan(to_train * image_bytes)));
    seen += records;
  }
  ST_RETURN_IF_ERROR(writer->Append(Split::kTest, test.pixels));
  return writer->Finish();
}

}  // namespace datasets
}  // namespace st

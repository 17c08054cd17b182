// The datasets' Batcher (prepared files, prefetching) as the trainer's
// BatchSource.
#ifndef SPARSE_TRANSFORMER_TRAIN_BATCHER_SOURCE_H_
#define SPARSE_TRANSFORMER_TRAIN_BATCHER_SOURCE_H_

#include <string>

#include "datasets/batcher.h"
#include "sparse_transformer/train/batch_source.h"

namespace st::train {

class BatcherSource : public BatchSource {
 public:
  // `batcher` must outlive this source; its batch is the trainer's
  // micro-batch (TrainConfig::batch / micro_batches).
  explicit BatcherSource(datasets::Batcher* batcher) : batcher_(batcher) {}

  absl::Status Next(int batch, uint8_t* inputs, uint8_t* targets) override;
  std::string GetState() const override;  // BatcherState::ToString()
  absl::Status SetState(absl::string_view state) override;

 private:
  datasets::Batcher* batcher_;
};

}  // namespace st::train

#endif  // SPARSE_TRANSFORMER_TRAIN_BATCHER_SOURCE_H_

// Where the trainer gets its training batches from, with a resumable position.
#ifndef SPARSE_TRANSFORMER_TRAIN_BATCH_SOURCE_H_
#define SPARSE_TRANSFORMER_TRAIN_BATCH_SOURCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace st::train {

class BatchSource {
 public:
  virtual ~BatchSource() = default;

  // Fills inputs/targets [batch, N] (N = the model's context): targets[i] is
  // the byte that follows inputs[i] in the data.
  virtual absl::Status Next(int batch, uint8_t* inputs, uint8_t* targets) = 0;

  // The position in the data as an opaque blob, stored in checkpoints; after
  // SetState(GetState()) the same batches follow.
  virtual std::string GetState() const = 0;
  virtual absl::Status SetState(absl::string_view state) = 0;
};

// Windows of N + 1 bytes at uniformly random offsets of one byte array (a
// counter-based generator, so the state is the number of windows drawn).
// For tests and small runs on a text held in memory.
class RandomWindowSource : public BatchSource {
 public:
  // `data` must outlive the source and hold at least N + 1 bytes.
  RandomWindowSource(absl::Span<const uint8_t> data, int context,
                     uint64_t seed);

  absl::Status Next(int batch, uint8_t* inputs, uint8_t* targets) override;
  std::string GetState() const override;
  absl::Status SetState(absl::string_view state) override;

 private:
  absl::Span<const uint8_t> data_;
  int context_;
  uint64_t seed_;
  uint64_t drawn_ = 0;
};

// SplitMix64: a small, well-mixed 64-bit generator; advances *state.
uint64_t SplitMix64(uint64_t* state);

}  // namespace st::train

#endif  // SPARSE_TRANSFORMER_TRAIN_BATCH_SOURCE_H_

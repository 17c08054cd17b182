// Training batches and evaluation windows over one split of a prepared file.
//
// Two conventions, one per kind of data (N = context):
//  - Streams (text, audio): row b is a window at offset o of the split x,
//      inputs  = x[o, o + N)          uint8 [B, N]
//      targets = x[o + 1, o + N + 1)  uint8 [B, N]
//    so targets[t] is the byte after inputs[t]; o is uniform in
//    [0, len - N - 1].
//  - Images: row b is one whole example x of N = H * W * C bytes in raster
//    order (row, column, channel), shifted right behind a start byte:
//      inputs  = {kStartByte, x[0], ..., x[N - 2]}
//      targets = x[0, N)
//    Examples are visited in a fresh random permutation each epoch.
//
// Randomness is a pure function of (seed, step, row), so the state needed to
// resume at the exact data position is just (seed, step) and the background
// prefetch thread can run ahead without changing what the trainer sees.
#ifndef SPARSE_TRANSFORMER_DATASETS_BATCHER_H_
#define SPARSE_TRANSFORMER_DATASETS_BATCHER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datasets/prepared.h"

namespace st {
namespace datasets {

// The input of the first position of an image row.
inline constexpr uint8_t kStartByte = 0;

// Where a Batcher is: the next Next() returns batch `step` of stream `seed`.
struct BatcherState {
  uint64_t seed = 0;
  uint64_t step = 0;

  std::string ToString() const;  // "seed=<u64> step=<u64>"
  static absl::StatusOr<BatcherState> FromString(const std::string& text);
  bool operator==(const BatcherState& o) const {
    return seed == o.seed && step == o.step;
  }
};

struct BatcherOptions {
  int64_t context = 0;  // N; for images it must equal H * W * C
  int batch = 0;        // B
  uint64_t seed = 0;
  int prefetch = 2;  // batches computed ahead on a background thread; 0 = none
};

class Batcher {
 public:
  // `split` must outlive the Batcher (it views the mapped file).
  static absl::StatusOr<std::unique_ptr<Batcher>> Create(
      const PreparedSplit& split, const BatcherOptions& options);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Fills the next batch: inputs and targets are uint8 [B, N], row-major.
  void Next(uint8_t* inputs, uint8_t* targets);

  BatcherState GetState() const;
  // Resumes at `state`; its seed must be the one the Batcher was made with
  // (another seed would be another data order, almost surely a mistake).
  absl::Status SetState(const BatcherState& state);

  int64_t context() const { return options_.context; }
  int batch() const { return options_.batch; }

  // Row `row` of batch `step`: for streams the window offset, for images the
  // example index. Exposed for tests and data-order checks.
  int64_t RowSource(uint64_t step, int row) const;

 private:
  // A permutation of the image examples for one epoch.
  struct EpochOrder {
    int64_t epoch = -1;
    std::vector<int64_t> order;
  };
  int64_t Source(uint64_t step, int row, EpochOrder* cache) const;
  Batcher(const PreparedSplit& split, const BatcherOptions& options);
  void Fill(uint64_t step, EpochOrder* order, uint8_t* inputs,
            uint8_t* targets);
  void ProducerLoop();

  PreparedSplit split_;
  BatcherOptions options_;
  int64_t row_bytes_;
  EpochOrder producer_order_;  // used by the producer thread only
  EpochOrder consumer_order_;  // used by the caller of Next only

  // Prefetch: the producer fills batches step_ahead_, step_ahead_ + 1, ...
  struct Ready {
    uint64_t step;
    std::vector<uint8_t> inputs, targets;
  };
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Ready> queue_;
  std::vector<Ready> spare_;   // consumed batches, their buffers reused
  uint64_t next_step_ = 0;     // what Next() returns next
  uint64_t produce_step_ = 0;  // what the producer computes next
  uint64_t generation_ = 0;    // bumped by SetState to drop stale work
  bool stop_ = false;
  std::thread producer_;
};

struct WindowOptions {
  int64_t context = 0;  // N
  int batch = 0;        // B rows per call
  // Streams only: distance between window starts; 0 means N (non-overlapping).
  // With stride S < N every window after the first scores only its last S
  // positions, so each scored byte sees at least N - S bytes of context.
  int64_t stride = 0;
};

// Sequential evaluation windows that score every target exactly once: for a
// stream of len bytes, the len - 1 bytes x[1..len); for images, every byte of
// every example. The last stream window is moved back to end at the end of
// the split and scores only what earlier windows did not.
class WindowIterator {
 public:
  static absl::StatusOr<WindowIterator> Create(const PreparedSplit& split,
                                               const WindowOptions& options);

  // Fills up to B rows of inputs/targets (uint8 [B, N], same conventions as
  // Batcher) and score_from (int32 [B]): row b scores targets t with
  // score_from[b] <= t < N. Unused rows are zero with score_from = N.
  // Returns the number of rows filled, 0 when done.
  int Next(uint8_t* inputs, uint8_t* targets, int32_t* score_from);
  void Reset() { next_window_ = 0; }

  int64_t num_windows() const { return num_windows_; }
  int64_t scored_targets() const;  // total over all windows

 private:
  WindowIterator() = default;
  int64_t WindowStart(int64_t k) const;

  PreparedSplit split_;
  WindowOptions options_;
  int64_t num_windows_ = 0;
  int64_t next_window_ = 0;
};

}  // namespace datasets
}  // namespace st

#endif  // SPARSE_TRANSFORMER_DATASETS_BATCHER_H_

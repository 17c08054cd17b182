// Bits per byte of a model over a split (mean cross-entropy / ln 2), and the
// paper's Table 3 mode: evaluation with a minimum available context m, where
// overlapping windows each score only their last N - m positions.
#ifndef EVAL_BITS_PER_BYTE_H_
#define EVAL_BITS_PER_BYTE_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "sparse_transformer/train/trainable.h"

namespace st::eval {

struct EvalResult {
  double bits_per_byte = 0.0;  // mean_nats / ln 2
  double mean_nats = 0.0;      // mean cross-entropy over scored targets
  int64_t scored = 0;          // targets scored
  int64_t windows = 0;         // model windows evaluated
};

// One evaluation window over a byte stream x: inputs x[start, start + N),
// targets x[start + 1, start + N + 1); positions score_from..N-1 are scored.
struct Window {
  int64_t start = 0;
  int score_from = 0;
};

// Windows that score every target x[1..size) exactly once. The first window
// scores all N positions; each later one starts N - min_context after the
// previous and scores its last N - min_context positions, so every target
// outside the first window sees at least min_context bytes before its input
// (min_context + 1 inputs in all). The last window is moved back to end at
// the end of the data and scores only what is left. min_context = 0 gives
// plain non-overlapping windows.
absl::StatusOr<std::vector<Window>> PlanWindows(int64_t size, int context,
                                                int min_context);

// Fills up to `batch` rows of inputs/targets (uint8 [B, N]) and score_from
// (int32 [B]); returns the rows filled, 0 when done. The datasets'
// WindowIterator::Next has this shape.
using WindowFiller =
    std::function<int(uint8_t* inputs, uint8_t* targets, int32_t* score_from)>;

// Runs model.Loss over every window `next` gives, `batch` rows at a time, and
// averages the scored per-position cross-entropies (summed in double).
absl::StatusOr<EvalResult> EvaluateWindows(train::Trainable& model, int batch,
                                           const WindowFiller& next);

// Bits per byte of the model on `data` (a whole split held in memory) with
// minimum context `min_context` (0: non-overlapping windows).
absl::StatusOr<EvalResult> EvaluateBytes(train::Trainable& model,
                                         absl::Span<const uint8_t> data,
                                         int batch, int min_context = 0);

}  // namespace st::eval

#endif  // EVAL_BITS_PER_BYTE_H_

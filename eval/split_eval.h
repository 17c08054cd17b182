// Bits per byte over one split of a prepared data file, through the
// datasets' WindowIterator.
#ifndef EVAL_SPLIT_EVAL_H_
#define EVAL_SPLIT_EVAL_H_

#include "datasets/prepared.h"
#include "eval/bits_per_byte.h"

namespace st::eval {

// Streams: windows with minimum context `min_context` (the paper's Table 3
// mode; 0 gives non-overlapping windows), every target scored once. Images:
// every byte of every example (min_context must be 0).
absl::StatusOr<EvalResult> EvaluateSplit(train::Trainable& model,
                                         const datasets::PreparedSplit& split,
                                         int batch, int min_context = 0);

}  // namespace st::eval

#endif  // EVAL_SPLIT_EVAL_H_

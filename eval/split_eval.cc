#include "eval/split_eval.h"

#include "absl/strings/str_cat.h"
#include "datasets/batcher.h"
#include "sparse_transformer/core/status.h"

namespace st::eval {

absl::StatusOr<EvalResult> EvaluateSplit(train::Trainable& model,
                                         const datasets::PreparedSplit& split,
                                         int batch, int min_context) {
  const int n = model.context();
  if (min_context < 0 || min_context >= n) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_context must be in [0, context = ", n, "), got ",
                     min_context, " for ", split.name));
  }
  if (!split.is_stream() && min_context != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        split.name,
        " holds images: each is scored whole, min_context must be 0"));
  }
  datasets::WindowOptions options;
  options.context = n;
  options.batch = batch;
  options.stride = split.is_stream() ? n - min_context : 0;
  ST_ASSIGN_OR_RETURN(datasets::WindowIterator windows,
                      datasets::WindowIterator::Create(split, options));
  return EvaluateWindows(
      model, batch,
      [&](uint8_t* inputs, uint8_t* targets, int32_t* score_from) {
        return windows.Next(inputs, targets, score_from);
      });
}

}  // namespace st::eval

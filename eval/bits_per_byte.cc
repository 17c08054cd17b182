#include "eval/bits_per_byte.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace st::eval {

absl::StatusOr<std::vector<Window>> PlanWindows(int64_t size, int context,
                                                int min_context) {
  if (context <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("context must be > 0, got ", context));
  }
  if (min_context < 0 || min_context >= context) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_context must be in [0, context = ", context,
                     "), got ", min_context));
  }
  if (size < static_cast<int64_t>(context) + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("evaluation data has ", size,
                     " bytes; one window needs context + 1 = ", context + 1));
  }
  std::vector<Window> windows;
  const int64_t last_start = size - 1 - context;
  int64_t next_target = 1;  // first target x[t] not yet scored
  while (next_target < size) {
    // Target x[t] sits at position t - 1 - start; put the first unscored one
    // at position min_context (0 for the very first window), unless that
    // would run past the end of the data.
    const int64_t wanted = windows.empty() ? 0 : next_target - 1 - min_context;
    const int64_t start = std::min(wanted, last_start);
    const int score_from = static_cast<int>(next_target - 1 - start);
    windows.push_back({start, score_from});
    next_target = start + context + 1;
  }
  return windows;
}

absl::StatusOr<EvalResult> EvaluateWindows(train::Trainable& model, int batch,
                                           const WindowFiller& next) {
  if (batch <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("evaluation batch must be > 0, got ", batch));
  }
  const int n = model.context();
  std::vector<uint8_t> inputs(static_cast<size_t>(batch) * n);   // [B, N]
  std::vector<uint8_t> targets(static_cast<size_t>(batch) * n);  // [B, N]
  std::vector<int32_t> score_from(batch);                        // [B]
  std::vector<float> losses(static_cast<size_t>(batch) * n);     // [B, N]
  EvalResult result;
  double total = 0.0;
  while (true) {
    const int rows = next(inputs.data(), targets.data(), score_from.data());
    if (rows <= 0) break;
    if (rows > batch) {
      return absl::InternalError(absl::StrCat("window source filled ", rows,
                                              " rows, batch is ", batch));
    }
    model.Loss(inputs.data(), targets.data(), rows, losses.data());
    for (int b = 0; b < rows; ++b) {
      if (score_from[b] < 0 || score_from[b] > n) {
        return absl::InternalError(
            absl::StrCat("window score_from ", score_from[b],
                         " outside [0, context = ", n, "]"));
      }
      for (int i = score_from[b]; i < n; ++i) {
        total += losses[static_cast<size_t>(b) * n + i];
      }
      result.scored += n - score_from[b];
    }
    result.windows += rows;
  }
  if (result.scored == 0) {
    return absl::InvalidArgumentError("evaluation scored no targets");
  }
  result.mean_nats = total / result.scored;
  result.bits_per_byte = result.mean_nats / M_LN2;
  return result;
}

absl::StatusOr<EvalResult> EvaluateBytes(train::Trainable& model,
                                         absl::Span<const uint8_t> data,
                                         int batch, int min_context) {
  const int n = model.context();
  auto plan = PlanWindows(static_cast<int64_t>(data.size()), n, min_context);
  if (!plan.ok()) return plan.status();
  size_t next = 0;
  return EvaluateWindows(
      model, batch,
      [&](uint8_t* inputs, uint8_t* targets, int32_t* score_from) {
        int rows = 0;
        for (; rows < batch && next < plan->size(); ++rows, ++next) {
          const Window& w = (*plan)[next];
          std::memcpy(inputs + static_cast<size_t>(rows) * n,
                      data.data() + w.start, n);
          std::memcpy(targets + static_cast<size_t>(rows) * n,
                      data.data() + w.start + 1, n);
          score_from[rows] = w.score_from;
        }
        return rows;
      });
}

}  // namespace st::eval

// Learning-rate schedule (linear warmup, then cosine decay to zero), global
// gradient norm and clipping, and the dynamic loss-scaling state machine.
#ifndef SPARSE_TRANSFORMER_TRAIN_SCHEDULE_H_
#define SPARSE_TRANSFORMER_TRAIN_SCHEDULE_H_

#include <cstdint>

#include "absl/types/span.h"

namespace st::train {

// Learning rate for the optimizer step with 0-based index `step` of `total`:
//   step < warmup:  base * (step + 1) / warmup
//   otherwise:      base * 0.5 * (1 + cos(pi * (step - warmup) / (total -
//   warmup)))
// The paper's code uses `step / warmup`, which makes the first update a no-op;
// the +1 makes every step count. Steps past `total` get 0.
float WarmupCosineLr(int64_t step, float base, int64_t warmup, int64_t total);

// sqrt(sum g^2) over all values, accumulated in double. Inf or NaN in any
// gradient gives a non-finite result.
double GlobalNorm(absl::Span<const float> grads);

// The factor that brings the global norm down to `max_norm` (1 when it is
// already below, or when max_norm <= 0 turns clipping off).
float ClipFactor(double norm, float max_norm);

// Dynamic loss scaling as in the paper's mixed-precision training: the loss is
// multiplied by scale() before backward; when the gradients hold Inf/NaN the
// step is skipped and the scale halved; after `growth_interval` clean steps in
// a row the scale doubles.
class DynamicLossScaler {
 public:
  explicit DynamicLossScaler(float initial_scale = 65536.0f,
                             int64_t growth_interval = 1000,
                             float min_scale = 1.0f,
                             float max_scale = 16777216.0f);

  float scale() const { return scale_; }
  int64_t clean_steps() const { return clean_steps_; }

  // Reports one backward pass; returns true when the optimizer step should be
  // applied (gradients finite), false when it must be skipped.
  bool Update(bool grads_finite);

  // For checkpoints.
  void Restore(float scale, int64_t clean_steps) {
    scale_ = scale;
    clean_steps_ = clean_steps;
  }

 private:
  float scale_;
  int64_t growth_interval_;
  float min_scale_;
  float max_scale_;
  int64_t clean_steps_ = 0;
};

}  // namespace st::train

#endif  // SPARSE_TRANSFORMER_TRAIN_SCHEDULE_H_

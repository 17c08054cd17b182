#include "sparse_transformer/train/schedule.h"

#include <algorithm>
#include <cmath>

namespace st::train {

float WarmupCosineLr(int64_t step, float base, int64_t warmup, int64_t total) {
  if (step < 0 || step >= total) return 0.0f;
  if (step < warmup) {
    return static_cast<float>(static_cast<double>(base) * (step + 1) / warmup);
  }
  const double progress =
      static_cast<double>(step - warmup) / static_cast<double>(total - warmup);
  return static_cast<float>(base * 0.5 * (1.0 + std::cos(M_PI * progress)));
}

double GlobalNorm(absl::Span<const float> grads) {
  double sum = 0.0;
  for (float g : grads) sum += static_cast<double>(g) * g;
  return std::sqrt(sum);
}

float ClipFactor(double norm, float max_norm) {
  if (max_norm <= 0.0f || !(norm > max_norm)) return 1.0f;
  return static_cast<float>(max_norm / norm);
}

DynamicLossScaler::DynamicLossScaler(float initial_scale,
                                     int64_t growth_interval, float min_scale,
                                     float max_scale)
    : scale_(initial_scale),
      growth_interval_(growth_interval),
      min_scale_(min_scale),
      max_scale_(max_scale) {}

bool DynamicLossScaler::Update(bool grads_finite) {
  if (!grads_finite) {
    scale_ = std::max(min_scale_, scale_ * 0.5f);
    clean_steps_ = 0;
    return false;
  }
  if (++clean_steps_ >= growth_interval_) {
    scale_ = std::min(max_scale_, scale_ * 2.0f);
    clean_steps_ = 0;
  }
  return true;
}

}  // namespace st::train

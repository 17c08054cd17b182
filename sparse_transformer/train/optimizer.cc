#include "sparse_transformer/train/optimizer.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace st::train {

absl::Status ValidateParamGroups(const std::vector<ParamGroup>& groups,
                                 int64_t size) {
  std::vector<const ParamGroup*> sorted;
  for (const ParamGroup& g : groups) sorted.push_back(&g);
  std::sort(sorted.begin(), sorted.end(),
            [](const ParamGroup* a, const ParamGroup* b) {
              return a->offset < b->offset;
            });
  int64_t next = 0;
  for (const ParamGroup* g : sorted) {
    int64_t product = 1;
    for (int64_t d : g->shape) product *= d;
    if (product != g->size) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter group '", g->name, "': size ", g->size,
                       " is not the product of its shape (", product, ")"));
    }
    if (g->offset != next) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter group '", g->name, "' starts at ", g->offset,
          " but the previous group ends at ", next, " (gap or overlap)"));
    }
    next = g->offset + g->size;
  }
  if (next != size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parameter groups cover ", next, " values but the buffer has ", size));
  }
  return absl::OkStatus();
}

Adam::Adam(int64_t size, const AdamConfig& config)
    : config_(config), m_(size, 0.0f), v_(size, 0.0f) {}

absl::Status Adam::Step(absl::Span<float> params, absl::Span<const float> grads,
                        const std::vector<ParamGroup>& groups, float lr,
                        float grad_scale) {
  const int64_t size = static_cast<int64_t>(m_.size());
  if (static_cast<int64_t>(params.size()) != size ||
      static_cast<int64_t>(grads.size()) != size) {
    return absl::InvalidArgumentError(
        absl::StrCat("Adam::Step: optimizer holds ", size, " values, params ",
                     params.size(), ", grads ", grads.size()));
  }
  ++steps_;
  const double t = static_cast<double>(steps_);
  // Bias corrections folded into the step size and epsilon, in double so the
  // powers stay exact for long runs.
  const float bc1 = static_cast<float>(1.0 - std::pow(config_.beta1, t));
  const float bc2 = static_cast<float>(1.0 - std::pow(config_.beta2, t));
  const float b1 = config_.beta1, b2 = config_.beta2;
  const float inv_bc1 = 1.0f / bc1;
  const float inv_bc2 = 1.0f / bc2;
  float* p = params.data();
  const float* g = grads.data();
  float* m = m_.data();
  float* v = v_.data();
  for (const ParamGroup& group : groups) {
    const float decay = group.decay ? 1.0f - lr * config_.weight_decay : 1.0f;
    const int64_t end = group.offset + group.size;
    for (int64_t i = group.offset; i < end; ++i) {
      const float gi = g[i] * grad_scale;
      m[i] = b1 * m[i] + (1.0f - b1) * gi;
      v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
      const float m_hat = m[i] * inv_bc1;
      const float v_hat = v[i] * inv_bc2;
      p[i] = p[i] * decay - lr * m_hat / (std::sqrt(v_hat) + config_.eps);
    }
  }
  return absl::OkStatus();
}

}  // namespace st::train

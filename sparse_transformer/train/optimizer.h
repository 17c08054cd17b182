// Adam with decoupled weight decay (AdamW style, as the paper's released code
// applies its `l2_loss`), over the flat parameter buffer of a Trainable.
#ifndef SPARSE_TRANSFORMER_TRAIN_OPTIMIZER_H_
#define SPARSE_TRANSFORMER_TRAIN_OPTIMIZER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "sparse_transformer/train/trainable.h"

namespace st::train {

struct AdamConfig {
  // The paper does not state them; these are the defaults of the paper's
  // blocksparse Adam.
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  // Decoupled decay p <- p - lr * weight_decay * p, on groups with decay=true.
  float weight_decay = 0.01f;
};

// Checks that `groups` tile [0, size) exactly (no gap, no overlap) and that
// each group's size is the product of its shape.
absl::Status ValidateParamGroups(const std::vector<ParamGroup>& groups,
                                 int64_t size);

class Adam {
 public:
  Adam(int64_t size, const AdamConfig& config);

  // One update. Every gradient is first multiplied by `grad_scale` (the
  // global-norm clip factor, times 1/loss_scale where loss scaling is used).
  //   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
  //   p <- p - lr wd p  (decay groups only)
  //   p <- p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
  // where t = steps() after the increment. params/grads/m/v: [P].
  absl::Status Step(absl::Span<float> params, absl::Span<const float> grads,
                    const std::vector<ParamGroup>& groups, float lr,
                    float grad_scale);

  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps) { steps_ = steps; }
  absl::Span<float> m() { return absl::MakeSpan(m_); }  // [P]
  absl::Span<float> v() { return absl::MakeSpan(v_); }  // [P]
  const AdamConfig& config() const { return config_; }

 private:
  AdamConfig config_;
  int64_t steps_ = 0;
  std::vector<float> m_;
  std::vector<float> v_;
};

}  // namespace st::train

#endif  // SPARSE_TRANSFORMER_TRAIN_OPTIMIZER_H_

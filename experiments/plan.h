// The validated plan of an experiment: what the runner prints before it
// trains (parameter count, attention density per layer, memory estimate).
#ifndef SPARSE_TRANSFORMER_EXPERIMENTS_PLAN_H_
#define SPARSE_TRANSFORMER_EXPERIMENTS_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sparse_transformer/proto/experiment.pb.h"

namespace st::experiments {

struct LayerPlan {
  int layer = 0;
  int64_t live_blocks = 0;  // all heads
  double density = 0;       // live (i, j) pairs / dense causal pairs
};

struct Plan {
  int64_t params = 0;  // every trainable parameter
  int64_t params_non_embedding = 0;
  std::vector<LayerPlan> layers;  // empty when the layout is too large to count
  std::string layers_note;        // why `layers` is empty, if it is
  int64_t bytes_weights = 0;      // fp32 weights + grads + Adam m, v
  int64_t bytes_activations = 0;  // stored for backward, per micro-batch
  int64_t tokens_per_step = 0;
};

// Counts parameters exactly as the model lays them out (see
// sparse_transformer/model/), builds each distinct layer's layout to count
// live blocks, and estimates memory. Expects a validated spec.
absl::StatusOr<Plan> MakePlan(const proto::Experiment& spec);

// Human-readable multi-line rendering.
std::string FormatPlan(const proto::Experiment& spec, const Plan& plan);

}  // namespace st::experiments

#endif  // SPARSE_TRANSFORMER_EXPERIMENTS_PLAN_H_

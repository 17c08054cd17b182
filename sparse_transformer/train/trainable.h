// The contract between a model and the training/evaluation code: a model
// exposes one flat fp32 parameter buffer, a gradient buffer of the same layout,
// a description of the parameter groups, one accumulating forward/backward
// pass over a micro-batch and a per-position evaluation loss.
#ifndef SPARSE_TRANSFORMER_TRAIN_TRAINABLE_H_
#define SPARSE_TRANSFORMER_TRAIN_TRAINABLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace st::train {

// One named tensor inside the flat parameter buffer.
struct ParamGroup {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0;  // first element in params()/grads()
  int64_t size = 0;    // product of shape
  // True for matrices (rank >= 2, not biases or LayerNorm gains): decoupled
  // weight decay applies to them.
  bool decay = false;
};

class Trainable {
 public:
  virtual ~Trainable() = default;

  // The context length N.
  virtual int context() const = 0;

  // All parameters in one flat fp32 buffer.
  virtual absl::Span<float> params() = 0;

  // Gradients, same layout as params(); ForwardBackward ACCUMULATES (+=).
  virtual absl::Span<float> grads() = 0;

  virtual const std::vector<ParamGroup>& param_groups() const = 0;

  // What the parameters' meaning depends on beyond their names and shapes
  // (e.g. the attention pattern, which has no parameters): a checkpoint
  // resumes only into a model with the same description. Empty: nothing.
  virtual std::string structure() const { return {}; }

  // One micro-batch: inputs/targets [B, N] bytes. Accumulates gradients of the
  // MEAN cross-entropy over the B*N targets, multiplied by `loss_weight` (so
  // gradient accumulation over k micro-batches passes 1/k). Returns that mean
  // (nats). Dropout masks derive from `dropout_seed` only (counter-based), so a
  // recomputed block reproduces them exactly.
  virtual float ForwardBackward(const uint8_t* inputs, const uint8_t* targets,
                                int batch, float loss_weight,
                                uint64_t dropout_seed) = 0;

  // Evaluation: no dropout; writes per-position cross-entropy in nats,
  // losses: [B, N].
  virtual void Loss(const uint8_t* inputs, const uint8_t* targets, int batch,
                    float* losses) = 0;
};

}  // namespace st::train

#endif  // SPARSE_TRANSFORMER_TRAIN_TRAINABLE_H_

// Autoregressive sampling with cached keys and values: each step embeds one
// new position, runs every block on that single row and attends only to the
// live keys of its query in the layer's layout, so a step costs O(live keys
// * K + D^2) instead of a full O(N^2) forward pass.
#ifndef SPARSE_TRANSFORMER_MODEL_SAMPLER_H_
#define SPARSE_TRANSFORMER_MODEL_SAMPLER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "sparse_transformer/model/model.h"

namespace st::model {

template <typename T>
class Sampler {
 public:
  // The model must outlive the sampler and keep its parameters fixed.
  explicit Sampler(const SparseTransformer<T>& model);

  // Forgets every cached position.
  void Reset();
  // Feeds the input byte of position length() and returns the logits [256]
  // of that position's target (the next byte). Requires length() < N.
  const std::vector<T>& Step(uint8_t input);
  int64_t length() const { return t_; }
  // Keys attended in the last Step, summed over layers and heads.
  int64_t last_step_keys() const { return last_keys_; }

 private:
  const SparseTransformer<T>& model_;
  int64_t n_;
  int d_, h_, dqk_, dff_, kq_, kv_;
  int64_t t_ = 0;
  int64_t last_keys_ = 0;
  // Per layer: keys [H, N, Kq] and values [H, N, Kv] in original positions.
  std::vector<std::vector<T>> k_cache_, v_cache_;
  // One row of every intermediate: x, ln, qkv, att, proj [D or 2Dqk+D], ff
  // [F], logits [256], attention scores [live keys], their positions.
  std::vector<T> x_, ln_, qkv_, att_, tmp_, ff_, logits_, scores_;
  std::vector<int64_t> keys_;
};

// Feeds `prompt` (at least one byte; prompt[0] is the start input), then
// samples `count` bytes, each fed back as the next input, with softmax
// temperature `temperature` (0 = greedy argmax). The random draws depend only
// on `seed`. Returns the sampled bytes (without the prompt). Errors if the
// prompt is empty, the temperature negative, or prompt + count - 1 exceeds N.
template <typename T>
absl::StatusOr<std::vector<uint8_t>> SampleBytes(
    const SparseTransformer<T>& model, const std::vector<uint8_t>& prompt,
    int64_t count, double temperature, uint64_t seed);

}  // namespace st::model

#endif  // SPARSE_TRANSFORMER_MODEL_SAMPLER_H_

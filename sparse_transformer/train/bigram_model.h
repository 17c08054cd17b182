// A real, small Trainable for tests of the training and evaluation code: a
// bigram softmax model, logits[t] = W[x_t] + b, with analytic gradients. A
// position "dropout" driven only by dropout_seed (each position's loss term is
// dropped with probability 1/8 and the rest scaled by 8/7) makes the exact
// handling of seeds visible in resume tests.
#ifndef SPARSE_TRANSFORMER_TRAIN_BIGRAM_MODEL_H_
#define SPARSE_TRANSFORMER_TRAIN_BIGRAM_MODEL_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "sparse_transformer/train/batch_source.h"
#include "sparse_transformer/train/trainable.h"

namespace st::train {

class BigramModel : public Trainable {
 public:
  static constexpr int kVocab = 256;

  BigramModel(int context, uint64_t seed, bool dropout = true)
      : context_(context),
        dropout_(dropout),
        params_(kVocab * kVocab + kVocab),
        grads_(params_.size(), 0.0f) {
    groups_.push_back({"w", {kVocab, kVocab}, 0, kVocab * kVocab, true});
    groups_.push_back({"b", {kVocab}, kVocab * kVocab, kVocab, false});
    uint64_t s = seed;
    for (int i = 0; i < kVocab * kVocab; ++i) {
      // Small uniform init in [-0.01, 0.01).
      params_[i] = 0.02f * ((SplitMix64(&s) >> 40) / 16777216.0f - 0.5f);
    }
  }

  int context() const override { return context_; }
  absl::Span<float> params() override { return absl::MakeSpan(params_); }
  absl::Span<float> grads() override { return absl::MakeSpan(grads_); }
  const std::vector<ParamGroup>& param_groups() const override {
    return groups_;
  }

  float ForwardBackward(const uint8_t* inputs, const uint8_t* targets,
                        int batch, float loss_weight,
                        uint64_t dropout_seed) override {
    const int64_t count = static_cast<int64_t>(batch) * context_;
    double total = 0.0;
    std::vector<float> p(kVocab);  // [V] softmax of one position
    for (int64_t t = 0; t < count; ++t) {
      const float keep = Keep(dropout_seed, t);
      const float nll = Softmax(inputs[t], targets[t], p.data());
      total += keep * nll;
      // d(mean keep*nll)/dlogits = keep * (p - onehot) / count.
      const float g = loss_weight * keep / count;
      if (g == 0.0f) continue;
      float* gw = &grads_[inputs[t] * kVocab];
      float* gb = &grads_[kVocab * kVocab];
      for (int v = 0; v < kVocab; ++v) {
        const float d = g * (p[v] - (v == targets[t] ? 1.0f : 0.0f));
        gw[v] += d;
        gb[v] += d;
      }
    }
    return static_cast<float>(total / count);
  }

  void Loss(const uint8_t* inputs, const uint8_t* targets, int batch,
            float* losses) override {
    std::vector<float> p(kVocab);
    for (int64_t t = 0; t < static_cast<int64_t>(batch) * context_; ++t) {
      losses[t] = Softmax(inputs[t], targets[t], p.data());
    }
  }

 private:
  float Keep(uint64_t seed, int64_t t) const {
    if (!dropout_) return 1.0f;
    uint64_t s = seed ^ (static_cast<uint64_t>(t) * 0x9E3779B97F4A7C15ull);
    return (SplitMix64(&s) & 7) == 0 ? 0.0f : 8.0f / 7.0f;
  }

  // Fills p with softmax(W[x] + b) and returns -log p[y].
  float Softmax(int x, int y, float* p) const {
    const float* w = &params_[x * kVocab];
    const float* b = &params_[kVocab * kVocab];
    float max = -INFINITY;
    for (int v = 0; v < kVocab; ++v) max = std::max(max, w[v] + b[v]);
    double sum = 0.0;
    for (int v = 0; v < kVocab; ++v) {
      p[v] = std::exp(w[v] + b[v] - max);
      sum += p[v];
    }
    for (int v = 0; v < kVocab; ++v) p[v] = static_cast<float>(p[v] / sum);
    return static_cast<float>(std::log(sum) - (w[y] + b[y] - max));
  }

  int context_;
  bool dropout_;
  std::vector<float> params_;  // [V*V + V]: W [V, V] then b [V]
  std::vector<float> grads_;   // same layout
  std::vector<ParamGroup> groups_;
};

}  // namespace st::train

#endif  // SPARSE_TRANSFORMER_TRAIN_BIGRAM_MODEL_H_

// Softmax cross-entropy over the V = 256 byte values.
#ifndef SPARSE_TRANSFORMER_OPS_SOFTMAX_XENT_H_
#define SPARSE_TRANSFORMER_OPS_SOFTMAX_XENT_H_

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "sparse_transformer/core/parallel.h"

namespace st::ops {

inline constexpr int kVocab = 256;

// logits, probs: [M, V] (probs may alias logits); targets: [M];
// losses: [M] = -log softmax(logits)[target] in nats. probs may be null.
template <typename T>
void SoftmaxCrossEntropyForward(int64_t m, int v, const T* logits,
                                const uint8_t* targets, T* losses, T* probs) {
  ParallelFor(m, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* z = logits + r * v;
      T mx = z[0];
      for (int j = 1; j < v; ++j) mx = std::max(mx, z[j]);
      T sum = 0;
      for (int j = 0; j < v; ++j) sum += std::exp(z[j] - mx);
      const T log_sum = std::log(sum);
      // log(sum) - (z_t - max) rather than (max + log sum) - z_t: the latter
      // loses the loss's low bits when the logits are large.
      const T zt = z[targets[r]] - mx;  // read before probs may overwrite z
      if (probs != nullptr) {
        T* p = probs + r * v;
        for (int j = 0; j < v; ++j) p[j] = std::exp(z[j] - mx - log_sum);
      }
      losses[r] = log_sum - zt;
    }
  });
}

// For L = scale * sum_r loss_r: dL/dz_rj = scale * (p_rj - [j == t_r]).
// dlogits is overwritten (may alias probs).
template <typename T>
void SoftmaxCrossEntropyBackward(int64_t m, int v, const T* probs,
                                 const uint8_t* targets, T scale, T* dlogits) {
  ParallelFor(m, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* p = probs + r * v;
      T* d = dlogits + r * v;
      for (int j = 0; j < v; ++j) d[j] = scale * p[j];
      d[targets[r]] -= scale;
    }
  });
}

}  // namespace st::ops

#endif  // SPARSE_TRANSFORMER_OPS_SOFTMAX_XENT_H_

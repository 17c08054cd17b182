// Inverted dropout whose mask is a pure function of (seed, site, index): the
// forward pass, the backward pass and a recomputed forward all regenerate the
// same mask, so nothing is stored. Element i is kept iff u(seed, site, i) >= p,
// and kept elements are scaled by 1/(1-p).
#ifndef SPARSE_TRANSFORMER_OPS_DROPOUT_H_
#define SPARSE_TRANSFORMER_OPS_DROPOUT_H_

#include <cstdint>

#include "sparse_transformer/core/parallel.h"
#include "sparse_transformer/core/rng.h"

namespace st::ops {

inline bool DropoutKeep(uint64_t seed, uint64_t site, double p, int64_t i) {
  return CounterRng(seed, site).Uniform(static_cast<uint64_t>(i)) >= p;
}

// x, y: [n] (may alias). p == 0 is the identity.
template <typename T>
void DropoutForward(uint64_t seed, uint64_t site, double p, int64_t n,
                    const T* x, T* y) {
  if (p <= 0) {
    if (y != x) {
      for (int64_t i = 0; i < n; ++i) y[i] = x[i];
    }
    return;
  }
  const T scale = T(1.0 / (1.0 - p));
  ParallelFor(n, 1 << 14, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      y[i] = DropoutKeep(seed, site, p, i) ? x[i] * scale : T(0);
    }
  });
}

// y = m * x / (1-p) is linear in x, so dx = m * dy / (1-p): the same op.
template <typename T>
void DropoutBackward(uint64_t seed, uint64_t site, double p, int64_t n,
                     const T* dy, T* dx) {
  DropoutForward(seed, site, p, n, dy, dx);
}

}  // namespace st::ops

#endif  // SPARSE_TRANSFORMER_OPS_DROPOUT_H_

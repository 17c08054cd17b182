// Inverted dropout whose mask is a pure function of (seed, site, index): the
// forward pass, the backward pass and a recomputed forward all regenerate the
// same mask, so nothing is stored. Element i is kept iff u(seed, site, i) >= p,
// and kept elements are scaled by 1/(1-p).
#ifndef SPARSE_TRANSFORMER_OPS_DROPOUT_H_
#define SPARSE_TRANSFORMER_OPS_DROPOUT_H_

#include <cmath>
#include <cstdint>

#include "sparse_transformer/core/parallel.h"
#include "sparse_transformer/core/rng.h"

namespace st::ops {

inline bool DropoutKeep(uint64_t seed, uint64_t site, double p, int64_t i) {
  return CounterRng(seed, site).Uniform(static_cast<uint64_t>(i)) >= p;
}

// The same test in integers: Uniform = (bits >> 11) * 2^-53 >= p exactly when
// (bits >> 11) >= ceil(p * 2^53), both sides being exact in double.
inline uint64_t DropoutThreshold(double p) {
  return static_cast<uint64_t>(std::ceil(p * 9007199254740992.0));
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
  const CounterRng rng(seed, site);
  const uint64_t threshold = DropoutThreshold(p);
  ParallelFor(n, 1 << 14, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const bool keep = (rng.Bits(static_cast<uint64_t>(i)) >> 11) >= threshold;
      y[i] = keep ? x[i] * scale : T(0);
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

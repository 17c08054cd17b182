// GeLU as the paper approximates it: y = x * sigmoid(1.702 x).
#ifndef SPARSE_TRANSFORMER_OPS_GELU_H_
#define SPARSE_TRANSFORMER_OPS_GELU_H_

#include <cmath>
#include <cstdint>

#include "sparse_transformer/core/parallel.h"

namespace st::ops {

inline constexpr double kGeluAlpha = 1.702;

// x, y: [n] (may alias).
template <typename T>
void GeluForward(int64_t n, const T* x, T* y) {
  ParallelFor(n, 1 << 14, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const T s = T(1) / (T(1) + std::exp(-T(kGeluAlpha) * x[i]));
      y[i] = x[i] * s;
    }
  });
}

// dy/dx = s + a x s (1 - s) with s = sigmoid(a x). dx is overwritten (may
// alias dy).
template <typename T>
void GeluBackward(int64_t n, const T* x, const T* dy, T* dx) {
  ParallelFor(n, 1 << 14, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const T s = T(1) / (T(1) + std::exp(-T(kGeluAlpha) * x[i]));
      dx[i] = dy[i] * (s + T(kGeluAlpha) * x[i] * s * (T(1) - s));
    }
  });
}

}  // namespace st::ops

#endif  // SPARSE_TRANSFORMER_OPS_GELU_H_

// Residual add: out = x + f, the skip connection of every block. The model
// adds in place (x += f); backward passes dout unchanged to both inputs.
#ifndef SPARSE_TRANSFORMER_OPS_RESIDUAL_H_
#define SPARSE_TRANSFORMER_OPS_RESIDUAL_H_

#include <cstdint>

namespace st::ops {

// x, f, out: [n]; out may alias x (the in-place residual stream).
template <typename T>
void ResidualForward(int64_t n, const T* x, const T* f, T* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] + f[i];
}

// d out / d x = d out / d f = identity: both gradients accumulate dout. Either
// destination may be null (e.g. dx is dout itself when the stream is in place).
template <typename T>
void ResidualBackward(int64_t n, const T* dout, T* dx, T* df) {
  if (dx != nullptr) {
    for (int64_t i = 0; i < n; ++i) dx[i] += dout[i];
  }
  if (df != nullptr) {
    for (int64_t i = 0; i < n; ++i) df[i] += dout[i];
  }
}

}  // namespace st::ops

#endif  // SPARSE_TRANSFORMER_OPS_RESIDUAL_H_

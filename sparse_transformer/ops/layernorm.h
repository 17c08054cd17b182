// LayerNorm over the last axis: y = (x - mean) * rstd * g + b, with
// rstd = 1/sqrt(var + eps) and var the biased variance of the row.
#ifndef SPARSE_TRANSFORMER_OPS_LAYERNORM_H_
#define SPARSE_TRANSFORMER_OPS_LAYERNORM_H_

#include <cmath>
#include <cstdint>

#include "sparse_transformer/core/parallel.h"

namespace st::ops {

// x, y: [M, D]; g, b: [D]; mean, rstd: [M] (saved for backward).
template <typename T>
void LayerNormForward(int64_t m, int64_t d, T eps, const T* x, const T* g,
                      const T* b, T* y, T* mean, T* rstd) {
  ParallelFor(m, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * d;
      T mu = 0;
      for (int64_t j = 0; j < d; ++j) mu += xr[j];
      mu /= T(d);
      T var = 0;
      for (int64_t j = 0; j < d; ++j) var += (xr[j] - mu) * (xr[j] - mu);
      var /= T(d);
      const T rs = T(1) / std::sqrt(var + eps);
      T* yr = y + r * d;
      for (int64_t j = 0; j < d; ++j) yr[j] = (xr[j] - mu) * rs * g[j] + b[j];
      mean[r] = mu;
      rstd[r] = rs;
    }
  });
}

// With xh = (x - mean) * rstd and dxh = dy * g:
//   dx = rstd * (dxh - mean_j(dxh) - xh * mean_j(dxh * xh)),
//   dg += sum_rows dy * xh,  db += sum_rows dy.
// dx ACCUMULATES (LayerNorm reads the residual stream, whose gradient already
// holds the skip path). dg/db accumulate serially so results do not depend on
// the thread count.
template <typename T>
void LayerNormBackward(int64_t m, int64_t d, const T* x, const T* g,
                       const T* mean, const T* rstd, const T* dy, T* dx, T* dg,
                       T* db) {
  ParallelFor(m, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * d;
      const T* dyr = dy + r * d;
      const T mu = mean[r], rs = rstd[r];
      T sum_dxh = 0, sum_dxh_xh = 0;
      for (int64_t j = 0; j < d; ++j) {
        const T xh = (xr[j] - mu) * rs;
        const T dxh = dyr[j] * g[j];
        sum_dxh += dxh;
        sum_dxh_xh += dxh * xh;
      }
      sum_dxh /= T(d);
      sum_dxh_xh /= T(d);
      T* dxr = dx + r * d;
      for (int64_t j = 0; j < d; ++j) {
        const T xh = (xr[j] - mu) * rs;
        dxr[j] += rs * (dyr[j] * g[j] - sum_dxh - xh * sum_dxh_xh);
      }
    }
  });
  for (int64_t r = 0; r < m; ++r) {
    const T* xr = x + r * d;
    const T* dyr = dy + r * d;
    const T mu = mean[r], rs = rstd[r];
    for (int64_t j = 0; j < d; ++j) {
      dg[j] += dyr[j] * (xr[j] - mu) * rs;
      db[j] += dyr[j];
    }
  }
}

}  // namespace st::ops

#endif  // SPARSE_TRANSFORMER_OPS_LAYERNORM_H_

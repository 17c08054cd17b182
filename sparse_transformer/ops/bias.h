// Bias: y[M,N] += b[N]; backward db[N] += sum over rows of dy.
#ifndef SPARSE_TRANSFORMER_OPS_BIAS_H_
#define SPARSE_TRANSFORMER_OPS_BIAS_H_

#include <cstdint>

namespace st::ops {

template <typename T>
void BiasForward(int64_t m, int64_t n, const T* b, T* y) {
  for (int64_t i = 0; i < m; ++i) {
    T* row = y + i * n;
    for (int64_t j = 0; j < n; ++j) row[j] += b[j];
  }
}

// d/db_j of sum_ij dy_ij * (.. + b_j) = sum_i dy_ij. Accumulates (+=).
template <typename T>
void BiasBackward(int64_t m, int64_t n, const T* dy, T* db) {
  for (int64_t i = 0; i < m; ++i) {
    const T* row = dy + i * n;
    for (int64_t j = 0; j < n; ++j) db[j] += row[j];
  }
}

}  // namespace st::ops

#endif  // SPARSE_TRANSFORMER_OPS_BIAS_H_

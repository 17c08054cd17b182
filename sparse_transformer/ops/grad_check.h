// Finite-difference gradient checking for tests (double precision).
#ifndef SPARSE_TRANSFORMER_OPS_GRAD_CHECK_H_
#define SPARSE_TRANSFORMER_OPS_GRAD_CHECK_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "sparse_transformer/core/rng.h"

namespace st::ops {

// Central differences of `loss` with respect to x[0..n): perturbs x in place
// and restores it. Truncation error is O(h^2 f''') ~ 1e-12 for h = 1e-5 on the
// smooth functions tested here, far below the tolerances used.
inline std::vector<double> NumericalGradient(
    const std::function<double()>& loss, double* x, int64_t n,
    double h = 1e-5) {
  std::vector<double> g(n);
  for (int64_t i = 0; i < n; ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = loss();
    x[i] = saved - h;
    const double down = loss();
    x[i] = saved;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

// max_i |a_i - b_i| / max_i max(|a_i|, |b_i|): the error relative to the
// largest gradient entry, so entries near zero do not dominate.
inline double GradError(const std::vector<double>& a,
                        const std::vector<double>& b) {
  double scale = 1e-8, err = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::max({scale, std::fabs(a[i]), std::fabs(b[i])});
  }
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::fabs(a[i] - b[i]));
  }
  return err / scale;
}

// n normal numbers with standard deviation `stddev` from stream `stream`.
inline std::vector<double> RandomVector(int64_t n, uint64_t stream,
                                        double stddev = 1.0) {
  CounterRng rng(12345, stream);
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = stddev * rng.Normal(i);
  return v;
}

// sum_i w_i y_i: the scalar whose gradient wrt y is w.
inline double Dot(const std::vector<double>& w, const double* y) {
  double s = 0;
  for (size_t i = 0; i < w.size(); ++i) s += w[i] * y[i];
  return s;
}

}  // namespace st::ops

#endif  // SPARSE_TRANSFORMER_OPS_GRAD_CHECK_H_

// GEMM: C[M,N] = alpha * op(A) op(B) + beta * C, all row-major and contiguous.
// op(A) is A[M,K] or, with trans_a, A^T where A is stored [K,M]; likewise B is
// [K,N] or, with trans_b, stored [N,K]. float goes to OpenBLAS sgemm (which
// uses every core); double is a plain loop, the reference for gradient checks.
#ifndef SPARSE_TRANSFORMER_OPS_GEMM_H_
#define SPARSE_TRANSFORMER_OPS_GEMM_H_

#include <cstdint>

namespace st::ops {

template <typename T>
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
          const T* a, const T* b, T beta, T* c);

// The linear map of the model, y[M,N] = x[M,K] W[K,N] (bias: see bias.h).
// Backward of y = x W: dx[M,K] (+)= dy W^T, dW[K,N] += x^T dy.
template <typename T>
void MatmulForward(int64_t m, int64_t k, int64_t n, const T* x, const T* w,
                   T* y) {
  Gemm<T>(false, false, m, n, k, T(1), x, w, T(0), y);
}

// dx is overwritten unless accumulate_dx; dw always accumulates (+=) so that
// gradient accumulation over micro-batches needs no copy. dx may be null.
template <typename T>
void MatmulBackward(int64_t m, int64_t k, int64_t n, const T* x, const T* w,
                    const T* dy, T* dx, T* dw, bool accumulate_dx) {
  if (dx != nullptr) {
    Gemm<T>(false, true, m, k, n, T(1), dy, w, accumulate_dx ? T(1) : T(0), dx);
  }
  Gemm<T>(true, false, k, n, m, T(1), x, dy, T(1), dw);
}

}  // namespace st::ops

#endif  // SPARSE_TRANSFORMER_OPS_GEMM_H_

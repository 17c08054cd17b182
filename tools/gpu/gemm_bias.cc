#include "tools/gpu/gemm_bias.h"

#include "absl/strings/str_cat.h"

#ifdef ST_WITH_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>
#endif

namespace st::gpu {

void GemmBiasCpu(int m, int n, int k, const std::vector<float>& x,
                 const std::vector<float>& w, const std::vector<float>& b,
                 std::vector<float>* y) {
  y->assign(static_cast<size_t>(m) * n, 0.0f);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double acc = b[j];
      for (int p = 0; p < k; ++p) {
        acc += static_cast<double>(x[i * k + p]) * w[p * n + j];
      }
      (*y)[i * n + j] = static_cast<float>(acc);
    }
  }
}

#ifndef ST_WITH_CUDA

bool CudaDeviceAvailable(std::string* why) {
  *why = "built without --config=cuda";
  return false;
}

absl::Status GemmBiasGpu(int, int, int, const std::vector<float>&,
                         const std::vector<float>&, const std::vector<float>&,
                         std::vector<float>*) {
  return absl::FailedPreconditionError("built without --config=cuda");
}

#else

namespace {

absl::Status CudaCheck(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", cudaGetErrorString(e)));
}

absl::Status CublasCheck(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": cuBLAS status ", s));
}

#define ST_CUDA_OK(expr)      \
  do {                        \
    absl::Status s_ = (expr); \
    if (!s_.ok()) return s_;  \
  } while (0)

}  // namespace

bool CudaDeviceAvailable(std::string* why) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    *why = absl::StrCat("no CUDA device: ", cudaGetErrorString(e));
    return false;
  }
  if (count == 0) {
    *why = "no CUDA device";
    return false;
  }
  return true;
}

absl::Status GemmBiasGpu(int m, int n, int k, const std::vector<float>& x,
                         const std::vector<float>& w,
                         const std::vector<float>& b, std::vector<float>* y) {
  float *dx = nullptr, *dw = nullptr, *db = nullptr, *dy = nullptr;
  ST_CUDA_OK(CudaCheck(cudaMalloc(&dx, x.size() * sizeof(float)), "malloc x"));
  ST_CUDA_OK(CudaCheck(cudaMalloc(&dw, w.size() * sizeof(float)), "malloc w"));
  ST_CUDA_OK(CudaCheck(cudaMalloc(&db, b.size() * sizeof(float)), "malloc b"));
  ST_CUDA_OK(CudaCheck(cudaMalloc(&dy, sizeof(float) * m * n), "malloc y"));
  ST_CUDA_OK(CudaCheck(cudaMemcpy(dx, x.data(), x.size() * sizeof(float),
                                  cudaMemcpyHostToDevice),
                       "copy x"));
  ST_CUDA_OK(CudaCheck(cudaMemcpy(dw, w.data(), w.size() * sizeof(float),
                                  cudaMemcpyHostToDevice),
                       "copy w"));
  ST_CUDA_OK(CudaCheck(cudaMemcpy(db, b.data(), b.size() * sizeof(float),
                                  cudaMemcpyHostToDevice),
                       "copy b"));
  // Poison y so an unwritten element cannot pass.
  ST_CUDA_OK(CudaCheck(cudaMemset(dy, 0xff, sizeof(float) * m * n), "poison"));
  cublasHandle_t handle;
  ST_CUDA_OK(CublasCheck(cublasCreate(&handle), "cublasCreate"));
  // Pure fp32 (no TF32) so the comparison tolerance is fp32's.
  ST_CUDA_OK(CublasCheck(cublasSetMathMode(handle, CUBLAS_PEDANTIC_MATH),
                         "math mode"));
  const float one = 1.0f, zero = 0.0f;
  // Row-major y = x w is column-major y^T = w^T x^T: swap the operands.
  ST_CUDA_OK(CublasCheck(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k,
                                     &one, dw, n, dx, k, &zero, dy, n),
                         "sgemm"));
  LaunchAddBias(m, n, db, dy);
  ST_CUDA_OK(CudaCheck(cudaGetLastError(), "bias kernel launch"));
  ST_CUDA_OK(CudaCheck(cudaDeviceSynchronize(), "synchronize"));
  y->resize(static_cast<size_t>(m) * n);
  ST_CUDA_OK(CudaCheck(
      cudaMemcpy(y->data(), dy, sizeof(float) * m * n, cudaMemcpyDeviceToHost),
      "copy y"));
  cublasDestroy(handle);
  cudaFree(dx);
  cudaFree(dw);
  cudaFree(db);
  cudaFree(dy);
  return absl::OkStatus();
}

#endif  // ST_WITH_CUDA

}  // namespace st::gpu

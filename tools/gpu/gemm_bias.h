// The smallest end-to-end use of the CUDA build: y = x * w + b on the GPU, the
// product through cuBLAS and the bias through a kernel compiled by nvcc. Its
// test (against the CPU result) is the smoke test of a GPU machine.
#ifndef SPARSE_TRANSFORMER_TOOLS_GPU_GEMM_BIAS_H_
#define SPARSE_TRANSFORMER_TOOLS_GPU_GEMM_BIAS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace st::gpu {

// True when built with --config=cuda and a CUDA device is visible; otherwise
// false with the reason in `why`.
bool CudaDeviceAvailable(std::string* why);

// x: [M, K], w: [K, N], b: [N], all row-major fp32 on the host; y: [M, N].
absl::Status GemmBiasGpu(int m, int n, int k, const std::vector<float>& x,
                         const std::vector<float>& w,
                         const std::vector<float>& b, std::vector<float>* y);

// The same on the CPU in double accumulation, the reference.
void GemmBiasCpu(int m, int n, int k, const std::vector<float>& x,
                 const std::vector<float>& w, const std::vector<float>& b,
                 std::vector<float>* y);

#ifdef ST_WITH_CUDA
// Adds b[col] to every row of y [M, N] (device pointers), on the default
// stream.
void LaunchAddBias(int m, int n, const float* b, float* y);
#endif

}  // namespace st::gpu

#endif  // SPARSE_TRANSFORMER_TOOLS_GPU_GEMM_BIAS_H_

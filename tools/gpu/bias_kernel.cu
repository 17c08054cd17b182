#include "tools/gpu/gemm_bias.h"

namespace st::gpu {
namespace {

// One thread per element of y [M, N].
__global__ void AddBiasKernel(int m, int n, const float* __restrict__ b,
                              float* __restrict__ y) {
  const long long idx =
      blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (idx < static_cast<long long>(m) * n) y[idx] += b[idx % n];
}

}  // namespace

void LaunchAddBias(int m, int n, const float* b, float* y) {
  const long long total = static_cast<long long>(m) * n;
  const int threads = 256;
  const int blocks = static_cast<int>((total + threads - 1) / threads);
  AddBiasKernel<<<blocks, threads>>>(m, n, b, y);
}

}  // namespace st::gpu

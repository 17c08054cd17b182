#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "tools/bench/random_fill_cuda.h"

namespace st::bench {
namespace {

__device__ __forceinline__ uint64_t Mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

template <typename T>
__global__ void FillKernel(T* dst, int64_t count, uint64_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       i < count; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float u =
        static_cast<float>(Mix(seed ^ (i * 0x2545f4914f6cdd1dull)) >> 40) *
        0x1p-24f;
    dst[i] = static_cast<T>(2.f * u - 1.f + 1e-3f);
  }
}

}  // namespace

int FillRandom16(void* dst, int64_t count, bool is_bf16, uint64_t seed) {
  if (is_bf16) {
    FillKernel<<<4096, 256>>>(static_cast<__nv_bfloat16*>(dst), count, seed);
  } else {
    FillKernel<<<4096, 256>>>(static_cast<__half*>(dst), count, seed);
  }
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  return cudaDeviceSynchronize();
}

}  // namespace st::bench

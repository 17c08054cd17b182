#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "tools/bench/hopper_rates_cuda.h"

namespace st::bench {
namespace {

constexpr int kMaxWarpgroups = 4;
constexpr int kTileElems = 64 * 64;  // one 64 x 64 bf16 operand tile

__device__ __forceinline__ uint32_t SmemAddr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
// K-major tile of 64-element rows, 128-byte swizzle, k-step kk.
__device__ __forceinline__ uint64_t Desc(const void* tile, int kk) {
  const uint32_t a = SmemAddr(tile);
  return (static_cast<uint64_t>((a & 0x3FFFF) >> 4) |
          (static_cast<uint64_t>(16 >> 4) << 16) |
          (static_cast<uint64_t>(1024 >> 4) << 32) | (1ull << 62)) +
         2 * kk;
}

#define ST_D32                                                               \
  "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%" \
  "20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}"
#define ST_ACC32(d)                                                       \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), \
      "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]),        \
      "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),    \
      "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),    \
      "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]),    \
      "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]),    \
      "+f"(d[31])

// d += A B^T for one k-step of 16 (64 x 64 x 16), bf16 in, fp32 accumulate.
__device__ __forceinline__ void ProductSS(float (&d)[32], uint64_t a,
                                          uint64_t b) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " ST_D32
               ", %32, %33, 1, 1, 1, 0, 0;\n"
               : ST_ACC32(d)
               : "l"(a), "l"(b));
}
__device__ __forceinline__ void ProductRS(float (&d)[32],
                                          const uint32_t (&a)[4], uint64_t b) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " ST_D32
               ", {%32,%33,%34,%35}, %36, 1, 1, 1, 0;\n"
               : ST_ACC32(d)
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
}
#undef ST_D32
#undef ST_ACC32

// Warpgroups 0 .. products - 1 issue `iterations` products of 64 x 64 x 64
// (four k-steps, at most two groups in flight); the next `exps` warpgroups
// compute 32 ex2 a thread an iteration (4096 a warpgroup, one 64 x 64 score
// tile). cycles[role] gets warpgroup 0 of each role's clock64 span on CTA 0.
template <bool kRS>
__global__ void __launch_bounds__(128 * kMaxWarpgroups, 1)
    RatesKernel(int products, int exps, int iterations, long long* cycles,
                float* sink) {
  extern __shared__ unsigned char smem_raw[];
  __nv_bfloat16* tiles = reinterpret_cast<__nv_bfloat16*>(
      smem_raw + ((1024 - (SmemAddr(smem_raw) & 1023)) & 1023));
  for (int i = threadIdx.x; i < (kMaxWarpgroups + 1) * kTileElems;
       i += blockDim.x) {
    tiles[i] = __float2bfloat16(0.001f * (i % 7));
  }
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
  __syncthreads();
  const int wg = threadIdx.x / 128;
  float d[32] = {};
  const long long t0 = clock64();
  if (wg < products) {
    const __nv_bfloat16* a = tiles + (wg + 1) * kTileElems;
    const uint32_t a_regs[4] = {0x3c003c00u, 0x3c003c00u, 0x3c003c00u,
                                0x3c003c00u};
    for (int it = 0; it < iterations; ++it) {
      asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        if constexpr (kRS)
          ProductRS(d, a_regs, Desc(tiles, kk));
        else
          ProductSS(d, Desc(a, kk), Desc(tiles, kk));
      }
      asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
      asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
  } else if (wg < products + exps) {
    const float bias = threadIdx.x * 1e-3f;
    for (int it = 0; it < iterations; ++it) {
#pragma unroll
      for (int j = 0; j < 32; ++j) {
        float e;
        asm volatile("ex2.approx.ftz.f32 %0, %1;\n"
                     : "=f"(e)
                     : "f"(d[j] * 0.5f - bias));
        d[j] = e;
      }
    }
  }
  const long long t1 = clock64();
  float s = 0.f;
#pragma unroll
  for (int j = 0; j < 32; ++j) s += d[j];
  if (s == 12345.f) *sink = s;  // keeps the work
  if (blockIdx.x == 0 && threadIdx.x % 128 == 0) {
    if (wg == 0) cycles[0] = t1 - t0;
    if (wg == products) cycles[1] = t1 - t0;
  }
}

}  // namespace

int MeasureHopperRates(const HopperRateCase& c, HopperRateResult* result) {
  int device = 0, major = 0, minor = 0, sms = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor,
                                 device);
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor,
                                 device);
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (err != cudaSuccess) return err;
  if (major != 9 || minor != 0) return cudaErrorNotSupported;
  const int warpgroups = c.product_warpgroups + c.exp_warpgroups;
  if (warpgroups < 1 || warpgroups > kMaxWarpgroups || c.iterations < 1)
    return cudaErrorInvalidValue;
  const int smem = (kMaxWarpgroups + 1) * kTileElems * 2 + 1024;
  auto kernel = c.a_in_registers ? RatesKernel<true> : RatesKernel<false>;
  err = cudaFuncSetAttribute(kernel,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (err != cudaSuccess) return err;
  long long* cycles = nullptr;
  float* sink = nullptr;
  if ((err = cudaMalloc(&cycles, 2 * sizeof(long long))) != cudaSuccess)
    return err;
  if ((err = cudaMalloc(&sink, sizeof(float))) != cudaSuccess) {
    cudaFree(cycles);
    return err;
  }
  long long host[2] = {0, 0};
  for (int run = 0; run < 2 && err == cudaSuccess; ++run) {  // warm-up, timed
    kernel<<<sms, 128 * warpgroups, smem>>>(
        c.product_warpgroups, c.exp_warpgroups, c.iterations, cycles, sink);
    err = cudaGetLastError();
    if (err == cudaSuccess)
      err = cudaMemcpy(host, cycles, sizeof(host), cudaMemcpyDeviceToHost);
  }
  cudaFree(cycles);
  cudaFree(sink);
  if (err != cudaSuccess) return err;
  *result = HopperRateResult{};
  if (c.product_warpgroups > 0 && host[0] > 0) {
    result->macs_per_clock = 64.0 * 64 * 64 * c.iterations *
                             c.product_warpgroups /
                             static_cast<double>(host[0]);
  }
  if (c.exp_warpgroups > 0 && host[1] > 0) {
    result->exp2_per_clock =
        4096.0 * c.iterations * c.exp_warpgroups / static_cast<double>(host[1]);
  }
  return cudaSuccess;
}

}  // namespace st::bench

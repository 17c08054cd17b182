// Device helpers shared by the block-sparse attention kernels (the mma.sync
// kernels in block_sparse_attention_cuda.cu and the Hopper wgmma kernels in
// block_sparse_attention_sm90.cu): PTX wrappers, mask tests, fragment stores.
// nvcc only.
#ifndef SPARSE_TRANSFORMER_ATTENTION_KERNEL_COMMON_CUDA_CUH_
#define SPARSE_TRANSFORMER_ATTENTION_KERNEL_COMMON_CUDA_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "sparse_transformer/attention/attention_kernels_cuda.h"

namespace st::attention::cuda {

inline constexpr float kLog2e = 1.4426950408889634f;
inline constexpr float kLn2 = 0.6931471805599453f;

// Programmatic dependent launch (a cudaLaunchKernelEx attribute): the kernel
// may start before the one before it on its stream has ended (it waits for
// that one's writes with griddepcontrol.wait, or starts only when that one's
// CTAs trigger it).
inline cudaLaunchAttribute ProgrammaticLaunch() {
  cudaLaunchAttribute pdl;
  pdl.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  pdl.val.programmaticStreamSerializationAllowed = 1;
  return pdl;
}
inline constexpr int kPad =
    8;  // elements of padding per smem row: 16 B, kills ldmatrix bank conflicts

// ---- PTX helpers -----------------------------------------------------------

template <typename T>
struct Ops;

template <>
struct Ops<__nv_bfloat16> {
  static __device__ __forceinline__ void mma(float (&c)[4],
                                             const uint32_t (&a)[4],
                                             uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
        "{%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
  static __device__ __forceinline__ float2 unpack(uint32_t x) {
    return __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&x));
  }
};

template <>
struct Ops<__half> {
  static __device__ __forceinline__ void mma(float (&c)[4],
                                             const uint32_t (&a)[4],
                                             uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
        "{%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
  static __device__ __forceinline__ float2 unpack(uint32_t x) {
    return __half22float2(*reinterpret_cast<__half2*>(&x));
  }
};

// 2^x on the special-function unit, flushing denormal results to zero
// (arguments here are <= 0 or -inf; exp2f adds denormal handling around the
// same instruction).
__device__ __forceinline__ float FastExp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// a[i] for a run-time i < N. Indexing a register array with a run-time value
// moves the array (and any struct holding it) to local memory, so each
// element is selected instead.
template <int N>
__device__ __forceinline__ int Pick(const int (&a)[N], int i) {
  int v = a[0];
#pragma unroll
  for (int b = 1; b < N; ++b) v = i == b ? a[b] : v;
  return v;
}

__device__ __forceinline__ uint32_t SmemAddr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void Ldmatrix4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(SmemAddr(p)));
}

__device__ __forceinline__ void Ldmatrix4Trans(uint32_t (&r)[4],
                                               const void* p) {
  asm volatile(
      "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
      : "r"(SmemAddr(p)));
}

__device__ __forceinline__ void CpAsync16(void* smem, const void* gmem) {
  asm volatile(
      "cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(SmemAddr(smem)),
      "l"(gmem));
}
__device__ __forceinline__ void CpAsync4(void* smem, const void* gmem) {
  asm volatile(
      "cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(SmemAddr(smem)),
      "l"(gmem));
}
__device__ __forceinline__ void CpAsyncCommit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
template <int N>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Is (query r, key c) of a block live under mask code `code`?
__device__ __forceinline__ bool Live(int code, int r, int c, int block,
                                     const uint64_t* words,
                                     int words_per_mask) {
  if (code == -1) return true;
  if (code == -2) return c <= r;
  const int bit = r * block + c;
  return (__ldg(words + static_cast<int64_t>(code) * words_per_mask +
                (bit >> 6)) >>
          (bit & 63)) &
         1ull;
}

// The dk/dv passes' mask, one key at a time: bit x is set when query q0 + x
// of a block is live for key `key` of the block under mask code `code`, for
// W consecutive queries. Branch-free for full and causal blocks; explicit
// masks (one load per element) fill only the bits of this lane's
// accumulator columns (x % 8 = 2 t4, 2 t4 + 1).
template <int W>
__device__ __forceinline__ uint64_t KeyBits(int code, int key, int q0, int t4,
                                            int block, const uint64_t* words,
                                            int words_per_mask) {
  static_assert(W % 8 == 0 && W <= 64);
  constexpr uint64_t kAll = W == 64 ? ~0ull : (1ull << W) - 1;
  if (code == -1) return kAll;
  if (code == kAbsent) return 0;
  if (code == -2) {  // causal: live where key <= query, i.e. x >= key - q0
    const int d = key - q0;
    return d <= 0 ? kAll : d >= W ? 0 : kAll & ~((1ull << d) - 1);
  }
  uint64_t bits = 0;
  for (int x = 2 * t4; x < W; x += 8) {
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      bits |= static_cast<uint64_t>(
                  Live(code, q0 + x + c, key, block, words, words_per_mask))
              << (x + c);
    }
  }
  return bits;
}

// Writes a 16 x D accumulator slice (rows g and g+8 of this lane) to the
// rows at original positions pos0 / pos1 of `slab`, multiplied by s0 / s1.
template <typename T, int D>
__device__ __forceinline__ void StoreAcc(T* slab, int64_t pos0, int64_t pos1,
                                         const float (&acc)[D / 8][4], float s0,
                                         float s1, int t4) {
#pragma unroll
  for (int j = 0; j < D / 8; ++j) {
    const int col = j * 8 + 2 * t4;
    *reinterpret_cast<uint32_t*>(slab + pos0 * D + col) =
        Ops<T>::pack(acc[j][0] * s0, acc[j][1] * s0);
    *reinterpret_cast<uint32_t*>(slab + pos1 * D + col) =
        Ops<T>::pack(acc[j][2] * s1, acc[j][3] * s1);
  }
}

__device__ __forceinline__ float QuadMax(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float QuadSum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// One online-softmax step for this lane's two rows: folds the step's row
// maxima mx (scaled scores, log2 units; per lane, reduced over the quad here)
// into the running max m, rescales the running sum l, and returns the shift
// mu for this step's exponentials (finite even while a row has no live key)
// and alpha, the factor for the previous output accumulator.
__device__ __forceinline__ void OnlineSoftmaxStep(const float (&mx)[2],
                                                  float (&m)[2], float (&l)[2],
                                                  float (&mu)[2],
                                                  float (&alpha)[2]) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float mn = fmaxf(m[r], QuadMax(mx[r]));
    mu[r] = mn == -INFINITY ? 0.f : mn;
    alpha[r] = FastExp2(m[r] - mu[r]);
    m[r] = mn;
    l[r] *= alpha[r];
  }
}

// The forward's results for this lane's two rows: 1 / l (0 for a row with no
// live key, whose out row is then 0) and the natural-log lse (-inf there).
// m is the running max in log2 units, l this lane's part of the row sums.
__device__ __forceinline__ void FinishRows(const float (&m)[2],
                                           const float (&l)[2],
                                           float (&inv_l)[2],
                                           float (&row_lse)[2]) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float lt = QuadSum(l[r]);
    inv_l[r] = lt > 0.f ? 1.f / lt : 0.f;
    row_lse[r] = lt > 0.f ? (m[r] + log2f(lt)) * kLn2 : -INFINITY;
  }
}

// Forward epilogue for this lane's two rows (permuted positions p0, p0 + 8;
// p0 < n): out = o / l, and the lse (FinishRows).
template <typename T, int D>
__device__ __forceinline__ void StoreForwardRows(T* out_slab, float* lse_slab,
                                                 int64_t p0, const int32_t* inv,
                                                 const float (&o)[D / 8][4],
                                                 const float (&m)[2],
                                                 const float (&l)[2], int t4) {
  float inv_l[2], row_lse[2];
  FinishRows(m, l, inv_l, row_lse);
  const int64_t pos0 = inv ? __ldg(inv + p0) : p0;
  const int64_t pos1 = inv ? __ldg(inv + p0 + 8) : p0 + 8;
  StoreAcc<T, D>(out_slab, pos0, pos1, o, inv_l[0], inv_l[1], t4);
  if (t4 == 0) {
    lse_slab[pos0] = row_lse[0];
    lse_slab[pos1] = row_lse[1];
  }
}

// The dq pass's per-row inputs for this lane's two rows (permuted positions
// p0, p0 + 8): original positions, lse in log2 units (+inf for a row with no
// live key, so every p is 0) and delta. Rows past n keep p = 0.
struct DqRows {
  bool valid = false;
  int64_t pos[2] = {0, 0};
  float lse2[2] = {INFINITY, INFINITY};
  float delta[2] = {0.f, 0.f};
};
__device__ __forceinline__ DqRows LoadDqRows(int64_t p0, int64_t n,
                                             const int32_t* inv,
                                             const float* lse_slab,
                                             const float* delta_slab) {
  DqRows rows;
  rows.valid = p0 < n;
  if (!rows.valid) return rows;
  rows.pos[0] = inv ? __ldg(inv + p0) : p0;
  rows.pos[1] = inv ? __ldg(inv + p0 + 8) : p0 + 8;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float x = lse_slab[rows.pos[r]];
    rows.lse2[r] = x == -INFINITY ? INFINITY : x * kLog2e;
    rows.delta[r] = delta_slab[rows.pos[r]];
  }
  return rows;
}

// A query-side work list: for tile t (G consecutive query blocks), entries
// [offsets[h*(num_tiles+1)+t], ...+1) of key blocks `cols`, with G mask codes
// per entry. G = 1: the layout's own row CSR.
struct RowTiles {
  const int64_t* offsets;
  const int32_t* cols;
  const int32_t* codes;
  int num_tiles;
  // The Hopper kernels' count of leading full steps per tile (LayoutView::
  // hopper_row_leading_full), or nullptr.
  const int32_t* leading_full = nullptr;
};

// ---- Grid order -------------------------------------------------------------
// Every pass's grid is 3-D over the pass's work items (query tiles, column
// tiles or key blocks, in the pass's own order: longest first where lengths
// differ), heads and batch, in one of two orders (LayoutView::
// interleave_heads): head after head, grid (items, heads, batch), or heads
// interleaved, grid (heads, items, batch). The hardware starts CTAs in index
// order, so interleaved, the first item of every head starts before any
// head's second. (Head after head, the last head's longest items started
// after every other head's items and ran on alone at the pass's end:
// KERNEL_NOTES.md, v41.) Either way the slot is read from blockIdx as it is
// (v41: computing it by integer divisions at the CTA's start cost the
// short-list patterns 2-5%).
struct GridSlot {
  int item;    // work item of the pass
  int h;       // head
  int64_t bh;  // batch * heads + head: the [B, H] slab index
};

// kPerItem: CTAs per item and head (a cluster's pieces, adjacent along x;
// piece = blockIdx.x % kPerItem in either order).
template <int kPerItem = 1>
__device__ __forceinline__ GridSlot SlotOf(bool interleave, int heads) {
  GridSlot s;
  s.item = static_cast<int>(interleave ? blockIdx.y : blockIdx.x / kPerItem);
  s.h = static_cast<int>(interleave ? blockIdx.x / kPerItem : blockIdx.y);
  s.bh = static_cast<int64_t>(blockIdx.z) * heads + s.h;
  return s;
}

// ---- Host-side launch helpers ---------------------------------------------

// The grid of `items` work items for every head and batch element, in the
// order SlotOf reads (interleaved: items <= 65535, which the launchers
// ensure).
inline dim3 GridFor(bool interleave, int items, int heads, int batch,
                    int per_item = 1) {
  return interleave ? dim3(heads * per_item, items, batch)
                    : dim3(items * per_item, heads, batch);
}

// Raises a kernel's dynamic shared-memory limit when it needs more than the
// default 48 KB.
template <typename K>
cudaError_t PrepareSmem(K kernel, int bytes) {
  if (bytes <= 48 * 1024) return cudaSuccess;
  return cudaFuncSetAttribute(
      kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

// Calls f(T(), std::integral_constant<int, BL>()) for the runtime element
// type and layout block (16, 32, 64 or 128); cudaErrorInvalidValue for
// another block.
template <typename F>
int ByTypeAndBlock(DType dtype, int block, F&& f) {
  auto by_block = [&](auto type_tag) -> int {
    switch (block) {
      case 16:
        return f(type_tag, std::integral_constant<int, 16>());
      case 32:
        return f(type_tag, std::integral_constant<int, 32>());
      case 64:
        return f(type_tag, std::integral_constant<int, 64>());
      case 128:
        return f(type_tag, std::integral_constant<int, 128>());
      default:
        return cudaErrorInvalidValue;
    }
  };
  return dtype == DType::kBF16 ? by_block(__nv_bfloat16()) : by_block(__half());
}

}  // namespace st::attention::cuda

#endif  // SPARSE_TRANSFORMER_ATTENTION_KERNEL_COMMON_CUDA_CUH_

// Fused block-sparse attention kernels (flash-attention style) over the raw
// arrays of an AttentionLayout. See KERNEL_NOTES.md beside this file for the
// FLOP/byte floors and the measured versions.
//
// Work decomposition (grid = (tiles, H, B); LayoutView::row_merge/col_split
// pick the variant per layout at upload):
//   forward  : CTA = G query blocks (G*block rows, 16 rows a warp). With
//              G = 128/block ("merged") it walks the union of the G blocks'
//              key lists, each warp computing only the entries its own block
//              uses (K/V tiles shared by 8 warps); with G = 1 it walks the
//              block's row CSR. Key sub-tiles of min(block, 64) keys,
//              double-buffered through cp.async; online softmax in registers;
//              writes out and the row log-sum-exp. The n x n scores never
//              exist.
//   backward : recomputation, no atomics, deterministic:
//              delta = rowsum(dout * out);
//              dk/dv pass: CTA = one key block over the column CSR; "split":
//              8 warps in 128/block groups, group s taking every s-th query
//              sub-tile, partial dk/dv summed in smem in group order;
//              dq pass: like the forward (same G), over the row lists,
//              concurrently with dk/dv (which runs on a high-priority side
//              stream, fork/join events; the Hopper dk/dv pass instead on
//              the caller's stream, dq as its programmatic dependent).
//              Two passes cost a second recomputation of QK^T and dO V^T but
//              avoid fp32 atomics on dq (contention on the fixed pattern's
//              summary columns, which every later row reads) and keep results
//              bit-reproducible.
// On a Hopper GPU with head dim 64 the forward, the dq pass and (for long
// column lists) the dk/dv pass run on the wgmma kernels of
// block_sparse_attention_sm90.cu instead.
// Tensor cores: mma.sync m16n8k16 (bf16/fp16 in, fp32 accumulate), operands
// from shared memory through ldmatrix (rows padded by 16 B). The per-head
// permutation (strided transpose) is fused: every row load/store goes through
// inverse_perm.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <type_traits>

#include "sparse_transformer/attention/attention_kernels_cuda.h"
#include "sparse_transformer/attention/kernel_common_cuda.cuh"
#include "sparse_transformer/attention/sm90_kernels_cuda.h"

namespace st::attention::cuda {
namespace {

// ---- Tile pieces -----------------------------------------------------------

// Copies ROWS rows of D elements, starting at permuted position `first`, from
// a [N, D] slab into smem rows of stride D + kPad (gathering through `inv`).
template <typename T, int ROWS, int D, int THREADS>
__device__ __forceinline__ void LoadRows(T* smem, const T* slab, int64_t first,
                                         const int32_t* inv, int tid) {
  constexpr int kChunks = D / 8;  // 16-byte chunks per row
#pragma unroll
  for (int i = tid; i < ROWS * kChunks; i += THREADS) {
    const int r = i / kChunks;
    const int c = i % kChunks;
    const int64_t p =
        inv ? static_cast<int64_t>(__ldg(inv + first + r)) : first + r;
    CpAsync16(smem + r * (D + kPad) + c * 8, slab + p * D + c * 8);
  }
}

// A-operand fragments of a 16 x D row slice at `rows` (smem, stride D + kPad).
template <int D>
__device__ __forceinline__ void LoadAFrags(uint32_t (&f)[D / 16][4],
                                           const void* rows_base, int lane) {
  using B16 = uint16_t;
  const B16* base = static_cast<const B16*>(rows_base);
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    Ldmatrix4(f[kk],
              base + (lane % 16) * (D + kPad) + kk * 16 + (lane / 16) * 8);
  }
}

// acc[NT/8][4] += A(16 x D, fragments) * B^T where B is NT rows of D in smem:
// the "scores" product (Q K^T, dO V^T, K Q^T, V dO^T).
template <typename T, int NT, int D>
__device__ __forceinline__ void MmaABt(float (&acc)[NT / 8][4],
                                       const uint32_t (&a)[D / 16][4],
                                       const T* b_rows, int lane) {
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
    for (int j = 0; j < NT / 16; ++j) {
      uint32_t r[4];
      Ldmatrix4(r, b_rows +
                       (j * 16 + (lane / 16) * 8 + (lane % 8)) * (D + kPad) +
                       kk * 16 + ((lane / 8) % 2) * 8);
      Ops<T>::mma(acc[2 * j], a[kk], r[0], r[1]);
      Ops<T>::mma(acc[2 * j + 1], a[kk], r[2], r[3]);
    }
  }
}

// As MmaABt, with A (16 rows of D at a_rows) also read from smem, one k-step
// at a time: 12 fewer live registers than holding all of A's fragments.
template <typename T, int NT, int D>
__device__ __forceinline__ void MmaABtSmem(float (&acc)[NT / 8][4],
                                           const T* a_rows, const T* b_rows,
                                           int lane) {
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    uint32_t a[4];
    Ldmatrix4(a, a_rows + (lane % 16) * (D + kPad) + kk * 16 + (lane / 16) * 8);
#pragma unroll
    for (int j = 0; j < NT / 16; ++j) {
      uint32_t r[4];
      Ldmatrix4(r, b_rows +
                       (j * 16 + (lane / 16) * 8 + (lane % 8)) * (D + kPad) +
                       kk * 16 + ((lane / 8) % 2) * 8);
      Ops<T>::mma(acc[2 * j], a, r[0], r[1]);
      Ops<T>::mma(acc[2 * j + 1], a, r[2], r[3]);
    }
  }
}

// acc[D/8][4] += P(16 x NT, accumulator layout, fp32) * B where B is NT rows
// of D in smem: the "value" product (P V, dS K, P^T dO, dS^T Q).
template <typename T, int NT, int D>
__device__ __forceinline__ void MmaPB(float (&acc)[D / 8][4],
                                      const float (&p)[NT / 8][4],
                                      const T* b_rows, int lane) {
#pragma unroll
  for (int kk = 0; kk < NT / 16; ++kk) {
    uint32_t a[4];
    a[0] = Ops<T>::pack(p[2 * kk][0], p[2 * kk][1]);
    a[1] = Ops<T>::pack(p[2 * kk][2], p[2 * kk][3]);
    a[2] = Ops<T>::pack(p[2 * kk + 1][0], p[2 * kk + 1][1]);
    a[3] = Ops<T>::pack(p[2 * kk + 1][2], p[2 * kk + 1][3]);
#pragma unroll
    for (int jd = 0; jd < D / 16; ++jd) {
      uint32_t r[4];
      Ldmatrix4Trans(
          r, b_rows +
                 (kk * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * (D + kPad) +
                 jd * 16 + (lane / 16) * 8);
      Ops<T>::mma(acc[2 * jd], a, r[0], r[1]);
      Ops<T>::mma(acc[2 * jd + 1], a, r[2], r[3]);
    }
  }
}

// Key sub-tile of the forward: a whole block up to 64 keys.
template <int BL>
constexpr int FwdKeyTile() {
  return BL < 64 ? BL : 64;
}
// Key (dq) or query (dk/dv) sub-tile of the backward: 32 keeps S, dP and the
// two accumulators inside the register budget.
template <int BL>
constexpr int BwdTile() {
  return BL < 32 ? BL : 32;
}
// CTAs per SM to ask the register allocator for: 128 registers a thread
// for K <= 64 (two 256-thread CTAs, or eight 64-thread ones), 255 for K = 128.
template <int D, int THREADS>
constexpr int MinBlocks() {
  return (D <= 64 ? 512 : 256) / THREADS > 0 ? (D <= 64 ? 512 : 256) / THREADS
                                             : 1;
}

// The tile's rows in the [N, D] slab (zero-filled past n).
template <typename T, int D, int ROWS, int THREADS>
__device__ __forceinline__ void LoadTileRows(T* smem, const T* slab,
                                             int64_t first, int64_t n,
                                             const int32_t* inv, int tid) {
  constexpr int kChunks = D / 8;
#pragma unroll
  for (int i = tid; i < ROWS * kChunks; i += THREADS) {
    const int r = i / kChunks;
    const int c = i % kChunks;
    T* dst = smem + r * (D + kPad) + c * 8;
    if (first + r < n) {
      const int64_t p =
          inv ? static_cast<int64_t>(__ldg(inv + first + r)) : first + r;
      CpAsync16(dst, slab + p * D + c * 8);
    } else {
      *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
    }
  }
}

// ---- Forward ---------------------------------------------------------------

template <typename T, int BL, int D, int G>
constexpr int FwdSmemBytes() {
  return (G * BL + 4 * FwdKeyTile<BL>()) * (D + kPad) *
         static_cast<int>(sizeof(T));
}

// q, k, v, out: [B, H, N, D]; lse: [B, H, N]. CTA = one query tile of 128
// rows (G = 128/BL blocks); walks the union of the tile's key blocks, each warp
// computing only the entries its own query block uses.
template <typename T, int BL, int D, int G>
__global__ void __launch_bounds__(G* BL * 2, (MinBlocks<D, G * BL * 2>()))
    ForwardKernel(LayoutView L, RowTiles tiles, int heads, float scale_log2,
                  const T* __restrict__ q, const T* __restrict__ k,
                  const T* __restrict__ v, T* __restrict__ out,
                  float* __restrict__ lse) {
  constexpr int QT = G * BL;  // query rows of the CTA
  constexpr int kThreads = QT * 2;
  constexpr int BK = FwdKeyTile<BL>();
  constexpr int kSub = BL / BK;
  constexpr int LD = D + kPad;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* qs = reinterpret_cast<T*>(smem_raw);  // [128][LD]
  T* ks = qs + QT * LD;                    // [2][BK][LD]
  T* vs = ks + 2 * BK * LD;                // [2][BK][LD]

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4,
            t4 = lane % 4;
  const GridSlot gs = SlotOf(L.interleave_heads, heads);
  const int tile = tiles.num_tiles - 1 - gs.item;  // heavy (late) rows first
  const int h = gs.h;
  const int lh = h % L.layout_heads;
  const int64_t n = L.n;
  const int64_t slab = gs.bh * n;
  const T* kg = k + slab * D;
  const T* vg = v + slab * D;
  const int32_t* inv = L.inverse_perm ? L.inverse_perm + lh * n : nullptr;
  const int64_t* ro =
      tiles.offsets + static_cast<int64_t>(lh) * (tiles.num_tiles + 1);
  const int64_t e0 = ro[tile];
  const int ntiles = static_cast<int>(ro[tile + 1] - e0) * kSub;
  const int gw = (warp * 16) / BL;  // this warp's block in the tile
  const int r0 =
      (warp * 16) % BL + g;  // this lane's rows in that block: r0, r0 + 8
  const int64_t first_row = static_cast<int64_t>(tile) * QT;

  auto load_kv = [&](int it) {
    const int64_t e = e0 + it / kSub;
    const int64_t first =
        static_cast<int64_t>(__ldg(tiles.cols + e)) * BL + (it % kSub) * BK;
    const int buf = it & 1;
    LoadRows<T, BK, D, kThreads>(ks + buf * BK * LD, kg, first, inv, tid);
    LoadRows<T, BK, D, kThreads>(vs + buf * BK * LD, vg, first, inv, tid);
  };

  LoadTileRows<T, D, QT, kThreads>(qs, q + slab * D, first_row, n, inv, tid);
  if (ntiles > 0) load_kv(0);
  CpAsyncCommit();

  float o[D / 8][4] = {};
  float m[2] = {-INFINITY, -INFINITY};
  float l[2] = {0.f, 0.f};
  uint32_t qf[D / 16][4];

  int next_code = ntiles > 0 ? __ldg(tiles.codes + e0 * G + gw) : kAbsent;
  for (int it = 0; it < ntiles; ++it) {
    if (it + 1 < ntiles) load_kv(it + 1);
    CpAsyncCommit();
    CpAsyncWait<1>();
    __syncthreads();
    if (it == 0) LoadAFrags<D>(qf, qs + warp * 16 * LD, lane);
    const int code = next_code;  // read a step ahead
    next_code = it + 1 < ntiles
                    ? __ldg(tiles.codes + (e0 + (it + 1) / kSub) * G + gw)
                    : kAbsent;
    if (code != kAbsent) {  // warp-uniform
      const T* kb = ks + (it & 1) * BK * LD;
      const T* vb = vs + (it & 1) * BK * LD;
      const int c_base = (it % kSub) * BK;
      float s[BK / 8][4] = {};
      MmaABt<T, BK, D>(s, qf, kb, lane);

      float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
      for (int j = 0; j < BK / 8; ++j) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          float x = s[j][i] * scale_log2;
          if (code != -1 &&
              !Live(code, r0 + (i >> 1) * 8, c_base + j * 8 + 2 * t4 + (i & 1),
                    BL, L.mask_words, L.words_per_mask)) {
            x = -INFINITY;
          }
          s[j][i] = x;
          mx[i >> 1] = fmaxf(mx[i >> 1], x);
        }
      }
      float alpha[2], mu[2];
      OnlineSoftmaxStep(mx, m, l, mu, alpha);
#pragma unroll
      for (int j = 0; j < BK / 8; ++j) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const float p = FastExp2(s[j][i] - mu[i >> 1]);
          s[j][i] = p;
          l[i >> 1] += p;
        }
      }
#pragma unroll
      for (int j = 0; j < D / 8; ++j) {
        o[j][0] *= alpha[0];
        o[j][1] *= alpha[0];
        o[j][2] *= alpha[1];
        o[j][3] *= alpha[1];
      }
      MmaPB<T, BK, D>(o, s, vb, lane);
    }
    __syncthreads();  // the next iteration's prefetch overwrites this buffer
  }
  CpAsyncWait<0>();

  const int64_t p0 = first_row + warp * 16 + g;
  if (p0 >= n) return;  // a partial last tile: this warp has no rows
  StoreForwardRows<T, D>(out + slab * D, lse + slab, p0, inv, o, m, l, t4);
}

// ---- Backward: delta = rowsum(dout * out) ----------------------------------

// dout, out: [rows, D]; delta: [rows]. D/8 lanes per row, 16-byte loads.
template <typename T, int D>
__global__ void DeltaKernel(int64_t rows, const T* __restrict__ out,
                            const T* __restrict__ dout,
                            float* __restrict__ delta) {
#if __CUDA_ARCH__ >= 900
  // Launched after the Hopper forward with programmatic dependent launch:
  // the CTAs may start before the kernel before this one (the forward, or
  // whatever wrote dout) has ended; wait for its writes. (A no-op in an
  // ordinary launch.)
  asm volatile("griddepcontrol.wait;" ::: "memory");
  // The Hopper dk/dv pass, launched after this kernel with programmatic
  // dependent launch, may start its CTAs once every CTA here has started; it
  // waits for this grid's writes before it reads delta.
  asm volatile("griddepcontrol.launch_dependents;");
#endif
  constexpr int kLanes = D / 8;
  const int64_t gid =
      static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t row = gid / kLanes;
  const int c = static_cast<int>(gid % kLanes);
  float acc = 0.f;
  if (row < rows) {
    const uint4 a = *reinterpret_cast<const uint4*>(out + row * D + c * 8);
    const uint4 b = *reinterpret_cast<const uint4*>(dout + row * D + c * 8);
    const uint32_t av[4] = {a.x, a.y, a.z, a.w};
    const uint32_t bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 x = Ops<T>::unpack(av[i]);
      const float2 y = Ops<T>::unpack(bv[i]);
      acc += x.x * y.x + x.y * y.y;
    }
  }
#pragma unroll
  for (int off = kLanes / 2; off > 0; off /= 2)
    acc += __shfl_xor_sync(0xffffffffu, acc, off);
  if (row < rows && c == 0) delta[row] = acc;
}

// out[i] = T(scale * acc[i]) for 8 groups elements; 8 a thread (two 16-byte
// loads, one 16-byte store).
template <typename T>
__global__ void ScaleToTKernel(int64_t groups, const float* __restrict__ acc,
                               float scale, T* __restrict__ out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= groups) return;
  const float4 a = reinterpret_cast<const float4*>(acc)[2 * i];
  const float4 b = reinterpret_cast<const float4*>(acc)[2 * i + 1];
  uint4 r;
  r.x = Ops<T>::pack(a.x * scale, a.y * scale);
  r.y = Ops<T>::pack(a.z * scale, a.w * scale);
  r.z = Ops<T>::pack(b.x * scale, b.y * scale);
  r.w = Ops<T>::pack(b.z * scale, b.w * scale);
  reinterpret_cast<uint4*>(out)[i] = r;
}

// ---- Backward: dq pass (CTA per query tile, row tile lists) ----------------

template <typename T, int BL, int D, int G>
constexpr int DqSmemBytes() {
  return (2 * G * BL + 4 * BwdTile<BL>()) * (D + kPad) *
         static_cast<int>(sizeof(T));
}

// dq = scale * sum_j dS_ij k_j, dS = P * (dP - delta), dP = dout V^T.
template <typename T, int BL, int D, int G>
__global__ void __launch_bounds__(G* BL * 2, (MinBlocks<D, G * BL * 2>()))
    BackwardDqKernel(LayoutView L, RowTiles tiles, int heads, float scale_log2,
                     float scale, const T* __restrict__ q,
                     const T* __restrict__ k, const T* __restrict__ v,
                     const T* __restrict__ dout, const float* __restrict__ lse,
                     const float* __restrict__ delta, T* __restrict__ dq) {
  constexpr int QT = G * BL;
  constexpr int kThreads = QT * 2;
  constexpr int BK = BwdTile<BL>();
  constexpr int kSub = BL / BK;
  constexpr int LD = D + kPad;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* qs = reinterpret_cast<T*>(smem_raw);  // [128][LD]
  T* dos = qs + QT * LD;                   // [QT][LD]
  T* ks = dos + QT * LD;                   // [2][BK][LD]
  T* vs = ks + 2 * BK * LD;                // [2][BK][LD]

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4,
            t4 = lane % 4;
  const GridSlot gs = SlotOf(L.interleave_heads, heads);
  const int tile = tiles.num_tiles - 1 - gs.item;
  const int h = gs.h;
  const int lh = h % L.layout_heads;
  const int64_t n = L.n;
  const int64_t slab = gs.bh * n;
  const T* kg = k + slab * D;
  const T* vg = v + slab * D;
  const int32_t* inv = L.inverse_perm ? L.inverse_perm + lh * n : nullptr;
  const int64_t* ro =
      tiles.offsets + static_cast<int64_t>(lh) * (tiles.num_tiles + 1);
  const int64_t e0 = ro[tile];
  const int ntiles = static_cast<int>(ro[tile + 1] - e0) * kSub;
  const int gw = (warp * 16) / BL;
  const int r0 = (warp * 16) % BL + g;
  const int64_t first_row = static_cast<int64_t>(tile) * QT;

  auto load_kv = [&](int it) {
    const int64_t e = e0 + it / kSub;
    const int64_t first =
        static_cast<int64_t>(__ldg(tiles.cols + e)) * BL + (it % kSub) * BK;
    const int buf = it & 1;
    LoadRows<T, BK, D, kThreads>(ks + buf * BK * LD, kg, first, inv, tid);
    LoadRows<T, BK, D, kThreads>(vs + buf * BK * LD, vg, first, inv, tid);
  };

  LoadTileRows<T, D, QT, kThreads>(qs, q + slab * D, first_row, n, inv, tid);
  LoadTileRows<T, D, QT, kThreads>(dos, dout + slab * D, first_row, n, inv,
                                   tid);
  if (ntiles > 0) load_kv(0);
  CpAsyncCommit();

  const int64_t p0 = first_row + warp * 16 + g;
  const DqRows rows = LoadDqRows(p0, n, inv, lse + slab, delta + slab);

  float acc[D / 8][4] = {};
  uint32_t qf[D / 16][4], df[D / 16][4];
  int next_code = ntiles > 0 ? __ldg(tiles.codes + e0 * G + gw) : kAbsent;
  for (int it = 0; it < ntiles; ++it) {
    if (it + 1 < ntiles) load_kv(it + 1);
    CpAsyncCommit();
    CpAsyncWait<1>();
    __syncthreads();
    if (it == 0) {
      LoadAFrags<D>(qf, qs + warp * 16 * LD, lane);
      LoadAFrags<D>(df, dos + warp * 16 * LD, lane);
    }
    const int code = next_code;  // read a step ahead
    next_code = it + 1 < ntiles
                    ? __ldg(tiles.codes + (e0 + (it + 1) / kSub) * G + gw)
                    : kAbsent;
    if (code != kAbsent) {
      const T* kb = ks + (it & 1) * BK * LD;
      const T* vb = vs + (it & 1) * BK * LD;
      const int c_base = (it % kSub) * BK;
      float s[BK / 8][4] = {};
      MmaABt<T, BK, D>(s, qf, kb, lane);
      float dp[BK / 8][4] = {};
      MmaABt<T, BK, D>(dp, df, vb, lane);
#pragma unroll
      for (int j = 0; j < BK / 8; ++j) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const bool live =
              code == -1 ||
              Live(code, r0 + (i >> 1) * 8, c_base + j * 8 + 2 * t4 + (i & 1),
                   BL, L.mask_words, L.words_per_mask);
          const float p =
              live ? FastExp2(s[j][i] * scale_log2 - rows.lse2[i >> 1]) : 0.f;
          s[j][i] = p * (dp[j][i] - rows.delta[i >> 1]);  // dS
        }
      }
      MmaPB<T, BK, D>(acc, s, kb, lane);
    }
    __syncthreads();
  }
  CpAsyncWait<0>();
  if (rows.valid)
    StoreAcc<T, D>(dq + slab * D, rows.pos[0], rows.pos[1], acc, scale, scale,
                   t4);
}

// ---- Backward: dk/dv pass (CTA per key block, column CSR split) ------------

// Per-group named barrier (ids 1..8; 0 is __syncthreads).
__device__ __forceinline__ void GroupSync(int group, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(group + 1), "r"(threads) : "memory");
}

template <typename T, int BL, int D, int S>
constexpr int DkvSmemBytes() {
  constexpr int BQ = BwdTile<BL>();
  constexpr int kKV = 2 * BL * (D + kPad) * static_cast<int>(sizeof(T));
  constexpr int kQ = S * 4 * BQ * (D + kPad) * static_cast<int>(sizeof(T)) +
                     S * 4 * BQ * static_cast<int>(sizeof(float));
  constexpr int kReduce = S > 1 ? BL * D * static_cast<int>(sizeof(float)) : 0;
  return kKV + (kQ > kReduce ? kQ : kReduce);
}

// dv = sum_i P_ij dout_i; dk = scale * sum_i dS_ij q_i. CTA = one key block
// of BL keys and 8 warps: S = 128/BL groups of BL/16 warps (16 keys a warp);
// group s takes every S-th query sub-tile of the block's column list, so the
// long lists of the fixed pattern's summary blocks are shared by all warps.
// The groups' partial dk/dv are summed in smem in group order (deterministic).
// Small (one block of <= 32 keys) CTAs get a third more registers: the dk
// and dv accumulators both live through the loop, and at 128 registers the
// 32-block variant spilled 168 bytes.
template <int D, int THREADS>
constexpr int DkvMinBlocks() {
  return THREADS >= 256 ? MinBlocks<D, THREADS>()
                        : MinBlocks<D, THREADS * 4 / 3>();
}

template <typename T, int BL, int D, int S>
__global__ void __launch_bounds__(S* BL * 2, (DkvMinBlocks<D, S * BL * 2>()))
    BackwardDkvKernel(LayoutView L, int heads, float scale_log2, float scale,
                      const T* __restrict__ q, const T* __restrict__ k,
                      const T* __restrict__ v, const T* __restrict__ dout,
                      const float* __restrict__ lse,
                      const float* __restrict__ delta, T* __restrict__ dk,
                      T* __restrict__ dv) {
  constexpr int kGroupThreads = BL * 2;
  constexpr int kThreads = S * kGroupThreads;
  constexpr int BQ = BwdTile<BL>();
  constexpr int kSub = BL / BQ;
  constexpr int LD = D + kPad;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* ks = reinterpret_cast<T*>(smem_raw);  // [BL][LD]
  T* vs = ks + BL * LD;                    // [BL][LD]
  T* qs = vs + BL * LD;                    // [S][2][BQ][LD]
  T* dos = qs + S * 2 * BQ * LD;           // [S][2][BQ][LD]
  float* lse_s = reinterpret_cast<float*>(dos + S * 2 * BQ * LD);  // [S][2][BQ]
  float* dlt_s = lse_s + S * 2 * BQ;                               // [S][2][BQ]
  float* red = reinterpret_cast<float*>(
      qs);  // [BL][D] reduction buffer, reuses qs after the loop

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4,
            t4 = lane % 4;
  const int grp = warp / (BL / 16);
  const int gtid = tid % kGroupThreads;
  const GridSlot gs = SlotOf(L.interleave_heads, heads);
  const int kb = gs.item;  // early key blocks have the most queries
  const int h = gs.h;
  const int lh = h % L.layout_heads;
  const int64_t n = L.n;
  const int64_t slab = gs.bh * n;
  const T* qg = q + slab * D;
  const T* dog = dout + slab * D;
  const int32_t* inv = L.inverse_perm ? L.inverse_perm + lh * n : nullptr;
  const int64_t* co =
      L.col_offsets + static_cast<int64_t>(lh) * (L.num_blocks + 1);
  const int64_t c0 = co[kb];
  const int total =
      static_cast<int>(co[kb + 1] - c0) * kSub;  // query sub-tiles
  const int steps = (total + S - 1) / S;         // per group (uniform)
  const int kw = (warp % (BL / 16)) * 16;        // this warp's first key
  const int kr0 = kw + g;                        // lane keys kr0, kr0 + 8
  T* qs_g = qs + grp * 2 * BQ * LD;
  T* dos_g = dos + grp * 2 * BQ * LD;
  float* lse_g = lse_s + grp * 2 * BQ;
  float* dlt_g = dlt_s + grp * 2 * BQ;

  auto load_q = [&](int it) {  // this group's it-th sub-tile, if any
    const int idx = it * S + grp;
    if (idx >= total) return;
    const int64_t c = c0 + idx / kSub;
    const int64_t first =
        static_cast<int64_t>(__ldg(L.col_rows + c)) * BL + (idx % kSub) * BQ;
    const int buf = it & 1;
    LoadRows<T, BQ, D, kGroupThreads>(qs_g + buf * BQ * LD, qg, first, inv,
                                      gtid);
    LoadRows<T, BQ, D, kGroupThreads>(dos_g + buf * BQ * LD, dog, first, inv,
                                      gtid);
    // Asynchronous too: a plain load here would stall the group on global
    // latency every step (the value is stored to smem at once).
    for (int r = gtid; r < BQ; r += kGroupThreads) {
      const int64_t p = inv ? __ldg(inv + first + r) : first + r;
      CpAsync4(lse_g + buf * BQ + r, lse + slab + p);
      CpAsync4(dlt_g + buf * BQ + r, delta + slab + p);
    }
  };

  LoadRows<T, BL, D, kThreads>(ks, k + slab * D, static_cast<int64_t>(kb) * BL,
                               inv, tid);
  LoadRows<T, BL, D, kThreads>(vs, v + slab * D, static_cast<int64_t>(kb) * BL,
                               inv, tid);
  CpAsyncCommit();
  load_q(0);
  CpAsyncCommit();
  CpAsyncWait<1>();
  __syncthreads();  // K and V (loaded by all threads) are in

  float dka[D / 8][4] = {};
  float dva[D / 8][4] = {};

  // The mask code of this group's next sub-tile, read a step ahead (two
  // dependent loads that would otherwise stall every step).
  auto code_of = [&](int it) {
    const int idx = it * S + grp;
    return idx < total
               ? __ldg(L.row_masks + __ldg(L.col_entries + c0 + idx / kSub))
               : kAbsent;
  };
  int next_code = code_of(0);
  for (int it = 0; it < steps; ++it) {
    load_q(it + 1);
    CpAsyncCommit();
    const int code = next_code;
    next_code = code_of(it + 1);
    CpAsyncWait<1>();
    GroupSync(grp, kGroupThreads);
    const int idx = it * S + grp;
    if (idx < total) {
      const int buf = it & 1;
      const T* qb_s = qs_g + buf * BQ * LD;
      const T* dob_s = dos_g + buf * BQ * LD;
      const float* lsb = lse_g + buf * BQ;
      const float* dlb = dlt_g + buf * BQ;
      const int r_base =
          (idx % kSub) * BQ;  // query row offset inside the query block
      // Live queries of this lane's two keys (bit qc), without a branch per
      // element.
      const uint64_t live[2] = {KeyBits<BQ>(code, kr0, r_base, t4, BL,
                                            L.mask_words, L.words_per_mask),
                                KeyBits<BQ>(code, kr0 + 8, r_base, t4, BL,
                                            L.mask_words, L.words_per_mask)};
      float st[BQ / 8][4] = {};  // S^T: keys x queries
      float dpt[BQ / 8][4] = {};
      MmaABtSmem<T, BQ, D>(st, ks + kw * LD, qb_s, lane);
      MmaABtSmem<T, BQ, D>(dpt, vs + kw * LD, dob_s, lane);
#pragma unroll
      for (int j = 0; j < BQ / 8; ++j) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const int qc = j * 8 + 2 * t4 + (i & 1);
          // lse: natural log; -inf (a row with no live key) gives p = 0.
          const float lv = lsb[qc];
          const float lv2 = lv == -INFINITY ? INFINITY : lv * kLog2e;
          const float p = (live[i >> 1] >> qc) & 1
                              ? FastExp2(st[j][i] * scale_log2 - lv2)
                              : 0.f;
          st[j][i] = p;
          dpt[j][i] = p * (dpt[j][i] - dlb[qc]);  // dS^T
        }
      }
      MmaPB<T, BQ, D>(dva, st, dob_s, lane);
      MmaPB<T, BQ, D>(dka, dpt, qb_s, lane);
    }
    GroupSync(grp, kGroupThreads);  // the next prefetch overwrites this buffer
  }
  CpAsyncWait<0>();
  const int64_t p0 = static_cast<int64_t>(kb) * BL + kr0;
  const int64_t pos0 = inv ? __ldg(inv + p0) : p0;
  const int64_t pos1 = inv ? __ldg(inv + p0 + 8) : p0 + 8;
  if constexpr (S == 1) {
    StoreAcc<T, D>(dk + slab * D, pos0, pos1, dka, scale, scale, t4);
    StoreAcc<T, D>(dv + slab * D, pos0, pos1, dva, 1.f, 1.f, t4);
  } else {
    // Sum the groups' partials in group order, then group 0 stores.
    auto reduce = [&](float(&acc)[D / 8][4]) {
      __syncthreads();
      for (int s = 0; s < S; ++s) {
        if (grp == s) {
#pragma unroll
          for (int j = 0; j < D / 8; ++j) {
            float* r0p = red + kr0 * D + j * 8 + 2 * t4;
            float* r1p = r0p + 8 * D;
            if (s == 0) {
              r0p[0] = acc[j][0];
              r0p[1] = acc[j][1];
              r1p[0] = acc[j][2];
              r1p[1] = acc[j][3];
            } else {
              r0p[0] += acc[j][0];
              r0p[1] += acc[j][1];
              r1p[0] += acc[j][2];
              r1p[1] += acc[j][3];
            }
          }
        }
        __syncthreads();
      }
      if (grp == 0) {
#pragma unroll
        for (int j = 0; j < D / 8; ++j) {
          const float* r0p = red + kr0 * D + j * 8 + 2 * t4;
          acc[j][0] = r0p[0];
          acc[j][1] = r0p[1];
          acc[j][2] = r0p[8 * D];
          acc[j][3] = r0p[8 * D + 1];
        }
      }
    };
    reduce(dka);
    reduce(dva);
    if (grp == 0) {
      StoreAcc<T, D>(dk + slab * D, pos0, pos1, dka, scale, scale, t4);
      StoreAcc<T, D>(dv + slab * D, pos0, pos1, dva, 1.f, 1.f, t4);
    }
  }
}

// ---- Dispatch --------------------------------------------------------------

// The query-side list for G blocks per CTA (G = 1: the layout's row CSR).
template <int G>
RowTiles MakeRowTiles(const LayoutView& L) {
  if constexpr (G == 1) {
    return RowTiles{L.row_offsets, L.row_cols, L.row_masks, L.num_blocks};
  } else {
    return RowTiles{L.tile_row_offsets, L.tile_row_cols, L.tile_row_codes,
                    L.num_tiles};
  }
}

template <typename T, int BL, int D, int G>
int ForwardG(const LayoutView& L, const Problem& p, const void* q,
             const void* k, const void* v, void* out, float* lse,
             cudaStream_t stream) {
  constexpr int kSmem = FwdSmemBytes<T, BL, D, G>();
  static const cudaError_t prepared =
      PrepareSmem(ForwardKernel<T, BL, D, G>, kSmem);
  if (prepared != cudaSuccess) return prepared;
  const RowTiles tiles = MakeRowTiles<G>(L);
  const dim3 grid =
      GridFor(L.interleave_heads, tiles.num_tiles, p.heads, p.batch);
  ForwardKernel<T, BL, D, G><<<grid, G * BL * 2, kSmem, stream>>>(
      L, tiles, p.heads, p.scale * kLog2e, static_cast<const T*>(q),
      static_cast<const T*>(k), static_cast<const T*>(v), static_cast<T*>(out),
      lse);
  return cudaGetLastError();
}

template <typename T, int BL, int D, int G>
int DqG(const LayoutView& L, const Problem& p, const void* q, const void* k,
        const void* v, const float* lse, const void* dout, const float* delta,
        void* dq, cudaStream_t stream) {
  constexpr int kSmem = DqSmemBytes<T, BL, D, G>();
  static const cudaError_t prepared =
      PrepareSmem(BackwardDqKernel<T, BL, D, G>, kSmem);
  if (prepared != cudaSuccess) return prepared;
  const RowTiles tiles = MakeRowTiles<G>(L);
  const dim3 grid =
      GridFor(L.interleave_heads, tiles.num_tiles, p.heads, p.batch);
  BackwardDqKernel<T, BL, D, G><<<grid, G * BL * 2, kSmem, stream>>>(
      L, tiles, p.heads, p.scale * kLog2e, p.scale, static_cast<const T*>(q),
      static_cast<const T*>(k), static_cast<const T*>(v),
      static_cast<const T*>(dout), lse, delta, static_cast<T*>(dq));
  return cudaGetLastError();
}

template <typename T, int BL, int D, int S>
int DkvS(const LayoutView& L, const Problem& p, const void* q, const void* k,
         const void* v, const float* lse, const void* dout, const float* delta,
         void* dk, void* dv, cudaStream_t stream) {
  constexpr int kSmem = DkvSmemBytes<T, BL, D, S>();
  static const cudaError_t prepared =
      PrepareSmem(BackwardDkvKernel<T, BL, D, S>, kSmem);
  if (prepared != cudaSuccess) return prepared;
  const dim3 grid = GridFor(L.interleave_heads, L.num_blocks, p.heads, p.batch);
  BackwardDkvKernel<T, BL, D, S><<<grid, S * BL * 2, kSmem, stream>>>(
      L, p.heads, p.scale * kLog2e, p.scale, static_cast<const T*>(q),
      static_cast<const T*>(k), static_cast<const T*>(v),
      static_cast<const T*>(dout), lse, delta, static_cast<T*>(dk),
      static_cast<T*>(dv));
  return cudaGetLastError();
}

// Two non-blocking side streams (the dk/dv pass; the Hopper dk/dv pass's
// split tiles) and their fork/join events per device, created on first use
// and kept for the process.
struct SideStream {
  cudaStream_t stream = nullptr, split = nullptr;
  cudaEvent_t fork = nullptr, join = nullptr, split_join = nullptr,
              delta = nullptr;
};

cudaError_t GetSideStream(SideStream* out) {
  static std::mutex mu;
  static std::map<int, SideStream> per_device;
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  std::lock_guard<std::mutex> lock(mu);
  auto it = per_device.find(device);
  if (it == per_device.end()) {
    SideStream s;
    int least = 0, greatest = 0;
    if ((err = cudaDeviceGetStreamPriorityRange(&least, &greatest)) !=
            cudaSuccess ||
        (err = cudaStreamCreateWithPriority(&s.stream, cudaStreamNonBlocking,
                                            greatest)) != cudaSuccess ||
        (err = cudaStreamCreateWithPriority(&s.split, cudaStreamNonBlocking,
                                            greatest)) != cudaSuccess ||
        (err = cudaEventCreateWithFlags(&s.fork, cudaEventDisableTiming)) !=
            cudaSuccess ||
        (err = cudaEventCreateWithFlags(&s.join, cudaEventDisableTiming)) !=
            cudaSuccess ||
        (err = cudaEventCreateWithFlags(
             &s.split_join, cudaEventDisableTiming)) != cudaSuccess ||
        (err = cudaEventCreateWithFlags(&s.delta, cudaEventDisableTiming)) !=
            cudaSuccess) {
      return err;
    }
    it = per_device.emplace(device, s).first;
  }
  *out = it->second;
  return cudaSuccess;
}

template <typename T, int BL, int D>
int Forward(const LayoutView& L, const Problem& p, const void* q, const void* k,
            const void* v, void* out, float* lse, cudaStream_t stream) {
  if (D == sm90::kHeadDim && L.hopper_rows)
    return sm90::Forward(L, p, q, k, v, out, lse, stream);
  constexpr int G = kTileRows / BL;
  if (G > 1 && L.row_merge)
    return ForwardG<T, BL, D, G>(L, p, q, k, v, out, lse, stream);
  return ForwardG<T, BL, D, 1>(L, p, q, k, v, out, lse, stream);
}

template <typename T, int BL, int D>
int Backward(const LayoutView& L, const Problem& p, const void* q,
             const void* k, const void* v, const void* out, const float* lse,
             const void* dout, void* dq, void* dk, void* dv, float* delta,
             cudaStream_t stream) {
  const int64_t rows = static_cast<int64_t>(p.batch) * p.heads * L.n;
  const int64_t threads = rows * (D / 8);
  // programmatic: as the previous kernel's programmatic dependent (its CTAs
  // wait for that kernel's writes).
  auto launch_delta = [&](cudaStream_t s, bool programmatic = false) {
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(static_cast<unsigned>((threads + 255) / 256));
    config.blockDim = dim3(256);
    config.stream = s;
    cudaLaunchAttribute pdl = ProgrammaticLaunch();
    config.attrs = &pdl;
    config.numAttrs = programmatic ? 1 : 0;
    return cudaLaunchKernelEx(&config, DeltaKernel<T, D>, rows,
                              static_cast<const T*>(out),
                              static_cast<const T*>(dout), delta);
  };
  cudaError_t err;
  if (D == sm90::kHeadDim && L.hopper_cols && L.hopper_fused_dq) {
    if ((err = launch_delta(stream)) != cudaSuccess) return err;
    // One pass: dk/dv and dq += dS K into an fp32 workspace (atomics), then
    // dq = scale * workspace. The workspace comes from the stream-ordered
    // allocator's pool, so repeated calls do not reach cudaMalloc.
    const size_t acc_bytes = static_cast<size_t>(rows) * D * sizeof(float);
    float* acc = nullptr;
    if ((err = cudaMallocAsync(reinterpret_cast<void**>(&acc), acc_bytes,
                               stream)) != cudaSuccess)
      return err;
    if ((err = cudaMemsetAsync(acc, 0, acc_bytes, stream)) == cudaSuccess) {
      err = static_cast<cudaError_t>(sm90::BackwardDkv(
          L, p, q, k, v, lse, dout, delta, dk, dv, acc, stream, stream));
    }
    if (err == cudaSuccess) {
      const int64_t groups = rows * D / 8;
      ScaleToTKernel<T>
          <<<static_cast<unsigned>((groups + 255) / 256), 256, 0, stream>>>(
              groups, acc, p.scale, static_cast<T*>(dq));
      err = cudaGetLastError();
    }
    const cudaError_t freed = cudaFreeAsync(acc, stream);
    return err != cudaSuccess ? err : freed;
  }
  // dq and dk/dv are independent once delta exists, and run together (the
  // small patterns' kernels are latency-bound and leave most of the GPU idle
  // one at a time). dk/dv, the longer pass, takes the SMs first and dq's
  // CTAs fill its tail.
  SideStream side;
  err = GetSideStream(&side);
  if (err != cudaSuccess) return err;
  if (D == sm90::kHeadDim && L.hopper_cols) {
    // On the caller's stream: delta, the Hopper dk/dv kernel as delta's
    // programmatic dependent (its CTAs start as delta's run and wait for
    // its writes), and the dq pass as dk/dv's, which starts once every
    // dk/dv CTA has started (so after them) and delta is complete. (Forked
    // to a side stream after an event, dk/dv started ~8 us after the
    // forward's end; KERNEL_NOTES.md, v79.) The split tiles (the longest)
    // run beside them on a side stream after an event on delta.
    if ((err = launch_delta(stream, /*programmatic=*/true)) != cudaSuccess)
      return err;
    const bool split = L.dkv_split_tiles > 0;
    if (split &&
        ((err = cudaEventRecord(side.delta, stream)) != cudaSuccess ||
         (err = cudaStreamWaitEvent(side.split, side.delta, 0)) != cudaSuccess))
      return err;
    int e = sm90::BackwardDkv(L, p, q, k, v, lse, dout, delta, dk, dv, nullptr,
                              stream, side.split);
    if (e != cudaSuccess) return e;
    e = sm90::BackwardDq(L, p, q, k, v, lse, dout, delta, dq, dk, dv, stream,
                         /*after_dkv=*/sm90::DkvMainLaunched(L));
    if (e != cudaSuccess) return e;
    if (split &&
        ((err = cudaEventRecord(side.split_join, side.split)) != cudaSuccess ||
         (err = cudaStreamWaitEvent(stream, side.split_join, 0)) !=
             cudaSuccess))
      return err;
    return cudaSuccess;
  }
  // Else delta and then dk/dv on a high-priority side stream, dq on the
  // caller's stream after an event on delta.
  if ((err = cudaEventRecord(side.fork, stream)) != cudaSuccess) return err;
  if ((err = cudaStreamWaitEvent(side.stream, side.fork, 0)) != cudaSuccess)
    return err;
  if ((err = launch_delta(side.stream)) != cudaSuccess ||
      (err = cudaEventRecord(side.delta, side.stream)) != cudaSuccess ||
      (err = cudaStreamWaitEvent(stream, side.delta, 0)) != cudaSuccess)
    return err;
  constexpr int G = kTileRows / BL;
  int e = (G > 1 && L.col_split)
              ? DkvS<T, BL, D, G>(L, p, q, k, v, lse, dout, delta, dk, dv,
                                  side.stream)
              : DkvS<T, BL, D, 1>(L, p, q, k, v, lse, dout, delta, dk, dv,
                                  side.stream);
  if (e != cudaSuccess) return e;
  if (D == sm90::kHeadDim && L.hopper_dq) {
    e = sm90::BackwardDq(L, p, q, k, v, lse, dout, delta, dq, dk, dv, stream,
                         /*after_dkv=*/false);
  } else {
    e = (G > 1 && L.row_merge)
            ? DqG<T, BL, D, G>(L, p, q, k, v, lse, dout, delta, dq, stream)
            : DqG<T, BL, D, 1>(L, p, q, k, v, lse, dout, delta, dq, stream);
  }
  if (e != cudaSuccess) return e;
  if ((err = cudaEventRecord(side.join, side.stream)) != cudaSuccess)
    return err;
  return cudaStreamWaitEvent(stream, side.join, 0);
}

// Calls f(T(), BL, D) (tags: an element and two std::integral_constant) for
// the runtime dtype, layout block and head dim.
template <typename F>
int Dispatch(const LayoutView& L, const Problem& p, F&& f) {
  return ByTypeAndBlock(p.dtype, L.block, [&](auto type_tag, auto block_tag) {
    switch (p.head_dim) {
      case 32:
        return f(type_tag, block_tag, std::integral_constant<int, 32>());
      case 64:
        return f(type_tag, block_tag, std::integral_constant<int, 64>());
      case 128:
        return f(type_tag, block_tag, std::integral_constant<int, 128>());
      default:
        return static_cast<int>(cudaErrorInvalidValue);
    }
  });
}

// The layout as the kernels take it: heads interleaved only where every
// pass's items fit in a grid's y dimension (at most num_blocks items).
LayoutView ForLaunch(const LayoutView& layout) {
  LayoutView v = layout;
  v.interleave_heads = layout.interleave_heads && layout.num_blocks <= 65535;
  return v;
}

}  // namespace

int LaunchForward(const LayoutView& view, const Problem& problem, const void* q,
                  const void* k, const void* v, void* out, float* lse,
                  CUstream_st* stream) {
  const LayoutView layout = ForLaunch(view);
  return Dispatch(layout, problem, [&](auto t, auto bl, auto d) {
    return Forward<decltype(t), decltype(bl)::value, decltype(d)::value>(
        layout, problem, q, k, v, out, lse, stream);
  });
}

int LaunchBackward(const LayoutView& view, const Problem& problem,
                   const void* q, const void* k, const void* v, const void* out,
                   const float* lse, const void* dout, void* dq, void* dk,
                   void* dv, float* delta, CUstream_st* stream) {
  const LayoutView layout = ForLaunch(view);
  return Dispatch(layout, problem, [&](auto t, auto bl, auto d) {
    return Backward<decltype(t), decltype(bl)::value, decltype(d)::value>(
        layout, problem, q, k, v, out, lse, dout, dq, dk, dv, delta, stream);
  });
}

}  // namespace st::attention::cuda

// Hopper block-sparse attention kernels: the products on wgmma (sm_90a),
// head dim 64, bf16/fp16 in, fp32 accumulate. Same contract and layout lists
// as the mma.sync kernels in block_sparse_attention_cuda.cu (see the notes
// there and in KERNEL_NOTES.md); what changes is the unit of work:
//   - a warpgroup (4 warps, 128 threads) owns 64 rows of a product and issues
//     m64n64k16 wgmma: operands stream from shared memory straight into the
//     tensor cores instead of through ldmatrix into each warp's registers;
//   - a step gathers 64 keys (forward, dq) or 64 queries (dk/dv) from as many
//     layout blocks as fit (two 32-blocks of the fixed pattern, or half a
//     128-block), each 32-key slice with its own mask code, so small blocks
//     still fill a full-width product;
//   - tiles sit in shared memory in the 128-byte swizzled layout wgmma reads
//     (16-byte chunk c of row r stored at chunk c ^ (r % 8)), filled by
//     cp.async gathers through the inverse permutation, in a ring of 4 or 5
//     slots; without a permutation, the forward's and dq's K/V ring (blocks
//     of 32 and up) and dk/dv's Q/dO ring (blocks of 64 and 128) by TMA
//     boxes that one thread issues, completion on mbarriers;
//   - the list lookups (block ids, permutation, mask codes) run one or two
//     steps ahead of their use (RowStream, StepCodes), and masks are applied
//     from one 64-bit word per row and step (RowBits).
// forward : CTA = 128 query rows (2 warpgroups) over the merged row tiles.
// dq      : CTA = 128 query rows, dq += dS K with S, dP recomputed.
// dk/dv   : CTA = one column tile of 128 keys (key blocks with similar column
//           lists grouped at upload), warpgroup wg owning keys 64 wg .. +63,
//           both walking every step of the union of the tile's query
//           blocks; dv += P^T dO, dk += dS^T Q. A tile longer than twice an
//           SM's share of the pass runs as a cluster of two CTAs, one per
//           half of its steps, partials summed through distributed shared
//           memory. No atomics.
// By default (UploadOptions::hopper = kAuto) the forward and dq run here, and
// dk/dv too where column lists average at least 128 queries; for the shorter
// lists of strided at n = 12288 the mma.sync dk/dv is faster (see
// KERNEL_NOTES.md).
#include <cooperative_groups.h>
#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "sparse_transformer/attention/attention_kernels_cuda.h"
#include "sparse_transformer/attention/kernel_common_cuda.cuh"
#include "sparse_transformer/attention/sm90_kernels_cuda.h"

#if defined(__CUDA_ARCH__) && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
#error "block_sparse_attention_sm90.cu must be compiled for sm_90a only"
#endif

namespace st::attention::cuda {
namespace sm90 {
namespace {

constexpr int kD = kHeadDim;  // 64 elements = 128 bytes per row
// Keys (forward, dq) or queries (dk/dv) a step.
constexpr int kW = kHopperStepRows;
// The streamed operand (K/V, or Q/dO) goes through a ring of shared-memory
// slots. Loads are issued kAhead steps ahead, so a gather's latency (the
// block id, the permutation, then the rows) hides behind two steps of
// products; with kAhead + 2 slots, the slot a step refills was last read two
// steps before, which every thread has finished once it passes the previous
// step's barrier: one barrier a step.
constexpr int kAhead = 2;
constexpr int kStages = kAhead + 2;
// The forward and dq passes (QueryTile) meet at a CTA barrier every second
// step only, which publishes the rows of two steps: loads go three steps
// ahead into five slots, issued after the step's barrier (if any), so the
// slot a step refills was last read at least two steps before, which every
// thread has finished once it passes the last barrier; the rows of the
// barrier's second step were issued two steps before it.
constexpr int kQAhead = 3;
constexpr int kQStages = kQAhead + 2;
constexpr int kQSyncEvery = 2;
// Layouts without a permutation fill the K/V ring of the forward and dq
// passes by TMA (thread 0 issues one box per block and tensor a step, rows
// contiguous in memory) instead of every thread's cp.async gathers, for
// blocks of 32 and up (KERNEL_NOTES.md, v56, v62; one box of 64 rows a step
// for blocks of 64 and 128: more, smaller boxes were slower).
template <int BL>
constexpr bool kForwardTma = BL >= 32;
template <int BL>
constexpr bool kDqTma = BL >= 32;
// The dk/dv pass's Q/dO ring likewise (lse and delta stay on cp.async), for
// blocks of 64 and 128: 10% fewer instructions and -1% of the dense f+b;
// with blocks of 32 the fixed f+b was 1.6% slower (KERNEL_NOTES.md, v64).
template <int BL>
constexpr bool kDkvTma = BL >= 64;
constexpr int TmaBoxRows(int block) { return block < kW ? block : kW; }

// ---- Per-CTA timeline (--define=kernel_timeline=1; see CtaTimes) ----------

#ifndef ST_KERNEL_TIMELINE
#define ST_KERNEL_TIMELINE 0
#endif
constexpr bool kTimeline = ST_KERNEL_TIMELINE != 0;
#if ST_KERNEL_TIMELINE
__device__ CtaTimes g_timeline[kTimelinePasses][kTimelineCtas];
#endif

// This CTA's linear index in its grid.
__device__ __forceinline__ int LinearCta() {
  return blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
}
// Thread 0: this CTA's record of `pass`, or nullptr (not a timeline build,
// another thread, or past kTimelineCtas).
__device__ __forceinline__ CtaTimes* TimelineRecord(int pass) {
#if ST_KERNEL_TIMELINE
  const int cta = LinearCta();
  if (threadIdx.x == 0 && cta < kTimelineCtas) return &g_timeline[pass][cta];
#endif
  (void)pass;
  return nullptr;
}
__device__ __forceinline__ uint64_t GlobalTimer() {
  uint64_t t = 0;
  if constexpr (kTimeline) asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
// Records the CTA's start (and its SM and step count).
__device__ __forceinline__ void TimelineStart(int pass, int steps) {
  if constexpr (kTimeline) {
    if (CtaTimes* r = TimelineRecord(pass)) {
      uint32_t sm;
      asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
      r->pass = pass;
      r->cta = LinearCta();
      r->sm = static_cast<int>(sm);
      r->steps = steps;
      r->start_ns = GlobalTimer();
    }
  }
}
// Records a later point of the CTA: field = &CtaTimes::first_ns etc.
__device__ __forceinline__ void TimelineMark(int pass,
                                             uint64_t CtaTimes::*field) {
  if constexpr (kTimeline) {
    if (CtaTimes* r = TimelineRecord(pass)) r->*field = GlobalTimer();
  }
}

// ---- wgmma and shared-memory layout -----------------------------------------

// wgmma.mma_async m64n64k16, fp32 accumulators d[8][4] (the per-warp layout
// of mma.sync's C fragments: warp w of the warpgroup owns rows 16w..16w+15).
//   RS64<kTransB>: d (+)= A (64x16, registers) * B (16x64, smem descriptor;
//                  kTransB = 1: MN-major).
//   SS64<kTransA, kTransB>: d (+)= A (64x16, smem) * B (16x64, smem); each
//                  K-major (0) or MN-major (1).
// accumulate = 0 overwrites d.
template <typename T>
struct Wgmma;

#define ST_WGMMA_D64                                                         \
  "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%" \
  "20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}"
#define ST_WGMMA_ACC64(d)                                                    \
  "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), \
      "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]),            \
      "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]),            \
      "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]),            \
      "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]),            \
      "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]),            \
      "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]),            \
      "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])
#define ST_DEFINE_WGMMA(T, PTX)                                           \
  template <>                                                             \
  struct Wgmma<T> {                                                       \
    template <int kTransB>                                                \
    static __device__ __forceinline__ void RS64(float (&d)[8][4],         \
                                                const uint32_t (&a)[4],   \
                                                uint64_t desc_b,          \
                                                int accumulate) {         \
      asm volatile(                                                       \
          "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"                    \
          "wgmma.mma_async.sync.aligned.m64n64k16.f32." PTX "." PTX       \
          " " ST_WGMMA_D64 ", {%32,%33,%34,%35}, %36, p, 1, 1, %38;\n}\n" \
          : ST_WGMMA_ACC64(d)                                             \
          : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b),      \
            "r"(accumulate), "n"(kTransB));                               \
    }                                                                     \
    template <int kTransA, int kTransB>                                   \
    static __device__ __forceinline__ void SS64(float (&d)[8][4],         \
                                                uint64_t desc_a,          \
                                                uint64_t desc_b,          \
                                                int accumulate) {         \
      asm volatile(                                                       \
          "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                    \
          "wgmma.mma_async.sync.aligned.m64n64k16.f32." PTX "." PTX       \
          " " ST_WGMMA_D64 ", %32, %33, p, 1, 1, %35, %36;\n}\n"          \
          : ST_WGMMA_ACC64(d)                                             \
          : "l"(desc_a), "l"(desc_b), "r"(accumulate), "n"(kTransA),      \
            "n"(kTransB));                                                \
    }                                                                     \
  };

ST_DEFINE_WGMMA(__nv_bfloat16, "bf16")
ST_DEFINE_WGMMA(__half, "f16")

#undef ST_DEFINE_WGMMA
#undef ST_WGMMA_ACC64
#undef ST_WGMMA_D64

// Element offset of 16-byte chunk `chunk` of row `row` in a tile of 64-element
// rows in the 128-byte swizzled layout (tile base 1024-byte aligned).
__device__ __forceinline__ int Swz(int row, int chunk) {
  return row * kD + ((chunk ^ (row & 7)) << 3);
}

// A warp's 16 accumulator rows (row g of this lane times s0, row g + 8 times
// s1) to global memory as 16-byte row chunks, through `stage` (16 x 64
// elements of shared memory, swizzled: no bank conflicts either way): row r
// goes to row pos_of(r) of [rows, 64] `dst`, or nowhere if pos_of(r) < 0.
// Four 16-byte stores a lane instead of sixteen of 4 bytes (v70, v71).
template <typename T, typename PosFn>
__device__ __forceinline__ void StoreRowsStaged(T* dst, T* stage,
                                                const float (&acc)[8][4],
                                                float s0, float s1, int lane,
                                                PosFn pos_of) {
  const int g = lane / 4, t4 = lane % 4;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    *reinterpret_cast<uint32_t*>(stage + Swz(g, j) + 2 * t4) =
        Ops<T>::pack(acc[j][0] * s0, acc[j][1] * s0);
    *reinterpret_cast<uint32_t*>(stage + Swz(g + 8, j) + 2 * t4) =
        Ops<T>::pack(acc[j][2] * s1, acc[j][3] * s1);
  }
  __syncwarp();
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int r = i * 4 + lane / 8, c = lane % 8;  // row r, chunk c
    const int64_t pos = pos_of(r);
    if (pos >= 0) {
      *reinterpret_cast<uint4*>(dst + pos * kD + c * 8) =
          *reinterpret_cast<const uint4*>(stage + Swz(r, c));
    }
  }
}

// Shared-memory matrix descriptor, 128-byte swizzle.
__device__ __forceinline__ uint64_t Desc(const void* smem, uint32_t lbo,
                                         uint32_t sbo) {
  const uint32_t a = SmemAddr(smem);
  return static_cast<uint64_t>((a & 0x3FFFF) >> 4) |
         (static_cast<uint64_t>(lbo >> 4) << 16) |
         (static_cast<uint64_t>(sbo >> 4) << 32) | (1ull << 62);
}
// K-major operand (rows of 64 K-elements), k-step kk: 32 bytes along the row;
// 8-row groups 1024 bytes apart.
// (The k-step is added to the descriptor's address field, in 16-byte units,
// rather than recomputed from the address.)
template <typename T>
__device__ __forceinline__ uint64_t KMajor(const T* tile, int kk) {
  return Desc(tile, 16, 1024) + static_cast<uint64_t>(2 * kk);
}
// MN-major A or B operand (rows = the K index, 64 M/N-elements each), k-step
// kk: 16 rows on; 8-row groups 1024 bytes apart (one 64-wide atom along N).
template <typename T>
__device__ __forceinline__ uint64_t MNMajor(const T* tile, int kk) {
  return Desc(tile, 8192, 1024) + static_cast<uint64_t>(128 * kk);
}

__device__ __forceinline__ void WgFence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void WgCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void WgWait() {
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}
// After the wait: the accumulators are ready; keeps the compiler from moving
// their uses above it.
__device__ __forceinline__ void Pin(float (&d)[8][4]) {
#pragma unroll
  for (int j = 0; j < 8; ++j) {
#pragma unroll
    for (int i = 0; i < 4; ++i) asm volatile("" : "+f"(d[j][i])::"memory");
  }
}
__device__ __forceinline__ void Pin(uint32_t (&a)[4][4]) {
#pragma unroll
  for (int j = 0; j < 4; ++j) {
#pragma unroll
    for (int i = 0; i < 4; ++i) asm volatile("" : "+r"(a[j][i])::"memory");
  }
}
// Ordinary or cp.async shared-memory writes, then reads by wgmma (the async
// proxy): each writing thread fences before the barrier.
__device__ __forceinline__ void ProxyFence() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// k-step kk (16 columns) of a 64 x 64 fp32 accumulator as a bf16/fp16 A
// fragment: the accumulator and A-fragment layouts coincide per warp.
template <typename T>
__device__ __forceinline__ void PackA(uint32_t (&a)[4], const float (&p)[8][4],
                                      int kk) {
  a[0] = Ops<T>::pack(p[2 * kk][0], p[2 * kk][1]);
  a[1] = Ops<T>::pack(p[2 * kk][2], p[2 * kk][3]);
  a[2] = Ops<T>::pack(p[2 * kk + 1][0], p[2 * kk + 1][1]);
  a[3] = Ops<T>::pack(p[2 * kk + 1][2], p[2 * kk + 1][3]);
}

// Issues s = A1 B1^T and t = A2 B2^T (64 x 64 each; A: this warpgroup's 64
// rows, B: 64 rows; every operand K-major in shared memory). The caller may
// do independent work (mask bits, row scalars) before WaitScores: the tensor
// cores run meanwhile.
template <typename T>
__device__ __forceinline__ void IssueTwoScoreProducts(float (&s)[8][4],
                                                      const T* a1, const T* b1,
                                                      float (&t)[8][4],
                                                      const T* a2,
                                                      const T* b2) {
  // Pin the accumulators around the products: otherwise the compiler may
  // copy them between two wgmma (register renaming), and ptxas then has to
  // wait for and serialize the products (info C7517/C7520).
  Pin(s);
  Pin(t);
  WgFence();
#pragma unroll
  for (int kk = 0; kk < 4; ++kk)
    Wgmma<T>::template SS64<0, 0>(s, KMajor(a1, kk), KMajor(b1, kk), kk > 0);
#pragma unroll
  for (int kk = 0; kk < 4; ++kk)
    Wgmma<T>::template SS64<0, 0>(t, KMajor(a2, kk), KMajor(b2, kk), kk > 0);
  Pin(s);
  Pin(t);
  WgCommit();
}
__device__ __forceinline__ void WaitScores(float (&s)[8][4], float (&t)[8][4]) {
  WgWait();
  Pin(s);
  Pin(t);
}

// acc += P B: P (64 x 64 fp32 registers, rounded to T) times B (64 rows of 64
// in shared memory: the K index by row, MN-major), waited for. acc may have
// been rescaled in registers since the last product.
template <typename T>
__device__ __forceinline__ void IssuePB(float (&acc)[8][4],
                                        const float (&p)[8][4], const T* b,
                                        uint32_t (&pa)[4][4]) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) PackA<T>(pa[kk], p, kk);
  Pin(acc);  // written before the fence
  Pin(pa);
  WgFence();
#pragma unroll
  for (int kk = 0; kk < 4; ++kk)
    Wgmma<T>::template RS64<1>(acc, pa[kk], MNMajor(b, kk), 1);
}
template <typename T>
__device__ __forceinline__ void AccumulatePB(float (&acc)[8][4],
                                             const float (&p)[8][4],
                                             const T* b) {
  uint32_t pa[4][4];
  IssuePB<T>(acc, p, b, pa);
  WgCommit();
  WgWait();
  Pin(acc);
}

// 16 bytes global -> shared (cp.async), or 16 zero bytes where !valid (source
// size 0: nothing is read), without a branch.
__device__ __forceinline__ void CpAsync16OrZero(void* smem, const void* gmem,
                                                bool valid) {
  asm volatile(
      "cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(SmemAddr(smem)),
      "l"(gmem), "r"(valid ? 16 : 0));
}

// Chunk c (16 bytes) of tile row r: from position p of the [N, 64] slab
// (cp.async), or zeros where p < 0.
// (Positions are below 2^31, so the row's byte offset is formed as one
// 32-bit multiply-add onto the 64-bit base.)
template <typename T, typename P>
__device__ __forceinline__ void CopyChunk(T* tile, int r, int c, const T* slab,
                                          P p) {
  const uint32_t row = p < 0 ? 0u : static_cast<uint32_t>(p);
  const char* src =
      reinterpret_cast<const char*>(slab) + c * 16 + row * uint64_t{kD * 2};
  CpAsync16OrZero(tile + Swz(r, c), src, p >= 0);
}

// Copies ROWS rows into a swizzled tile: row r from position pos_of(r) of the
// [N, 64] slab, or zeros where pos_of(r) < 0. THREADS threads, 8 per row.
template <typename T, int ROWS, int THREADS, typename PosFn>
__device__ __forceinline__ void LoadTile(T* tile, const T* slab, PosFn pos_of,
                                         int tid) {
  static_assert(THREADS % 8 == 0 && ROWS % (THREADS / 8) == 0);
#pragma unroll
  for (int r = tid >> 3; r < ROWS; r += THREADS / 8)
    CopyChunk(tile, r, tid & 7, slab, pos_of(r));
}

// Rounds the dynamic shared memory base up to 1024 bytes (the swizzle atom).
__device__ __forceinline__ unsigned char* AlignSmem(unsigned char* raw) {
  const uint32_t a = SmemAddr(raw);
  return raw + ((1024 - (a & 1023)) & 1023);
}

// The K/V ring's mbarriers (kQStages of 8 bytes), within the kernel's
// shared memory as it is: dq's 115,712 bytes are the most that two CTAs an SM
// can have. They go in the alignment padding before `base` when it has room,
// else past the kernel's `data_bytes` (its size reserves 1024 bytes for the
// padding, at most 1008 of which are used: the raw base is 16-byte aligned).
__device__ __forceinline__ uint64_t* RingBarriers(unsigned char* raw,
                                                  unsigned char* base,
                                                  int data_bytes) {
  return reinterpret_cast<uint64_t*>(
      base - raw >= 8 * kQStages ? raw : base + data_bytes);
}

// ---- TMA and mbarriers (the K/V ring of layouts without a permutation) ------

__device__ __forceinline__ void MbarInit(uint64_t* bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(SmemAddr(bar)),
               "r"(count)
               : "memory");
}
// Makes the initialised barriers visible to the async proxy (TMA).
__device__ __forceinline__ void MbarInitFence() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
// The one arrival of a phase, which then completes once `bytes` have landed.
__device__ __forceinline__ void MbarExpectBytes(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(
                   SmemAddr(bar)),
               "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void MbarWait(uint64_t* bar, uint32_t parity) {
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "WAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT;\n"
      "}\n" ::"r"(SmemAddr(bar)),
      "r"(parity)
      : "memory");
}
// Box (row y, the whole 64-element row) of a 2-D tensor map into shared
// memory, 128-byte swizzled as Swz; rows past the tensor arrive as zeros.
__device__ __forceinline__ void TmaLoadRows(void* smem, const CUtensorMap* map,
                                            int y, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_"
      "tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(SmemAddr(smem)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(0), "r"(y), "r"(SmemAddr(bar))
      : "memory");
}

// A step's gather: entry `ent` of the list and offset `off` in its block for
// row r of step `step` (E entries a step when the block is smaller than a
// step, SUB steps an entry when it is larger).
template <int BL>
struct Steps {
  static constexpr int E = HopperEntriesPerStep(BL);
  static constexpr int SUB = HopperStepsPerEntry(BL);
  static __device__ __forceinline__ int Count(int entries) {
    return HopperListSteps(entries, BL);
  }
  static __device__ __forceinline__ int Entry(int step, int r) {
    return (step / SUB) * E + (BL < kW ? r / BL : 0);
  }
  static __device__ __forceinline__ int Offset(int step, int r) {
    return BL < kW ? r % BL : (step % SUB) * kW + r;
  }
  // Slice (entry within the step) of accumulator column block j (8 columns).
  static constexpr int Slice(int j) { return BL < kW ? (j * 8) / BL : 0; }
};

// The TMA rings (layouts without a permutation): the block ids of step s's
// entries of a list (ids[e0 .. e0 + nent)), -1 past it, read a step before
// the step's boxes are issued.
template <int BL>
__device__ __forceinline__ void StepBlockIds(const int32_t* ids, int64_t e0,
                                             int nent, int nsteps, int s,
                                             int (&id)[Steps<BL>::E]) {
#pragma unroll
  for (int e = 0; e < Steps<BL>::E; ++e) {
    const int ent = Steps<BL>::Entry(s, e * BL);
    id[e] = s < nsteps && ent < nent ? __ldg(ids + e0 + ent) : -1;
  }
}
// Thread 0: the 64 rows of step s (blocks `id`) of two [rows, 64] tensors
// of the slab starting at row `slab`, as boxes into tiles a and b,
// completing on `bar`; a row past the list starts its box before row 0 and
// arrives as zeros.
template <typename T, int BL>
__device__ __forceinline__ void TmaStepRows(T* a, T* b, const CUtensorMap* ma,
                                            const CUtensorMap* mb,
                                            const int (&id)[Steps<BL>::E],
                                            int64_t slab, int s,
                                            uint64_t* bar) {
  constexpr int kBox = TmaBoxRows(BL);
  MbarExpectBytes(bar, 2 * kW * kD * sizeof(T));
#pragma unroll
  for (int r = 0; r < kW; r += kBox) {
    const int block = id[BL < kW ? r / BL : 0];
    const int y =
        block < 0
            ? -kW
            : static_cast<int>(slab + block * BL + Steps<BL>::Offset(s, r));
    TmaLoadRows(a + r * kD, ma, y, bar);
    TmaLoadRows(b + r * kD, mb, y, bar);
  }
}

// The gathered operand of a kernel, one 64-row tile a step, from a list of
// layout blocks (ids[e0 .. e0 + nent)): row r of step s is key/query
// Offset(s, r) of block ids[e0 + Entry(s, r)] (through the permutation), or a
// zero row past the list. A thread copies 16 bytes (chunk tid % 8) of rows
// Row(i), i < kRows; with kScalar, row tid (< 64) also gets a position, for
// per-row scalars (lse, delta). The lookups run ahead of the copies: a step's
// block ids are read two steps before its rows are copied and its positions
// (through the permutation) one step before, so no step waits on a chain of
// dependent global loads.
template <int BL, int THREADS, bool kScalar>
struct RowStream {
  using St = Steps<BL>;
  static constexpr int kRows = kW / (THREADS / 8);
  static constexpr int kN = kRows + (kScalar ? 1 : 0);
  const int32_t* ids;
  const int32_t* inv;
  int64_t e0;
  int nent, nsteps, tid;
  int step = 0;     // the (local) step whose positions are in pos
  int pos[kN];      // positions of `step` (-1: zero row)
  int next_id[kN];  // block ids of step + 1 (-1: past the list)
  // Local step s is step step0 + s of the list (the second half of a split
  // column tile starts past the first).
  int step0 = 0;

  __device__ __forceinline__ int Row(int i) const {
    return i < kRows ? (tid >> 3) + i * (THREADS / 8) : tid;
  }
  __device__ __forceinline__ void Ids(int s, int (&id)[kN]) const {
    const int gs = step0 + s;
    if constexpr (St::E < kN) {
      // Fewer blocks a step than rows of this thread: one load per block.
      int block_id[St::E];
#pragma unroll
      for (int e = 0; e < St::E; ++e) {
        const int ent = St::Entry(gs, e * BL);
        block_id[e] = gs < nsteps && ent < nent ? __ldg(ids + e0 + ent) : -1;
      }
#pragma unroll
      for (int i = 0; i < kN; ++i) {
        const int r = Row(i);
        id[i] = r >= kW      ? -1
                : St::E == 1 ? block_id[0]
                             : Pick(block_id, r / BL);
      }
    } else {
#pragma unroll
      for (int i = 0; i < kN; ++i) {
        const int r = Row(i);
        const int ent = St::Entry(gs, r);
        id[i] =
            gs < nsteps && r < kW && ent < nent ? __ldg(ids + e0 + ent) : -1;
      }
    }
  }
  __device__ __forceinline__ void Positions(int s, const int (&id)[kN]) {
    const int gs = step0 + s;
#pragma unroll
    for (int i = 0; i < kN; ++i) {
      const int key = id[i] * BL + St::Offset(gs, Row(i));
      pos[i] = id[i] < 0 ? -1 : inv ? __ldg(inv + key) : key;
    }
  }
  __device__ __forceinline__ void Start() {
    int id[kN];
    Ids(0, id);
    Positions(0, id);
    Ids(1, next_id);
    step = 0;
  }
  // Moves to the next step: its positions from the ids read one step ago,
  // and the ids of the step after it.
  __device__ __forceinline__ void Advance() {
    ++step;
    Positions(step, next_id);
    Ids(step + 1, next_id);
  }
  // Copies this thread's part of the current step's rows of [N, 64] `slab`.
  template <typename T>
  __device__ __forceinline__ void Copy(T* tile, const T* slab) const {
#pragma unroll
    for (int i = 0; i < kRows; ++i)
      CopyChunk(tile, Row(i), tid & 7, slab, pos[i]);
  }
  // Position of row tid of the current step (kScalar; -1 if none).
  __device__ __forceinline__ int ScalarPos() const { return pos[kN - 1]; }
};

// Whether every slice of a step is a full block (code -1): the forward and
// dq passes then take their elementwise loop without mask tests.
template <int E>
__device__ __forceinline__ bool AllFull(const int (&code)[E]) {
  bool full = true;
#pragma unroll
  for (int j = 0; j < E; ++j) full &= code[j] == -1;
  return full;
}

// Brings the 128-byte lines of ints [p, p + count) into L1, a line a thread:
// a tile's mask codes, whose loads a step ahead otherwise miss L1 on every
// new line and hold up the warp at their first use (KERNEL_NOTES.md, v80).
__device__ __forceinline__ void PrefetchLinesL1(const int32_t* p, int count,
                                                int tid, int threads) {
  const uintptr_t first = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{127};
  const uintptr_t end = reinterpret_cast<uintptr_t>(p + count);
  for (uintptr_t a = first + static_cast<uintptr_t>(tid) * 128; a < end;
       a += static_cast<uintptr_t>(threads) * 128) {
    asm volatile("prefetch.global.L1 [%0];" ::"l"(a));
  }
}

// Mask codes of step s for blocks b0 .. b0 + NB - 1 of a list's code rows
// (`stride` codes per entry; `row` points at code b0 of the list's first
// entry), kAbsent past the list (ent >= nent also covers s >= the step
// count). One 32-bit index a load from a base held in a register (v68).
template <int BL, int NB>
__device__ __forceinline__ void StepCodes(const int32_t* row, int nent, int s,
                                          int stride,
                                          int (&out)[Steps<BL>::E][NB]) {
#pragma unroll
  for (int j = 0; j < Steps<BL>::E; ++j) {
    const int ent = (s / Steps<BL>::SUB) * Steps<BL>::E + j;
#pragma unroll
    for (int b = 0; b < NB; ++b)
      out[j][b] = ent < nent ? __ldg(row + ent * stride + b) : kAbsent;
  }
}

// Live keys of query row r (in its block) for the keys of a step from a block,
// as bits: bit c = key (off + c) of the block, c < min(BL, 64); off = 0, or
// 64 for the second half of a 128-block. One word load for explicit masks
// (a row's bits for a step are contiguous in the mask), no per-element work.
template <int BL>
__device__ __forceinline__ uint64_t RowBits(int code, int r, int off,
                                            const uint64_t* words,
                                            int words_per_mask) {
  constexpr int kBits = BL < 64 ? BL : 64;
  constexpr uint64_t kAll = kBits == 64 ? ~0ull : (1ull << kBits) - 1;
  if (code == -1) return kAll;
  if (code == kAbsent) return 0;
  if (code == -2) {  // causal: keys off + c <= r
    const int d = r - off;
    return d < 0 ? 0 : d >= kBits - 1 ? kAll : (2ull << d) - 1;
  }
  const int bit = r * BL + off;
  const uint64_t w =
      __ldg(words + static_cast<int64_t>(code) * words_per_mask + (bit >> 6));
  return (w >> (bit & 63)) & kAll;
}

// A lane's view of a 64-bit mask word over the accumulator columns it holds
// (8 j + 2 t4 + c, c < 2): Test(8 j + c) reads bit 8 j + 2 t4 + c of the
// word. In the unrolled loops every test is then against a constant, one
// instruction, instead of a 64-bit shift by a run-time amount per element.
struct LaneBits {
  uint32_t lo = 0, hi = 0;
  LaneBits() = default;
  __device__ __forceinline__ LaneBits(uint64_t word, int t4) {
    word >>= 2 * t4;
    lo = static_cast<uint32_t>(word);
    hi = static_cast<uint32_t>(word >> 32);
  }
  __device__ __forceinline__ bool Test(int k) const {
    return ((k < 32 ? lo : hi) >> (k & 31)) & 1u;
  }
};

// A CTA's 128-row query tile of a row tile list (the forward and the dq
// pass): its rows, its K/V stream through the kQStages-slot ring and each
// step's mask codes, read a step ahead. Two warpgroups of 64 rows share each
// K/V tile. Per thread: warp `warp` owns tile rows 16 warp .. +15 (block gw,
// rows r0, r0 + 8 of this lane in it).
template <int BL, bool kTma>
struct QueryTile {
  using St = Steps<BL>;
  static constexpr int G = BL < 128 ? 128 / BL : 1;  // codes per entry
  static constexpr int NB = BL < 64 ? 64 / BL : 1;   // blocks of a warpgroup
  int tid, warp, lane, g, t4, wg;
  int64_t n, slab, first_row, e0;
  const int32_t* inv;
  const int32_t* code_row;  // this warpgroup's codes of the list's first entry
  int nent, nsteps, gw, r0, wg_first;
  int tile_id, layout_head;      // the tile in its head's list, the layout head
  RowStream<BL, 256, false> kv;  // its copies: !kTma (kTma reads kv.ids)
  int next_codes[St::E][NB];
  // kTma: the K/V ring filled by thread 0 through two tensor maps over the
  // [B * H * N, 64] tensors, slot b complete when its mbarrier bars[b]
  // flips; tma_ids: block ids of the next step to issue (read a step early).
  const CUtensorMap* tm_k = nullptr;
  const CUtensorMap* tm_v = nullptr;
  uint64_t* bars = nullptr;
  int tma_ids[St::E];

  __device__ __forceinline__ QueryTile(const LayoutView& L,
                                       const RowTiles& tiles, int heads) {
    tid = threadIdx.x;
    warp = tid / 32;
    lane = tid % 32;
    g = lane / 4;
    t4 = lane % 4;
    // Broadcast from lane 0: the compiler then knows it is warp-uniform and
    // keeps what derives from it (ring slots, wgmma descriptors) in uniform
    // registers.
    wg = __shfl_sync(0xffffffffu, warp / 4, 0);
    // Late (heavier) query tiles first.
    const GridSlot gs = SlotOf(L.interleave_heads, heads);
    const int tile = tiles.num_tiles - 1 - gs.item;
    const int h = gs.h;
    const int lh = h % L.layout_heads;
    n = L.n;
    slab = gs.bh * n;
    inv = L.inverse_perm ? L.inverse_perm + lh * n : nullptr;
    const int64_t* ro =
        tiles.offsets + static_cast<int64_t>(lh) * (tiles.num_tiles + 1);
    e0 = ro[tile];
    tile_id = tile;
    layout_head = lh;
    nent = static_cast<int>(ro[tile + 1] - e0);
    nsteps = St::Count(nent);
    gw = (warp * 16) / BL;
    r0 = (warp * 16) % BL + g;
    wg_first = (wg * 64) / BL;
    first_row = static_cast<int64_t>(tile) * 128;
    kv = RowStream<BL, 256, false>{tiles.cols, inv, e0, nent, nsteps, tid};
    if constexpr (!kTma) kv.Start();
    code_row = tiles.codes + e0 * G + wg_first;
    NextCodes(0);
  }
  // next_codes = step s's codes.
  __device__ __forceinline__ void NextCodes(int s) {
    StepCodes<BL, NB>(code_row, nent, s, G, next_codes);
  }
  // How many of the tile's first steps have every code full (RowTiles::
  // leading_full; 0 without), at most `cap`: the forward and dq passes run
  // them in a loop of their own that takes no codes (BeginStep<true>). (A
  // bound checked in every step of one loop instead held a register through
  // it; in the dq pass 20 more bytes of spill and a slower pass;
  // KERNEL_NOTES.md, v80.)
  __device__ __forceinline__ int LeadingFull(const RowTiles& tiles,
                                             int cap) const {
    if (tiles.leading_full == nullptr) return 0;
    return min(
        __ldg(tiles.leading_full +
              static_cast<int64_t>(layout_head) * tiles.num_tiles + tile_id),
        cap);
  }
  // The tile's mask codes into L1 (see PrefetchLinesL1).
  __device__ __forceinline__ void PrefetchCodes(const RowTiles& tiles) const {
    PrefetchLinesL1(tiles.codes + e0 * G, nent * G, tid, 256);
  }
  // Position of tile row r in the slab (through the permutation), -1 past n.
  __device__ __forceinline__ int64_t RowPos(int r) const {
    const int64_t p = first_row + r;
    if (p >= n) return -1;
    return inv ? __ldg(inv + p) : p;
  }
  // This warpgroup's 64 rows of a 128-row tile in shared memory.
  template <typename T>
  __device__ __forceinline__ const T* Own(const T* tile) const {
    return tile + wg * 64 * kD;
  }
  // Loads the tile's rows of the [N, 64] slab `src` into `tile` (cp.async).
  template <typename T>
  __device__ __forceinline__ void LoadRows(T* tile, const T* src) const {
    LoadTile<T, 128, 256>(
        tile, src + slab * kD, [&](int r) { return RowPos(r); }, tid);
  }
  // Copies the K and V rows of the stream's current step into ring slot buf
  // and moves the stream on.
  template <typename T>
  __device__ __forceinline__ void CopyKV(T* ks, T* vs, const T* k, const T* v,
                                         int buf, bool copy) {
    if (copy) {
      kv.Copy(ks + buf * kW * kD, k + slab * kD);
      kv.Copy(vs + buf * kW * kD, v + slab * kD);
    }
    CpAsyncCommit();
    kv.Advance();
  }
  // kTma: the tensor maps of K and V and the ring's mbarriers (unused
  // otherwise).
  __device__ __forceinline__ void SetTma(const CUtensorMap* k_map,
                                         const CUtensorMap* v_map,
                                         uint64_t* ring_bars) {
    tm_k = k_map;
    tm_v = v_map;
    bars = ring_bars;
  }
  // kTma: block ids of step s (-1 past the list).
  __device__ __forceinline__ void TmaIds(int s, int (&id)[St::E]) const {
    StepBlockIds<BL>(kv.ids, e0, nent, nsteps, s, id);
  }
  // kTma, thread 0: issues the K and V boxes of step s into its slot (a row
  // past the list reads as zeros: its box starts before row 0), then reads
  // the next step's ids.
  template <typename T>
  __device__ __forceinline__ void TmaIssue(T* ks, T* vs, int s) {
    const int buf = s % kQStages;
    if (s < nsteps) {
      TmaStepRows<T, BL>(ks + buf * kW * kD, vs + buf * kW * kD, tm_k, tm_v,
                         tma_ids, slab, s, bars + buf);
    }
    TmaIds(s + 1, tma_ids);
  }
  // Fills the first kQAhead ring slots (the caller's own loads, e.g. Q, join
  // step 0's group: step `it` is in cp.async group `it`; kTma: one group).
  template <typename T>
  __device__ __forceinline__ void Prologue(T* ks, T* vs, const T* k,
                                           const T* v) {
    if constexpr (kTma) {
      CpAsyncCommit();
      if (tid == 0) {
#pragma unroll
        for (int b = 0; b < kQStages; ++b) MbarInit(bars + b, 1);
        MbarInitFence();
        TmaIds(0, tma_ids);
#pragma unroll
        for (int st = 0; st < kQAhead; ++st) TmaIssue(ks, vs, st);
      }
    } else {
#pragma unroll
      for (int st = 0; st < kQAhead; ++st)
        CopyKV(ks, vs, k, v, st, st < nsteps);
    }
  }
  // Start of step it: on every second step waits for the rows of this step
  // and the next (all threads; the caller's products may then read ring
  // slots it % kQStages and the next), then issues the loads of step
  // it + kQAhead, takes this step's codes (code: this warp's block; returns
  // whether any block of the warpgroup uses the step) and reads the next
  // step's.
  // kFullStep: the caller knows every code of step it is full (no picks);
  // it then reads the next step's codes only where read_next.
  template <bool kFullStep = false, typename T>
  __device__ __forceinline__ bool BeginStep(int it, T* ks, T* vs, const T* k,
                                            const T* v, int (&code)[St::E],
                                            bool read_next = true) {
    if constexpr (kTma) {
      if (it % kQSyncEvery == 0) {
        if (it == 0) {  // the caller's rows (Q, dO)
          CpAsyncWait<0>();
          ProxyFence();
        }
        __syncthreads();  // every thread is done with the slot refilled next
      }
      if (tid == 0) TmaIssue(ks, vs, it + kQAhead);
    } else {
      if (it % kQSyncEvery == 0) {
        // Groups it and it + 1 complete (it + 2's, the newest, may be open).
        CpAsyncWait<kQAhead - kQSyncEvery>();
        ProxyFence();
        __syncthreads();
      }
      const int ahead = it + kQAhead;
      CopyKV(ks, vs, k, v, ahead % kQStages, ahead < nsteps);
    }
    bool wg_any = kFullStep;
#pragma unroll
    for (int j = 0; j < St::E; ++j) {
      if constexpr (kFullStep) {
        code[j] = -1;
      } else {
        code[j] = Pick(next_codes[j], gw - wg_first);
#pragma unroll
        for (int b = 0; b < NB; ++b) wg_any |= next_codes[j][b] != kAbsent;
      }
    }
    if (!kFullStep || read_next) NextCodes(it + 1);
    if constexpr (kTma)
      MbarWait(bars + it % kQStages, (it / kQStages) & 1);  // slot's rows in
    return wg_any;
  }
  // Live-key bits of this lane's two rows for step it (see RowBits), as
  // seen by this lane: key (8 j + 2 t4 + c) % kSlice of slice Slice(j) is
  // bits[Slice(j)][row].Test((8 j) % kSlice + c).
  static constexpr int kSlice = BL < kW ? BL : kW;
  __device__ __forceinline__ void Bits(const LayoutView& L, int it,
                                       const int (&code)[St::E],
                                       LaneBits (&bits)[St::E][2]) const {
#pragma unroll
    for (int j = 0; j < St::E; ++j) {
#pragma unroll
      for (int h = 0; h < 2; ++h)
        bits[j][h] =
            LaneBits(RowBits<BL>(code[j], r0 + 8 * h, (it % St::SUB) * kW,
                                 L.mask_words, L.words_per_mask),
                     t4);
    }
  }
};

// ---- Forward ----------------------------------------------------------------

constexpr int kFwdSmem = (128 + 2 * kQStages * kW) * kD * 2 + 1024;

// q, k, v, out: [B, H, N, 64]; lse: [B, H, N]. CTA = 128 query rows (G =
// 128 / BL blocks, G = 1 for BL = 128), 2 warpgroups of 64 rows. Two CTAs
// per SM (128 registers): one CTA's softmax overlaps the other's products;
// 105-123 registers without spills except block 16 (16 bytes; ptxas, sm_90a,
// v30), faster than one CTA per SM or CTAs of one warpgroup (v16, v22).
template <typename T, int BL, bool kTma>
__global__ void __launch_bounds__(256, 2)
    ForwardKernel(LayoutView L, RowTiles tiles, int heads, float scale_log2,
                  const T* __restrict__ q, const T* __restrict__ k,
                  const T* __restrict__ v, T* __restrict__ out,
                  float* __restrict__ lse,
                  const __grid_constant__ CUtensorMap tm_k,
                  const __grid_constant__ CUtensorMap tm_v) {
  using St = Steps<BL>;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* base = AlignSmem(smem_raw);
  T* qs = reinterpret_cast<T*>(base);  // [128][64]
  T* ks = qs + 128 * kD;               // [kQStages][64][64]
  T* vs = ks + kQStages * kW * kD;     // [kQStages][64][64]

  // The backward's delta kernel, launched after this one with programmatic
  // dependent launch, may place its CTAs as this grid's last ones run (they
  // wait for its writes): no launch gap between the two.
  asm volatile("griddepcontrol.launch_dependents;");
  QueryTile<BL, kTma> qt(L, tiles, heads);
  TimelineStart(kTimelineForward, qt.nsteps);
  qt.SetTma(&tm_k, &tm_v, RingBarriers(smem_raw, base, kFwdSmem - 1024));
  qt.LoadRows(qs, q);
  qt.Prologue(ks, vs, k, v);  // Q joins step 0's group
  // Q stays in shared memory as the A operand of S = Q K^T. (Holding it in
  // registers as A fragments loaded once gave wrong S from the second step
  // on, on sm_90a with CUDA 13.0: the fragments did not survive the loop.)
  const T* qw = qt.Own(qs);

  float o[8][4] = {};
  float m[2] = {-INFINITY, -INFINITY};
  float l[2] = {0.f, 0.f};
  const int lead = qt.LeadingFull(tiles, qt.nsteps);
  // Step it; kRun: one of the tile's leading full steps (no codes taken).
  auto step = [&](int it, auto full_run) {
    constexpr bool kRun = decltype(full_run)::value;
    int code[St::E];
    const bool use =
        qt.template BeginStep<kRun>(it, ks, vs, k, v, code, it + 1 >= lead);
    if (kTimeline && it == 0)
      TimelineMark(kTimelineForward, &CtaTimes::first_ns);
    if (use) {  // warpgroup-uniform
      const T* kb = ks + (it % kQStages) * kW * kD;
      const T* vb = vs + (it % kQStages) * kW * kD;
      float s[8][4];
      WgFence();
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
        Wgmma<T>::template SS64<0, 0>(s, KMajor(qw, kk), KMajor(kb, kk),
                                      kk > 0);
      WgCommit();
      // The mask bits while the product runs, for a step with a partial
      // block only: a step of full blocks skips their code tests, ~35
      // instructions a warp and step at blocks of 32 (KERNEL_NOTES.md, v68).
      const bool full = kRun || AllFull(code);
      LaneBits bits[St::E][2];
      if (!full) qt.Bits(L, it, code, bits);
      WgWait();
      Pin(s);
      // The masked scores' row maxima. Raw scores here; the scale (> 0, so
      // the max is the same) goes into the exponent's fused multiply-add
      // below. A step of full blocks takes a branch without the mask tests:
      // written as one loop with `!full &&`, the TMA kernel at blocks of 64
      // and 128 tested every element (~100 more instructions a warp and
      // step; KERNEL_NOTES.md, v62).
      float mx[2] = {-INFINITY, -INFINITY};
      auto mask_max = [&](auto masked) {
        constexpr bool kMasked = decltype(masked)::value;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
#pragma unroll
          for (int i = 0; i < 4; ++i) {
            float x = s[j][i];
            if constexpr (kMasked) {
              const int c = (j * 8) % qt.kSlice + (i & 1);
              if (!bits[St::Slice(j)][i >> 1].Test(c)) x = -INFINITY;
              s[j][i] = x;
            }
            mx[i >> 1] = fmaxf(mx[i >> 1], x);
          }
        }
      };
      if (full) {
        mask_max(std::false_type());
      } else {
        mask_max(std::true_type());
      }
      mx[0] *= scale_log2;
      mx[1] *= scale_log2;
      float alpha[2], mu[2];
      OnlineSoftmaxStep(mx, m, l, mu, alpha);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const float p = FastExp2(fmaf(s[j][i], scale_log2, -mu[i >> 1]));
          s[j][i] = p;
          l[i >> 1] += p;
        }
        o[j][0] *= alpha[0];
        o[j][1] *= alpha[0];
        o[j][2] *= alpha[1];
        o[j][3] *= alpha[1];
      }
      AccumulatePB<T>(o, s, vb);
    }
  };
  for (int it = 0; it < lead; ++it) step(it, std::true_type());
  for (int it = lead; it < qt.nsteps; ++it) step(it, std::false_type());
  CpAsyncWait<0>();
  TimelineMark(kTimelineForward, &CtaTimes::loop_ns);

  // out = o / l through shared memory (Q's tile, free once both warpgroups
  // are past their last product) as 16-byte rows (v71), and the lse.
  float inv_l[2], row_lse[2];
  FinishRows(m, l, inv_l, row_lse);
  __syncthreads();
  StoreRowsStaged(out + qt.slab * kD, qs + qt.warp * 16 * kD, o, inv_l[0],
                  inv_l[1], qt.lane,
                  [&](int r) { return qt.RowPos(qt.warp * 16 + r); });
  if (qt.t4 == 0) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t pos = qt.RowPos(qt.warp * 16 + qt.g + 8 * h);
      if (pos >= 0) lse[qt.slab + pos] = row_lse[h];
    }
  }
  TimelineMark(kTimelineForward, &CtaTimes::end_ns);
}

// ---- Backward: dq pass ------------------------------------------------------

// The dq pass's last two steps may hold key blocks of
// LayoutView::dq_local_keys (bit e of a step's `local`: slice e), whose
// every query is in this CTA's 128 rows: the CTA computes their dV = P^T dO
// and dK = scale dS^T Q over those rows. During the step its P and dS (bf16)
// go into ring slots no step uses any more, rows 0-63 into one, 64-127 into
// the next: step nsteps - 2 + s into the slots of steps nsteps + 2 s and
// nsteps + 2 s + 1 (the last is step nsteps - 2's, free once every thread is
// past it: a CTA barrier at step nsteps - 1; the others no load fills, and
// every thread is past their last reader, see BeginStep). The products come
// after the loop, where the loop's registers are free (inside it they made
// ptxas spill 150 bytes).
template <typename T, typename QT>
__device__ __forceinline__ T* DqLocalTile(const QT& qt, T* ring, int s,
                                          int half) {
  return ring + ((qt.nsteps + 2 * s + half) % kQStages) * kW * kD;
}
// Element offset of this lane's pair (row g + 8 h, columns 8 j + 2 t4 ..) in
// its warp's 16 rows of such a tile. From the thread index read anew
// (volatile) in the step that writes: derived from the loop's own indices,
// the sixteen offsets were computed once before the loop and held registers
// through every step of it (the kernel variant spilled 44-124 bytes at
// blocks of 32 and 64, 8-76 now; KERNEL_NOTES.md, v78).
__device__ __forceinline__ int DqLocalAt(int j, int h) {
  int tid;
  asm volatile("mov.u32 %0, %%tid.x;" : "=r"(tid));
  const int lane = tid % 32;
  return Swz((tid / 32 % 4) * 16 + lane / 4 + 8 * h, j) + 2 * (lane % 4);
}
// After the loop, for the step nsteps - 2 + s: warpgroup 0 computes dV,
// warpgroup 1 dK (keys x 64, 8 products of 16 queries, both operands
// MN-major), and each warp stores its 16 keys where their slice is local.
// Every thread of the CTA calls it (CTA barriers).
template <typename T, int BL, typename QT>
__device__ __forceinline__ void DqLocalProducts(const QT& qt, int s, int local,
                                                const int32_t* cols, T* ks,
                                                T* vs, const T* qs,
                                                const T* dos, float scale,
                                                T* dk, T* dv) {
  using St = Steps<BL>;
  const int it = qt.nsteps - 2 + s;
  ProxyFence();
  __syncthreads();  // every P and dS row is in; the last step's products done
  // Warpgroup 0: A = P^T (P's tiles), B = dO; 1: A = dS^T, B = Q.
  T* a = qt.wg ? vs : ks;
  const T* b = qt.wg ? qs : dos;  // [128][64]
  float d[8][4];
  WgFence();
#pragma unroll
  for (int kk = 0; kk < 8; ++kk) {
    Wgmma<T>::template SS64<1, 1>(
        d, MNMajor(DqLocalTile(qt, a, s, kk / 4), kk % 4),
        MNMajor(b + (kk / 4) * kW * kD, kk % 4), kk > 0);
  }
  WgCommit();
  WgWait();
  Pin(d);
  __syncthreads();  // every product is done with the tiles
  // Row r of this warp: key 16 w4 + r of the step; staged in this warp's
  // own rows of P's tile. (The thread index read anew, as in DqLocalAt.)
  int tid;
  asm volatile("mov.u32 %0, %%tid.x;" : "=r"(tid));
  const int w4 = tid / 32 % 4;
  const float sc = qt.wg ? scale : 1.f;
  StoreRowsStaged((qt.wg ? dk : dv) + qt.slab * kD,
                  DqLocalTile(qt, ks, s, qt.wg) + w4 * 16 * kD, d, sc, sc,
                  tid % 32, [&](int r) -> int64_t {
                    const int key = w4 * 16 + r;
                    if (!((local >> (BL < kW ? key / BL : 0)) & 1)) return -1;
                    const int blk = __ldg(cols + qt.e0 + St::Entry(it, key));
                    return static_cast<int64_t>(blk) * BL + St::Offset(it, key);
                  });
}

constexpr int kDqSmem = (2 * 128 + 2 * kQStages * kW) * kD * 2 + 1024;

// dq = scale * sum_j dS_ij k_j, dS = P * (dP - delta), dP = dout V^T.
// CTA = 128 query rows, 2 warpgroups; Q and dO stay in shared memory as the
// A operands of S = Q K^T and dP = dO V^T. Two CTAs per SM (128 registers;
// 24 and 52 bytes of spill at blocks 128 and 32 with the cp.async ring, 0
// and 36 with TMA) for blocks of 32 and up, one for blocks of 16, which
// would spill 372 bytes at two (KERNEL_NOTES.md, v29, v33, v56). kLocal:
// the layout has LayoutView::dq_local_keys (a kernel of its own: their code
// made the other steps 3% slower, KERNEL_NOTES.md, v76).
template <typename T, int BL, bool kTma, bool kLocal, bool kLead>
__global__ void __launch_bounds__(256, BL >= 32 ? 2 : 1)
    DqKernel(LayoutView L, RowTiles tiles, int heads, float scale_log2,
             float scale, const T* __restrict__ q, const T* __restrict__ k,
             const T* __restrict__ v, const T* __restrict__ dout,
             const float* __restrict__ lse, const float* __restrict__ delta,
             T* __restrict__ dq, T* __restrict__ dk, T* __restrict__ dv,
             const __grid_constant__ CUtensorMap tm_k,
             const __grid_constant__ CUtensorMap tm_v) {
  using St = Steps<BL>;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* base = AlignSmem(smem_raw);
  T* qs = reinterpret_cast<T*>(base);  // [128][64]
  T* dos = qs + 128 * kD;              // [128][64]
  T* ks = dos + 128 * kD;              // [kQStages][64][64]
  T* vs = ks + kQStages * kW * kD;     // [kQStages][64][64]

  QueryTile<BL, kTma> qt(L, tiles, heads);
  qt.PrefetchCodes(tiles);
  TimelineStart(kTimelineDq, qt.nsteps);
  qt.SetTma(&tm_k, &tm_v, RingBarriers(smem_raw, base, kDqSmem - 1024));
  qt.LoadRows(qs, q);
  qt.LoadRows(dos, dout);
  qt.Prologue(ks, vs, k, v);  // Q and dO join step 0's group
  const DqRows rows = LoadDqRows(qt.first_row + qt.warp * 16 + qt.g, qt.n,
                                 qt.inv, lse + qt.slab, delta + qt.slab);
  const T* qw = qt.Own(qs);
  const T* dow = qt.Own(dos);
  // The key blocks of the last two steps whose dK and dV this CTA computes
  // (LayoutView::dq_local_keys): every query that uses them is in this tile.
  const int local_mask =
      kLocal ? __ldg(L.dq_local_keys +
                     static_cast<int64_t>(qt.layout_head) * tiles.num_tiles +
                     qt.tile_id)
             : 0;

  // Steps before the two local ones, and of those the leading full ones.
  const int plain_steps =
      kLocal && local_mask != 0 ? max(qt.nsteps - 2, 0) : qt.nsteps;
  const int lead = kLead ? qt.LeadingFull(tiles, plain_steps) : 0;
  float acc[8][4] = {};
  // Step it; kLocalSteps: one of the last two of a tile with local keys (the
  // code for them only there: in every step it made ptxas spill in the
  // loop, and the fixed pattern's dq steps took 14% longer).
  // kRun: one of the tile's leading full steps (below).
  auto step = [&](int it, auto local_steps, auto full_run) {
    constexpr bool kLocalSteps = decltype(local_steps)::value;
    constexpr bool kRun = decltype(full_run)::value;
    int code[St::E];
    const bool use =
        qt.template BeginStep<kRun>(it, ks, vs, k, v, code, it + 1 >= lead);
    if (kTimeline && it == 0) TimelineMark(kTimelineDq, &CtaTimes::first_ns);
    // This step's slices (bit e) whose keys are this CTA's (CTA-uniform).
    const int local_s = it - (qt.nsteps - 2);  // 0 or 1 on the last two
    const int local =
        kLocalSteps ? (local_mask >> (local_s * St::E)) & ((1 << St::E) - 1)
                    : 0;
    // A local step's P and dS tiles (this warpgroup's rows); at the last
    // step one is the step before's slot (every thread must be past it).
    if (local != 0 && local_s == 1) __syncthreads();
    T* const p_own = DqLocalTile(qt, ks, local_s, qt.wg);
    T* const ds_own = DqLocalTile(qt, vs, local_s, qt.wg);
    // This lane's pair (row g + 8 h, columns 8 j + 2 t4 ..) of P or dS.
    auto write_local = [&](T* tile, int j, int h, uint32_t pair) {
      *reinterpret_cast<uint32_t*>(tile + DqLocalAt(j, h)) = pair;
    };
    if (use) {
      const T* kb = ks + (it % kQStages) * kW * kD;
      const T* vb = vs + (it % kQStages) * kW * kD;
      float s[8][4], dp[8][4];
      IssueTwoScoreProducts<T>(s, qw, kb, dp, dow, vb);
      // Every key live for every row (a local step takes the masked path,
      // which keeps P).
      const bool full = kRun || (AllFull(code) && local == 0);
      LaneBits bits[St::E][2];
      if (!full) qt.Bits(L, it, code, bits);  // as in the forward
      WaitScores(s, dp);
      // dS = P * (dP - delta), the exp for every element, then a select: no
      // branch per element. A step of full blocks takes a branch without the
      // mask tests: about 50 fewer instructions a warp and step, and this
      // pass's time follows its instruction count (KERNEL_NOTES.md, v50).
      // (`full || test` in one loop instead makes ptxas test every element
      // with compare chains: 82 more instructions a step.)
      // kWriteLocal: P and dS also into the local step's tiles (bf16).
      auto scores_to_ds = [&](auto masked, auto local_step) {
        constexpr bool kMasked = decltype(masked)::value;
        constexpr bool kWriteLocal = decltype(local_step)::value;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          float pj[4];
#pragma unroll
          for (int i = 0; i < 4; ++i) {
            const int c = (j * 8) % qt.kSlice + (i & 1);
            const float e = FastExp2(s[j][i] * scale_log2 - rows.lse2[i >> 1]);
            const float p =
                !kMasked || bits[St::Slice(j)][i >> 1].Test(c) ? e : 0.f;
            s[j][i] = p * (dp[j][i] - rows.delta[i >> 1]);
            pj[i] = p;
          }
          if constexpr (kWriteLocal) {
#pragma unroll
            for (int h = 0; h < 2; ++h) {
              write_local(p_own, j, h, Ops<T>::pack(pj[2 * h], pj[2 * h + 1]));
              write_local(ds_own, j, h,
                          Ops<T>::pack(s[j][2 * h], s[j][2 * h + 1]));
            }
          }
        }
      };
      if (full) {
        scores_to_ds(std::false_type(), std::false_type());
      } else if (!kLocalSteps || local == 0) {
        scores_to_ds(std::true_type(), std::false_type());
      } else {
        scores_to_ds(std::true_type(), std::true_type());
      }
      AccumulatePB<T>(acc, s, kb);
    } else if (local != 0) {  // no key of the step for these rows: zeros
#pragma unroll
      for (int j = 0; j < 8; ++j) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          write_local(p_own, j, h, 0u);
          write_local(ds_own, j, h, 0u);
        }
      }
    }
  };
  // The tile's leading full steps first, in a loop of their own that takes
  // no codes (but reads the next step's at its last), then the rest.
  for (int it = 0; it < lead; ++it)
    step(it, std::false_type(), std::true_type());
  for (int it = lead; it < plain_steps; ++it)
    step(it, std::false_type(), std::false_type());
  if constexpr (kLocal) {
    for (int it = plain_steps; it < qt.nsteps; ++it)
      step(it, std::true_type(), std::false_type());
  }
  CpAsyncWait<0>();
  TimelineMark(kTimelineDq, &CtaTimes::loop_ns);
  // dK, dV of the local key blocks of the last two steps (every thread:
  // CTA barriers).
  if (kLocal && local_mask != 0) {
#pragma unroll
    for (int ls = 0; ls < 2; ++ls) {
      const int local = (local_mask >> (ls * St::E)) & ((1 << St::E) - 1);
      if (local != 0 && qt.nsteps - 2 + ls >= 0) {
        DqLocalProducts<T, BL>(qt, ls, local, tiles.cols, ks, vs, qs, dos,
                               scale, dk, dv);
      }
    }
  }
  // dq through shared memory (Q's tile, free once both warpgroups are past
  // their last product) as 16-byte rows (v71).
  __syncthreads();
  StoreRowsStaged(dq + qt.slab * kD, qs + qt.warp * 16 * kD, acc, scale, scale,
                  qt.lane, [&](int r) { return qt.RowPos(qt.warp * 16 + r); });
  TimelineMark(kTimelineDq, &CtaTimes::end_ns);
}

// ---- Backward: dk/dv pass ---------------------------------------------------

// A column tile: 128 keys, 64 per warpgroup. Both warpgroups take every step
// of the tile's query list, reading one Q/dO ring: each step's Q/dO rows are
// loaded once for 128 keys.
constexpr int kDkvKeys = 2 * kW;
// A step's lse and delta (64 query columns each) are stored so that the 16
// columns of a lane (8 j + 2 t4 + c, j < 8, c < 2) are contiguous: four
// 16-byte loads a lane instead of eight 8-byte ones. Column q is at
// ScalarSlot(q); 4 floats of padding per t4 group put the four groups'
// loads on distinct banks.
constexpr int kScalarStride = 20;
constexpr int kScalarFloats = 4 * kScalarStride;  // a step's lse (or delta)
__device__ __forceinline__ int ScalarSlot(int q) {
  return (q % 8 / 2) * kScalarStride + (q / 8) * 2 + q % 2;
}
// The ring of Q/dO tiles and their lse, delta and positions, rounded up to
// the 1024-byte swizzle atom; with kDq a dS^T tile per warpgroup follows
// (the A operand of dq += dS K).
constexpr int kDkvRingBytes =
    (kStages * (2 * kW * kD * 2 + 2 * kScalarFloats * 4 + kW * 4) + 1023) /
    1024 * 1024;
template <bool kDq>
constexpr int DkvData() {
  return 2 * kDkvKeys * kD * 2 + kDkvRingBytes + (kDq ? 2 * kW * kW * 2 : 0);
}
// The data, the TMA ring's mbarriers (kTma) and the alignment slack.
template <bool kDq>
constexpr int DkvSmem() {
  return DkvData<kDq>() + 8 * kStages + 1024;
}

__device__ __forceinline__ void WarpgroupSync(int wg) {
  asm volatile("bar.sync %0, 128;\n" ::"r"(wg + 1) : "memory");
}

// dv = sum_i P_ij dout_i; dk = scale * sum_i dS_ij q_i; with kDq also
// dq_acc_i += sum_j dS_ij k_j (fp32 atomics, unscaled; the dq pass is then
// skipped). Without kDq the steps are software-pipelined (see the loop). CTA =
// one column tile of 128 keys (CG = 128 / BL key blocks, or one 128-block)
// grouped at upload by similar column lists; warpgroup wg owns keys
// 64 wg .. 64 wg + 63 and both walk the union of the tile's query blocks, 64
// queries a step, from one ring. K and V stay in shared memory as the A
// operands of S^T = K Q^T and dP^T = V dO^T. The first L.dkv_split_tiles
// tiles of each head (the longest) run in a kernel of its own (kSplit), each
// as the two CTAs of a cluster: pieces 0 and 1 take the first and the second
// half of the steps, and piece 0 adds piece 1's partials and stores. The
// other tiles run one CTA each (!kSplit). With kTma (layouts without a
// permutation, blocks of 64 and 128) the Q/dO ring is filled by TMA.
template <typename T, int BL, bool kDq, bool kSplit, bool kTma>
__global__ void __launch_bounds__(256, 1)
    DkvKernel(LayoutView L, int heads, float scale_log2, float scale,
              const T* __restrict__ q, const T* __restrict__ k,
              const T* __restrict__ v, const T* __restrict__ dout,
              const float* __restrict__ lse, const float* __restrict__ delta,
              T* __restrict__ dk, T* __restrict__ dv,
              float* __restrict__ dq_acc,
              const __grid_constant__ CUtensorMap tm_q,
              const __grid_constant__ CUtensorMap tm_do) {
  using St = Steps<BL>;
  constexpr int CG = BL < kDkvKeys ? kDkvKeys / BL : 1;  // key blocks a tile
  constexpr int WB = BL < kW ? kW / BL : 1;  // key blocks a warpgroup
  extern __shared__ unsigned char smem_raw[];
  T* ks = reinterpret_cast<T*>(AlignSmem(smem_raw));  // [128][64]
  T* vs = ks + kDkvKeys * kD;                         // [128][64]
  T* qs = vs + kDkvKeys * kD;                         // [kStages][64][64]
  T* dos = qs + kStages * kW * kD;                    // [kStages][64][64]
  float* lse_s = reinterpret_cast<float*>(
      dos + kStages * kW * kD);                    // [kStages][kScalarFloats]
  float* dlt_s = lse_s + kStages * kScalarFloats;  // [kStages][kScalarFloats]
  int32_t* pos_s = reinterpret_cast<int32_t*>(
      dlt_s + kStages * kScalarFloats);  // [kStages][64]
  // wg broadcast from lane 0: warp-uniform to the compiler (see QueryTile).
  const int tid = threadIdx.x, wg = __shfl_sync(0xffffffffu, tid / 128, 0),
            wtid = tid % 128, warp = wtid / 32, lane = tid % 32, g = lane / 4,
            t4 = lane % 4;
  // This warpgroup's 64 keys, and its dS^T tile (kDq).
  const T* kw = ks + wg * kW * kD;  // [64][64]
  const T* vw = vs + wg * kW * kD;  // [64][64]
  T* dst_s = reinterpret_cast<T*>(reinterpret_cast<unsigned char*>(qs) +
                                  kDkvRingBytes) +
             wg * kW * kW;  // [64][64]

  static_assert(!(kDq && kSplit), "no split tiles with fused dq");
  static_assert(!(kDq && kTma), "fused dq keeps the cp.async ring");
  // kTma: slot b of the Q/dO ring complete when ring_bars[b] flips. Past
  // the data (this pass has room), not in the alignment padding where
  // RingBarriers puts the forward's and dq's: there dense f+b was 1% slower
  // (KERNEL_NOTES.md, v64).
  uint64_t* ring_bars = reinterpret_cast<uint64_t*>(
      reinterpret_cast<unsigned char*>(ks) + DkvData<kDq>());
  // Split tiles: a cluster of two CTAs (pieces) per tile and head.
  constexpr int kPieces = kSplit ? 2 : 1;
  const GridSlot gs = SlotOf<kPieces>(L.interleave_heads, heads);
  const int tile = kSplit ? gs.item : gs.item + L.dkv_split_tiles;
  const int piece = kSplit ? blockIdx.x % 2 : 0;
  const int h = gs.h;
  const int lh = h % L.layout_heads;
  const int64_t n = L.n;
  const int64_t slab = gs.bh * n;
  const int32_t* inv = L.inverse_perm ? L.inverse_perm + lh * n : nullptr;
  const int32_t* keys =
      L.col_tile_keys +
      (static_cast<int64_t>(lh) * L.num_col_tiles + tile) * CG;
  const int64_t* co =
      L.col_tile_offsets + static_cast<int64_t>(lh) * (L.num_col_tiles + 1);
  const int64_t c0 = co[tile];
  const int nent = static_cast<int>(co[tile + 1] - c0);
  const int nsteps = St::Count(nent);  // of the tile
  // This CTA's steps: the tile's steps step0 .. step0 + nlocal - 1 (piece
  // 0 of a split tile the first half, piece 1 the rest).
  const int half = (nsteps + 1) / 2;
  const int step0 = piece * half;
  const int nlocal = kSplit ? (piece == 0 ? half : nsteps - half) : nsteps;
  constexpr int kPass = kSplit ? kTimelineDkvSplit : kTimelineDkv;
  TimelineStart(kPass, nlocal);
  // This warp's 16 keys (tile keys tk .. tk + 15): key block kb of the tile,
  // lane keys kr, kr + 8 in it; the warpgroup's key blocks start at wb0, the
  // warp's is slot wb0 + slot.
  const int tk = wg * kW + warp * 16;
  const int kb = BL < kDkvKeys ? tk / BL : 0;
  const int kr = tk % BL + g;
  const int wb0 = BL < kDkvKeys ? wg * kW / BL : 0;
  const int slot = kb - wb0;
  // The warp's key block, for the stores: read now, not after the loop,
  // where its latency delayed every tile's end (v68).
  const int own_block = __ldg(keys + kb);

  auto key_pos = [&](int r) -> int64_t {
    const int b = __ldg(keys + (BL < kDkvKeys ? r / BL : 0));
    if (b < 0) return -1;
    const int64_t key = static_cast<int64_t>(b) * BL + r % BL;
    return inv ? __ldg(inv + key) : key;
  };
  LoadTile<T, kDkvKeys, 256>(ks, k + slab * kD, key_pos, tid);
  LoadTile<T, kDkvKeys, 256>(vs, v + slab * kD, key_pos, tid);
  CpAsyncCommit();

  // Q/dO rows (and their lse, delta) of every step stream through the ring;
  // with kTma the rows come as TMA boxes issued by thread 0 (load_q), the
  // lse and delta by cp.async as without.
  RowStream<BL, 256, true> qd{L.col_tile_rows, inv, c0, nent, nsteps, tid};
  qd.step0 = step0;
  qd.Start();
  // kTma, thread 0: block ids of local step s (-1 past the list), read a
  // step before its boxes are issued.
  int tma_ids[St::E];
  auto read_tma_ids = [&](int s) {
    StepBlockIds<BL>(L.col_tile_rows, c0, nent, nsteps, step0 + s, tma_ids);
  };
  auto load_q = [&](int it) {
    const int buf = it % kStages;
    if constexpr (kTma) {
      // Thread 0: the step's Q and dO rows as boxes, then the next ids.
      if (tid == 0) {
        TmaStepRows<T, BL>(qs + buf * kW * kD, dos + buf * kW * kD, &tm_q,
                           &tm_do, tma_ids, slab, step0 + it, ring_bars + buf);
        read_tma_ids(it + 1);
      }
    } else {
      qd.Copy(qs + buf * kW * kD, q + slab * kD);
      qd.Copy(dos + buf * kW * kD, dout + slab * kD);
    }
    if (tid < kW) {
      const int p = qd.ScalarPos();
      const int si = buf * kScalarFloats + ScalarSlot(tid);
      if (p >= 0) {
        CpAsync4(lse_s + si, lse + slab + p);
        CpAsync4(dlt_s + si, delta + slab + p);
      } else {
        lse_s[si] = -INFINITY;  // padding: p = 0
        dlt_s[si] = 0.f;
      }
      // Read a step after the lookup that produced it: no stall here.
      if (kDq) pos_s[buf * kW + tid] = static_cast<int32_t>(p);
    }
  };
  if constexpr (kTma) {
    if (tid == 0) {
#pragma unroll
      for (int b = 0; b < kStages; ++b) MbarInit(ring_bars + b, 1);
      MbarInitFence();  // visible at the barrier before the loop
      read_tma_ids(0);
    }
  }
  // Launched as the delta kernel's programmatic dependent: delta (and lse)
  // are read from here on. (A no-op in an ordinary launch.) Then the dq
  // pass, this kernel's programmatic dependent (BackwardDq, after_dkv), may
  // start once every CTA here is past this point: delta is complete.
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;");
#pragma unroll
  for (int st = 0; st < kAhead; ++st) {  // {step 0}, {step 1}, ...
    if (st < nlocal) load_q(st);
    CpAsyncCommit();
    qd.Advance();
  }
  // This warpgroup's codes of the next step, read a step early.
  int next_codes[St::E][WB];
  const int32_t* code_row = L.col_tile_codes + c0 * CG + wb0;
  StepCodes<BL, WB>(code_row, nent, step0, CG, next_codes);
  PrefetchLinesL1(L.col_tile_codes + (c0 + St::Entry(step0, 0)) * CG,
                  (nent - St::Entry(step0, 0)) * CG, tid, 256);
  // This warp's codes for step `it`, and the next step's read.
  auto take_codes = [&](int it, int(&code)[St::E]) {
#pragma unroll
    for (int j = 0; j < St::E; ++j) code[j] = Pick(next_codes[j], slot);
    StepCodes<BL, WB>(code_row, nent, step0 + it + 1, CG, next_codes);
  };
  // The step's lse entry of this thread (its own copy) to base 2: +inf for
  // a row with no live key and for padding, so that p = 0.
  auto lse_to_base2 = [&](int it) {
    if (tid < kW) {
      float& l = lse_s[(it % kStages) * kScalarFloats + ScalarSlot(tid)];
      l = l == -INFINITY ? INFINITY : l * kLog2e;
    }
  };
  // The live bits of this lane's two keys (kr, kr + 8) over the step's 64
  // queries.
  auto key_bits = [&](int it, const int(&code)[St::E], uint64_t(&live)[2]) {
    constexpr int kSlice = BL < kW ? BL : kW;  // queries of a code
    const int q0 = St::Offset(step0 + it, 0);  // first query in its block
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      live[h] = 0;
#pragma unroll
      for (int e = 0; e < St::E; ++e) {
        live[h] |= KeyBits<kSlice>(code[e], kr + 8 * h, q0, t4, BL,
                                   L.mask_words, L.words_per_mask)
                   << (e * kSlice);
      }
    }
  };
  // S^T, dP^T (keys x queries) -> P^T and dS^T = P^T * (dP^T - delta), for
  // this lane's 16 query columns (j * 8 + 2 t4 + c); the exp for every
  // element, then a select: no branch per element.
  auto probabilities = [&](float(&st)[8][4], float(&dpt)[8][4],
                           const uint64_t(&live)[2], const float2(&lse2)[8],
                           const float2(&dlt)[8]) {
    const LaneBits lane_live[2] = {LaneBits(live[0], t4),
                                   LaneBits(live[1], t4)};
#pragma unroll
    for (int j = 0; j < 8; ++j) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int c = i & 1;
        const float l2 = c ? lse2[j].y : lse2[j].x;
        const float dl = c ? dlt[j].y : dlt[j].x;
        const float e = FastExp2(st[j][i] * scale_log2 - l2);
        const float p = lane_live[i >> 1].Test(j * 8 + c) ? e : 0.f;
        st[j][i] = p;
        dpt[j][i] = p * (dpt[j][i] - dl);
      }
    }
  };
  // lse (base 2) and delta of this lane's query columns (j * 8 + 2 t4 + c
  // as lse2[j], dlt[j]), four columns per load.
  auto row_scalars = [&](int it, float2(&lse2)[8], float2(&dlt)[8]) {
    const int at = (it % kStages) * kScalarFloats + t4 * kScalarStride;
    const float4* lsb = reinterpret_cast<const float4*>(lse_s + at);
    const float4* dlb = reinterpret_cast<const float4*>(dlt_s + at);
#pragma unroll
    for (int j = 0; j < 8; j += 2) {
      const float4 l4 = lsb[j / 2], d4 = dlb[j / 2];
      lse2[j] = make_float2(l4.x, l4.y);
      lse2[j + 1] = make_float2(l4.z, l4.w);
      dlt[j] = make_float2(d4.x, d4.y);
      dlt[j + 1] = make_float2(d4.z, d4.w);
    }
  };
  auto q_tile = [&](int it) { return qs + (it % kStages) * kW * kD; };
  auto do_tile = [&](int it) { return dos + (it % kStages) * kW * kD; };

  float dka[8][4] = {};
  float dva[8][4] = {};
  if constexpr (!kDq) {
    // Software-pipelined over the steps: the products dV += P^T dO and
    // dK += dS^T Q of step it and the score products S^T = K Q^T,
    // dP^T = V dO^T of step it + 1 go out as one group, so the tensor cores
    // run them back to back while this warpgroup computes step it + 1's mask
    // bits and reads its lse and delta; one wait a step.
    // Ring: step it + 1's rows are waited for (and step it + 3's loads
    // issued) only after both warpgroups' waits of step it (the CTA barrier
    // in ready), which retire the products of step it - 1, the last readers
    // of the slot it refills.
    auto ready = [&](int it, int(&code)[St::E]) {
      CpAsyncWait<kAhead - 1>();  // step it's group (it + 1's may be open)
      lse_to_base2(it);
      ProxyFence();
      __syncthreads();  // both warpgroups read every slot
      if (it + kAhead < nlocal) load_q(it + kAhead);
      CpAsyncCommit();
      qd.Advance();
      take_codes(it, code);
      if constexpr (kTma)  // step it's Q and dO rows
        MbarWait(ring_bars + it % kStages, (it / kStages) & 1);
    };
    CpAsyncWait<kAhead>();  // K and V (the oldest group) are in
    ProxyFence();
    __syncthreads();
    float st[8][4], dpt[8][4];
    uint32_t pa[4][4] = {}, pb[4][4] = {};  // P^T, dS^T as A fragments
    int code[St::E];
    // Every accumulator defined before the first products are issued.
    Pin(dva);
    Pin(dka);
    Pin(pa);
    Pin(pb);
    if (nlocal > 0) {
      ready(0, code);
      IssueTwoScoreProducts<T>(st, kw, q_tile(0), dpt, vw, do_tile(0));
    }
    // Step it; with_next: also step it + 1's ring and score products (the
    // last step is peeled off, so no wgmma sits under a branch: ptxas would
    // serialize them to merge the accumulators of the two paths).
    auto step_body = [&](int it, auto with_next) {
      constexpr bool kNext = decltype(with_next)::value;
      // Every key of this warp live for every query of the step: no mask
      // bits to work out (the selects stay: a branch to a copy without them
      // was slower, as in v49; KERNEL_NOTES.md, v80).
      uint64_t live[2] = {~0ull, ~0ull};
      if (!AllFull(code)) key_bits(it, code, live);
      float2 lse2[8], dlt[8];
      row_scalars(it, lse2, dlt);
      WgWait();  // S^T, dP^T of step it; dV, dK of step it - 1
      Pin(st);
      Pin(dpt);
      Pin(dva);
      Pin(dka);
      Pin(pa);
      Pin(pb);
      probabilities(st, dpt, live, lse2, dlt);
      if constexpr (kNext) ready(it + 1, code);
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        PackA<T>(pa[kk], st, kk);
        PackA<T>(pb[kk], dpt, kk);
      }
      Pin(dva);
      Pin(dka);
      Pin(pa);
      Pin(pb);
      Pin(st);
      Pin(dpt);
      WgFence();
      if constexpr (kNext) {
        const T* qn = q_tile(it + 1);
        const T* don = do_tile(it + 1);
#pragma unroll
        for (int kk = 0; kk < 4; ++kk)
          Wgmma<T>::template SS64<0, 0>(st, KMajor(kw, kk), KMajor(qn, kk),
                                        kk > 0);
#pragma unroll
        for (int kk = 0; kk < 4; ++kk)
          Wgmma<T>::template SS64<0, 0>(dpt, KMajor(vw, kk), KMajor(don, kk),
                                        kk > 0);
      }
      const T* qb = q_tile(it);
      const T* dob = do_tile(it);
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
        Wgmma<T>::template RS64<1>(dva, pa[kk], MNMajor(dob, kk), 1);
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
        Wgmma<T>::template RS64<1>(dka, pb[kk], MNMajor(qb, kk), 1);
      Pin(st);
      Pin(dpt);
      Pin(dva);
      Pin(dka);
      WgCommit();
    };
    for (int it = 0; it + 1 < nlocal; ++it) step_body(it, std::true_type());
    if (nlocal > 0) step_body(nlocal - 1, std::false_type());
    WgWait();
    Pin(dva);
    Pin(dka);
    Pin(pa);
    Pin(pb);
  } else {
    CpAsyncWait<kAhead>();  // K and V (the oldest group) are in
    ProxyFence();
    __syncthreads();
    for (int it = 0; it < nlocal; ++it) {
      if (it + kAhead < nlocal) load_q(it + kAhead);
      CpAsyncCommit();
      qd.Advance();
      int code[St::E];
      take_codes(it, code);
      CpAsyncWait<kAhead>();
      lse_to_base2(it);
      ProxyFence();
      __syncthreads();
      // Every step, also one this warpgroup's keys do not use (then
      // masked to zero): both warpgroups meet at the same barriers.
      const int buf = it % kStages;
      const T* qb = q_tile(it);
      const T* dob = do_tile(it);
      float st[8][4], dpt[8][4];  // S^T, dP^T: keys x queries
      IssueTwoScoreProducts<T>(st, kw, qb, dpt, vw, dob);
      uint64_t live[2];
      key_bits(it, code, live);
      WaitScores(st, dpt);
      float2 lse2[8], dlt[8];
      row_scalars(it, lse2, dlt);
      probabilities(st, dpt, live, lse2, dlt);
      AccumulatePB<T>(dva, st, dob);
      // dS^T into shared memory, the A operand of dq += dS K
#pragma unroll
      for (int j = 0; j < 8; ++j) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          *reinterpret_cast<uint32_t*>(dst_s + Swz(warp * 16 + g + 8 * h, j) +
                                       2 * t4) =
              Ops<T>::pack(dpt[j][2 * h], dpt[j][2 * h + 1]);
        }
      }
      AccumulatePB<T>(dka, dpt, qb);
      ProxyFence();
      WarpgroupSync(wg);
      // dq rows of the step (queries) += dS (64 x 64 keys) K (64 x 64):
      // dS^T's rows are the K index, so both operands are MN-major.
      float dqa[8][4];
      WgFence();
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
        Wgmma<T>::template SS64<1, 1>(dqa, MNMajor(dst_s, kk), MNMajor(kw, kk),
                                      kk > 0);
      WgCommit();
      WgWait();
      Pin(dqa);
      const int32_t* pb = pos_s + buf * kW;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int32_t pq = pb[warp * 16 + g + 8 * h];
        if (pq < 0) continue;  // padding row
        float* row = dq_acc + (slab + pq) * kD + 2 * t4;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          atomicAdd(reinterpret_cast<float2*>(row + j * 8),
                    make_float2(dqa[j][2 * h], dqa[j][2 * h + 1]));
        }
      }
    }
  }
  CpAsyncWait<0>();
  TimelineMark(kPass, &CtaTimes::loop_ns);
  if constexpr (kSplit) {
    // Piece 1's dK, dV (fp32, [2][128][64]) go into its ring, free once
    // every warp is past its last wait; piece 0 adds them to its own, in
    // piece order (deterministic), through distributed shared memory. The
    // second cluster barrier keeps piece 1's shared memory alive until then.
    cooperative_groups::cluster_group cluster =
        cooperative_groups::this_cluster();
    float* part = reinterpret_cast<float*>(qs);
    // Accumulator element (j, 2 c .. 2 c + 1) of this lane: its offset in a
    // [128][64] tile.
    auto offset = [&](int j, int c) {
      return (wg * kW + warp * 16 + g + c * 8) * kD + j * 8 + 2 * t4;
    };
    __syncthreads();
    if (piece == 1) {
#pragma unroll
      for (int j = 0; j < 8; ++j) {
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          *reinterpret_cast<float2*>(part + offset(j, c)) =
              make_float2(dka[j][2 * c], dka[j][2 * c + 1]);
          *reinterpret_cast<float2*>(part + kDkvKeys * kD + offset(j, c)) =
              make_float2(dva[j][2 * c], dva[j][2 * c + 1]);
        }
      }
    }
    cluster.sync();
    if (piece == 0) {
      const float* other = cluster.map_shared_rank(part, 1);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const float2 pk =
              *reinterpret_cast<const float2*>(other + offset(j, c));
          const float2 pv = *reinterpret_cast<const float2*>(
              other + kDkvKeys * kD + offset(j, c));
          dka[j][2 * c] += pk.x;
          dka[j][2 * c + 1] += pk.y;
          dva[j][2 * c] += pv.x;
          dva[j][2 * c + 1] += pv.y;
        }
      }
    }
    cluster.sync();
    if (piece == 1) {
      TimelineMark(kPass, &CtaTimes::end_ns);
      return;
    }
  }
  // dK and dV of this warp's 16 keys go through shared memory (the Q/dO
  // ring, free once every warp is past the loop) and out as 16-byte rows
  // (v70: 1.95 -> 0.80 us a tile).
  __syncthreads();
  // An empty slot of the tile: nothing to store.
  if (own_block < 0) return;
  T* stage = qs + (wg * 4 + warp) * 2 * 16 * kD;  // [2][16][64]
  const int64_t key0 = static_cast<int64_t>(own_block) * BL + tk % BL;
  auto key_row = [&](int r) -> int64_t {
    return slab + (inv ? __ldg(inv + key0 + r) : key0 + r);
  };
  StoreRowsStaged(dk, stage, dka, scale, scale, lane, key_row);
  StoreRowsStaged(dv, stage + 16 * kD, dva, 1.f, 1.f, lane, key_row);
  TimelineMark(kPass, &CtaTimes::end_ns);
}

// ---- Launchers --------------------------------------------------------------

RowTiles HopperRowTiles(const LayoutView& L) {
  if (L.block == 128) {
    return RowTiles{L.row_offsets, L.row_cols, L.row_masks, L.num_blocks,
                    L.hopper_row_leading_full};
  }
  if (L.hopper_tile_row_offsets != nullptr) {
    return RowTiles{L.hopper_tile_row_offsets, L.hopper_tile_row_cols,
                    L.hopper_tile_row_codes, L.num_tiles,
                    L.hopper_row_leading_full};
  }
  return RowTiles{L.tile_row_offsets, L.tile_row_cols, L.tile_row_codes,
                  L.num_tiles, L.hopper_row_leading_full};
}

// A launch of `kernel` (256 threads, `smem` bytes of dynamic shared memory)
// with at most one launch attribute.
template <typename... Params, typename... Args>
cudaError_t Launch256(void (*kernel)(Params...), dim3 grid, int smem,
                      cudaStream_t stream, cudaLaunchAttribute* attr,
                      Args&&... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = dim3(256);
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = attr;
  config.numAttrs = attr ? 1 : 0;
  return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

// cuTensorMapEncodeTiled, from the driver (no link-time dependency on it).
using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType,
                                   cuuint32_t, void*, const cuuint64_t*,
                                   const cuuint64_t*, const cuuint32_t*,
                                   const cuuint32_t*, CUtensorMapInterleave,
                                   CUtensorMapSwizzle, CUtensorMapL2promotion,
                                   CUtensorMapFloatOOBfill);
EncodeTiledFn TensorMapEncoder() {
  static const EncodeTiledFn fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult found;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000,
                                         cudaEnableDefault,
                                         &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess) {
      cudaGetLastError();
      return static_cast<EncodeTiledFn>(nullptr);
    }
    return reinterpret_cast<EncodeTiledFn>(f);
  }();
  return fn;
}

// The K/V ring's tensor maps (K and V as [rows, 64] of T, boxes of
// box_rows x 64, 128-byte swizzle, zeros out of bounds; the dk/dv pass's
// Q/dO ring uses them for Q and dO), for layouts without
// a permutation (a permuted layout's rows are gathered one by one, by
// cp.async). False where TMA cannot be used; the caller then takes the
// cp.async kernel.
struct KvMaps {
  CUtensorMap k, v;
};
template <typename T>
bool EncodeKvMaps(const LayoutView& L, const Problem& p, const void* k,
                  const void* v, int box_rows, KvMaps* maps) {
  const EncodeTiledFn encode = TensorMapEncoder();
  const int64_t rows = static_cast<int64_t>(p.batch) * p.heads * L.n;
  if (L.inverse_perm != nullptr || encode == nullptr ||
      rows >= (int64_t{1} << 31) - kW || reinterpret_cast<uintptr_t>(k) % 16 ||
      reinterpret_cast<uintptr_t>(v) % 16) {
    return false;
  }
  const cuuint64_t dims[2] = {kD, static_cast<cuuint64_t>(rows)};
  const cuuint64_t strides[1] = {kD * sizeof(T)};
  const cuuint32_t box[2] = {kD, static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t elem[2] = {1, 1};
  const CUtensorMapDataType type = std::is_same_v<T, __half>
                                       ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16
                                       : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  for (auto [map, base] : {std::pair{&maps->k, k}, std::pair{&maps->v, v}}) {
    if (encode(map, type, 2, const_cast<void*>(base), dims, strides, box, elem,
               CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
               CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
               CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS) {
      return false;
    }
  }
  return true;
}

// Calls f(std::true_type()) with the K/V maps where the pass takes TMA
// (kAllowed) and it serves this call, else f(std::false_type()) (maps
// unused).
template <typename T, int BL, bool kAllowed, typename F>
int WithKvMaps(const LayoutView& L, const Problem& p, const void* k,
               const void* v, KvMaps* maps, F&& f) {
  *maps = KvMaps{};
  if constexpr (kAllowed) {
    if (EncodeKvMaps<T>(L, p, k, v, TmaBoxRows(BL), maps))
      return f(std::true_type());
  }
  return f(std::false_type());
}

template <typename T, int BL>
int LaunchForwardKernel(const LayoutView& L, const Problem& p, const void* q,
                        const void* k, const void* v, void* out, float* lse,
                        cudaStream_t s) {
  KvMaps maps;
  return WithKvMaps<T, BL, kForwardTma<BL>>(
      L, p, k, v, &maps, [&](auto tma) -> int {
        constexpr bool kTma = decltype(tma)::value;
        static const cudaError_t ok =
            PrepareSmem(ForwardKernel<T, BL, kTma>, kFwdSmem);
        if (ok != cudaSuccess) return ok;
        const RowTiles tiles = HopperRowTiles(L);
        const dim3 grid =
            GridFor(L.interleave_heads, tiles.num_tiles, p.heads, p.batch);
        ForwardKernel<T, BL, kTma><<<grid, 256, kFwdSmem, s>>>(
            L, tiles, p.heads, p.scale * kLog2e, static_cast<const T*>(q),
            static_cast<const T*>(k), static_cast<const T*>(v),
            static_cast<T*>(out), lse, maps.k, maps.v);
        return cudaGetLastError();
      });
}

template <typename T, int BL>
int LaunchDqKernel(const LayoutView& L, const Problem& p, const void* q,
                   const void* k, const void* v, const float* lse,
                   const void* dout, const float* delta, void* dq, void* dk,
                   void* dv, cudaStream_t s, bool after_dkv) {
  KvMaps maps;
  return WithKvMaps<T, BL, kDqTma<BL>>(L, p, k, v, &maps, [&](auto tma) -> int {
    constexpr bool kTma = decltype(tma)::value;
    const RowTiles tiles = HopperRowTiles(L);
    auto launch = [&](auto local, auto leading) -> int {
      constexpr bool kLocal = decltype(local)::value;
      constexpr bool kLead = decltype(leading)::value;
      static const cudaError_t ok =
          PrepareSmem(DqKernel<T, BL, kTma, kLocal, kLead>, kDqSmem);
      if (ok != cudaSuccess) return ok;
      cudaLaunchAttribute pdl = ProgrammaticLaunch();
      return Launch256(
          DqKernel<T, BL, kTma, kLocal, kLead>,
          GridFor(L.interleave_heads, tiles.num_tiles, p.heads, p.batch),
          kDqSmem, s, after_dkv ? &pdl : nullptr, L, tiles, p.heads,
          p.scale * kLog2e, p.scale, static_cast<const T*>(q),
          static_cast<const T*>(k), static_cast<const T*>(v),
          static_cast<const T*>(dout), lse, delta, static_cast<T*>(dq),
          static_cast<T*>(dk), static_cast<T*>(dv), maps.k, maps.v);
    };
    // The loop of leading full steps only where some tile has them: its
    // code made ptxas spill more in the rest (blocks of 32: 16 -> 28 bytes
    // in the plain kernel), which cost the local pattern 2% (v80).
    if (tiles.leading_full != nullptr) {
      return L.dq_local_keys ? launch(std::true_type(), std::true_type())
                             : launch(std::false_type(), std::true_type());
    }
    return L.dq_local_keys ? launch(std::true_type(), std::false_type())
                           : launch(std::false_type(), std::false_type());
  });
}

// The split tiles a backward call runs (LaunchDkvKernel without fused dq).
int SplitTiles(const LayoutView& L) {
  return std::min(std::max(L.dkv_split_tiles, 0), L.num_col_tiles);
}

template <typename T, int BL, bool kDq>
int LaunchDkvKernel(const LayoutView& L, const Problem& p, const void* q,
                    const void* k, const void* v, const float* lse,
                    const void* dout, const float* delta, void* dk, void* dv,
                    float* dq_acc, cudaStream_t s, cudaStream_t split_stream) {
  constexpr int kSmem = DkvSmem<kDq>();
  // The Q/dO ring by TMA where the layout allows it (not with fused dq).
  constexpr bool kTmaAllowed = !kDq && kDkvTma<BL>;
  KvMaps maps;  // here of Q (maps.k) and dO (maps.v)
  return WithKvMaps<T, BL, kTmaAllowed>(
      L, p, q, dout, &maps, [&](auto tma) -> int {
        constexpr bool kTma = decltype(tma)::value;
        static const cudaError_t ok =
            PrepareSmem(DkvKernel<T, BL, kDq, false, kTma>, kSmem);
        if (ok != cudaSuccess) return ok;
        // No split tiles with fused dq; the kernels read the split count
        // from their view.
        LayoutView view = L;
        const int split = view.dkv_split_tiles = kDq ? 0 : SplitTiles(L);
        // One launch of a dk/dv kernel (Launch256).
        auto launch = [&](auto kernel, dim3 grid, cudaStream_t stream,
                          cudaLaunchAttribute* attr) {
          return Launch256(kernel, grid, kSmem, stream, attr, view, p.heads,
                           p.scale * kLog2e, p.scale, static_cast<const T*>(q),
                           static_cast<const T*>(k), static_cast<const T*>(v),
                           static_cast<const T*>(dout), lse, delta,
                           static_cast<T*>(dk), static_cast<T*>(dv), dq_acc,
                           maps.k, maps.v);
        };
        if (split > 0) {
          // The split tiles first, on their own stream: clusters of two
          // CTAs.
          static const cudaError_t split_ok =
              PrepareSmem(DkvKernel<T, BL, false, true, kTma>, kSmem);
          if (split_ok != cudaSuccess) return split_ok;
          cudaLaunchAttribute cluster;
          cluster.id = cudaLaunchAttributeClusterDimension;
          cluster.val.clusterDim.x = 2;
          cluster.val.clusterDim.y = 1;
          cluster.val.clusterDim.z = 1;
          const cudaError_t e =
              launch(DkvKernel<T, BL, false, true, kTma>,
                     GridFor(view.interleave_heads, split, p.heads, p.batch,
                             /*per_item=*/2),
                     split_stream, &cluster);
          if (e != cudaSuccess) return e;
        }
        if (L.num_col_tiles > split) {
          // A programmatic dependent of the delta kernel before it on s
          // (its CTAs wait for delta in the kernel; not with fused dq, where
          // a memset sits between them).
          cudaLaunchAttribute pdl = ProgrammaticLaunch();
          const cudaError_t e =
              launch(DkvKernel<T, BL, kDq, false, kTma>,
                     GridFor(view.interleave_heads, L.num_col_tiles - split,
                             p.heads, p.batch),
                     s, kDq ? nullptr : &pdl);
          if (e != cudaSuccess) return e;
        }
        return cudaGetLastError();
      });
}

// The wgmma kernels take head dim 64 and a layout uploaded for them.
bool Usable(const LayoutView& L, const Problem& p) {
  return p.head_dim == kHeadDim && L.hopper_rows;
}

}  // namespace

int Forward(const LayoutView& L, const Problem& p, const void* q, const void* k,
            const void* v, void* out, float* lse, CUstream_st* stream) {
  if (!Usable(L, p)) return cudaErrorInvalidValue;
  return ByTypeAndBlock(p.dtype, L.block, [&](auto t, auto bl) {
    return LaunchForwardKernel<decltype(t), decltype(bl)::value>(
        L, p, q, k, v, out, lse, stream);
  });
}

int BackwardDq(const LayoutView& L, const Problem& p, const void* q,
               const void* k, const void* v, const float* lse, const void* dout,
               const float* delta, void* dq, void* dk, void* dv,
               CUstream_st* stream, bool after_dkv) {
  if (!Usable(L, p)) return cudaErrorInvalidValue;
  return ByTypeAndBlock(p.dtype, L.block, [&](auto t, auto bl) {
    return LaunchDqKernel<decltype(t), decltype(bl)::value>(
        L, p, q, k, v, lse, dout, delta, dq, dk, dv, stream, after_dkv);
  });
}

bool DkvMainLaunched(const LayoutView& L) {
  return L.num_col_tiles > SplitTiles(L);
}

int BackwardDkv(const LayoutView& L, const Problem& p, const void* q,
                const void* k, const void* v, const float* lse,
                const void* dout, const float* delta, void* dk, void* dv,
                float* dq_acc, CUstream_st* stream, CUstream_st* split_stream) {
  if (!Usable(L, p)) return cudaErrorInvalidValue;
  return ByTypeAndBlock(p.dtype, L.block, [&](auto t, auto bl) {
    using T = decltype(t);
    constexpr int BL = decltype(bl)::value;
    return dq_acc
               ? LaunchDkvKernel<T, BL, true>(L, p, q, k, v, lse, dout, delta,
                                              dk, dv, dq_acc, stream, stream)
               : LaunchDkvKernel<T, BL, false>(L, p, q, k, v, lse, dout, delta,
                                               dk, dv, nullptr, stream,
                                               split_stream);
  });
}

}  // namespace sm90

bool TimelineCompiled() { return sm90::kTimeline; }

int TimelineReset() {
#if ST_KERNEL_TIMELINE
  void* p = nullptr;
  cudaError_t err = cudaGetSymbolAddress(&p, sm90::g_timeline);
  if (err == cudaSuccess) err = cudaMemset(p, 0, sizeof(sm90::g_timeline));
  return err;
#else
  return cudaErrorNotSupported;
#endif
}

int TimelineRead(CtaTimes* out, int capacity, int* count) {
  *count = 0;
#if ST_KERNEL_TIMELINE
  std::vector<CtaTimes> all(static_cast<size_t>(kTimelinePasses) *
                            kTimelineCtas);
  const cudaError_t err = cudaMemcpyFromSymbol(all.data(), sm90::g_timeline,
                                               all.size() * sizeof(CtaTimes));
  if (err != cudaSuccess) return err;
  for (const CtaTimes& r : all) {
    if (r.start_ns != 0 && *count < capacity) out[(*count)++] = r;
  }
  return cudaSuccess;
#else
  (void)out;
  (void)capacity;
  return cudaErrorNotSupported;
#endif
}

bool HopperKernelsAvailable() {
  static std::mutex mu;
  static int cached[64] = {};  // 0 unknown, 1 yes, 2 no
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  if (device < 0 || device >= 64) return false;
  std::lock_guard<std::mutex> lock(mu);
  if (cached[device] == 0) {
    int major = 0, minor = 0;
    cudaFuncAttributes attr;
    const bool yes =
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor,
                               device) == cudaSuccess &&
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor,
                               device) == cudaSuccess &&
        major == 9 && minor == 0 &&
        cudaFuncGetAttributes(&attr,
                              sm90::ForwardKernel<__nv_bfloat16, 32, false>) ==
            cudaSuccess;
    cudaGetLastError();  // a failed probe must not linger as the last error
    cached[device] = yes ? 1 : 2;
  }
  return cached[device] == 1;
}

}  // namespace st::attention::cuda

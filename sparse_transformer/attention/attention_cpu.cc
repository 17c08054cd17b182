#include "sparse_transformer/attention/attention_cpu.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

namespace st::attention {
namespace {

std::atomic<int> g_threads{0};

// Runs fn(item) for item in [0, count) on the worker threads; items are
// handed out one at a time so uneven rows (causal) balance themselves.
// The block GEMMs are small: OpenBLAS is held to one thread meanwhile so that
// it does not split each of them across the cores our workers already use
// (its threads and ours would contend). The previous setting is restored.
template <typename Fn>
void ParallelFor(int64_t count, const Fn& fn) {
  const int threads = static_cast<int>(
      std::min<int64_t>(CpuAttentionThreads(), std::max<int64_t>(count, 1)));
  const int blas_threads = openblas_get_num_threads();
  if (blas_threads != 1) openblas_set_num_threads(1);
  std::atomic<int64_t> next{0};
  auto worker = [&]() {
    for (int64_t item = next++; item < count; item = next++) fn(item);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (blas_threads != 1) openblas_set_num_threads(blas_threads);
}

// Row-major C = alpha * op(A) op(B) + beta * C through OpenBLAS.
void Gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a,
          int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb,
              beta, c, ldc);
}
void Gemm(bool ta, bool tb, int m, int n, int k, double alpha, const double* a,
          int lda, const double* b, int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb,
              beta, c, ldc);
}

template <typename T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();

// Positions of one block of one head: either contiguous rows of the original
// tensors (identity) or gathered / scattered through the inverse permutation.
template <typename T>
class BlockRows {
 public:
  BlockRows(absl::Span<const int32_t> inverse, int block)
      : inverse_(inverse), block_(block) {}

  // Original position of row r of permuted block `blk`.
  int64_t Position(int32_t blk, int r) const {
    const int64_t p = int64_t{blk} * block_ + r;
    return inverse_.empty() ? p : inverse_[p];
  }
  // Rows [block, width] of `base` ([N, width]) for block `blk`; copies into
  // `scratch` only when the head is permuted.
  const T* Gather(const T* base, int width, int32_t blk,
                  std::vector<T>& scratch) const {
    if (inverse_.empty()) return base + int64_t{blk} * block_ * width;
    scratch.resize(static_cast<size_t>(block_) * width);
    for (int r = 0; r < block_; ++r) {
      std::memcpy(scratch.data() + int64_t{r} * width,
                  base + Position(blk, r) * width, sizeof(T) * width);
    }
    return scratch.data();
  }
  // Copies rows of block `blk` of `base` ([N, width]) to dst ([block, width]).
  void GatherInto(const T* base, int width, int32_t blk, T* dst) const {
    if (inverse_.empty()) {
      std::memcpy(dst, base + int64_t{blk} * block_ * width,
                  sizeof(T) * block_ * width);
      return;
    }
    for (int r = 0; r < block_; ++r) {
      std::memcpy(dst + int64_t{r} * width, base + Position(blk, r) * width,
                  sizeof(T) * width);
    }
  }
  // Writes `rows` ([block, width]) back to `base` at block `blk`.
  void Scatter(const T* rows, int width, int32_t blk, T* base) const {
    for (int r = 0; r < block_; ++r) {
      std::memcpy(base + Position(blk, r) * width, rows + int64_t{r} * width,
                  sizeof(T) * width);
    }
  }

 private:
  absl::Span<const int32_t> inverse_;
  int block_;
};

// Sets the dead pairs of entry `e`'s block to -inf; the block is the
// [block, block] sub-matrix of s with leading dimension ld.
template <typename T>
void ApplyMask(const AttentionLayout& layout, int64_t e, T* s, int ld) {
  const int b = layout.block();
  const int32_t mask = layout.row_masks()[e];
  if (mask == kFull) return;
  if (mask == kCausal) {
    for (int r = 0; r < b; ++r) {
      for (int c = r + 1; c < b; ++c) s[r * ld + c] = kNegInf<T>;
    }
    return;
  }
  const uint64_t* words =
      layout.mask_words().data() + int64_t{mask} * layout.words_per_mask();
  for (int r = 0; r < b; ++r) {
    for (int c = 0; c < b; ++c) {
      const int bit = r * b + c;
      if (!((words[bit >> 6] >> (bit & 63)) & 1)) s[r * ld + c] = kNegInf<T>;
    }
  }
}

// P = exp(S - lse) for `rows` rows of `cols` scores (already scaled and
// masked); rows with no live key (lse = -inf) get P = 0.
template <typename T>
void ProbabilitiesFromLse(int rows, int cols, const T* lse_rows, T* s) {
  for (int r = 0; r < rows; ++r) {
    const T l = lse_rows[r];
    T* row = s + int64_t{r} * cols;
    if (l == kNegInf<T>) {
      std::fill(row, row + cols, T(0));
      continue;
    }
    for (int c = 0; c < cols; ++c) row[c] = std::exp(row[c] - l);
  }
}

// Softmax backward on a tile, in place: ds [rows, cols] holds dP = dO·Vᵀ on
// entry and dS = P ∘ (dP − D_row) · scale on return, where D = rowsum(dO ∘ O).
template <typename T>
void ScoreGradient(int rows, int cols, const T* p, const T* d_rows, T scale,
                   T* ds) {
  for (int r = 0; r < rows; ++r) {
    for (int j = 0; j < cols; ++j) {
      const int64_t x = int64_t{r} * cols + j;
      ds[x] = p[x] * (ds[x] - d_rows[r]) * scale;
    }
  }
}

struct Dims {
  int64_t n;
  int heads, block, nb, kqk, kv;
};

Dims DimsOf(const AttentionLayout& layout, int kqk, int kv) {
  return Dims{
      layout.n(), layout.heads(), layout.block(), layout.num_blocks(), kqk, kv};
}

}  // namespace

void SetCpuAttentionThreads(int threads) { g_threads = std::max(threads, 0); }

int CpuAttentionThreads() {
  const int t = g_threads;
  if (t > 0) return t;
  return std::max(1u, std::thread::hardware_concurrency());
}

// ---------------------------------------------------------------------------
// Dense masked oracle.

template <typename T>
void DenseMaskedAttentionForward(const AttentionLayout& layout, int batch,
                                 int kqk, int kv, T scale, const T* q,
                                 const T* k, const T* v, T* out, T* lse) {
  const int64_t n = layout.n();
  const int heads = layout.heads();
  std::vector<T> s(n);  // [N] scores of one query row
  for (int b = 0; b < batch; ++b) {
    for (int h = 0; h < heads; ++h) {
      const int64_t bh = int64_t{b} * heads + h;
      const T* qh = q + bh * n * kqk;
      const T* kh = k + bh * n * kqk;
      const T* vh = v + bh * n * kv;
      for (int64_t i = 0; i < n; ++i) {
        T m = kNegInf<T>;
        for (int64_t j = 0; j < n; ++j) {
          s[j] = kNegInf<T>;
          if (!layout.Allowed(h, i, j)) continue;
          T dot = 0;
          for (int d = 0; d < kqk; ++d)
            dot += qh[i * kqk + d] * kh[j * kqk + d];
          s[j] = dot * scale;
          m = std::max(m, s[j]);
        }
        T* o = out + (bh * n + i) * kv;
        std::fill(o, o + kv, T(0));
        if (m == kNegInf<T>) {
          lse[bh * n + i] = kNegInf<T>;
          continue;
        }
        T sum = 0;
        for (int64_t j = 0; j < n; ++j) {
          if (s[j] == kNegInf<T>) continue;
          const T p = std::exp(s[j] - m);
          sum += p;
          for (int d = 0; d < kv; ++d) o[d] += p * vh[j * kv + d];
        }
        for (int d = 0; d < kv; ++d) o[d] /= sum;
        lse[bh * n + i] = m + std::log(sum);
      }
    }
  }
}

template <typename T>
void DenseMaskedAttentionBackward(const AttentionLayout& layout, int batch,
                                  int kqk, int kv, T scale, const T* q,
                                  const T* k, const T* v, const T* out,
                                  const T* lse, const T* dout, T* dq, T* dk,
                                  T* dv) {
  const int64_t n = layout.n();
  const int heads = layout.heads();
  const int64_t total = int64_t{batch} * heads * n;
  std::fill(dq, dq + total * kqk, T(0));
  std::fill(dk, dk + total * kqk, T(0));
  std::fill(dv, dv + total * kv, T(0));
  for (int b = 0; b < batch; ++b) {
    for (int h = 0; h < heads; ++h) {
      const int64_t bh = int64_t{b} * heads + h;
      const T* qh = q + bh * n * kqk;
      const T* kh = k + bh * n * kqk;
      const T* vh = v + bh * n * kv;
      const T* oh = out + bh * n * kv;
      const T* doh = dout + bh * n * kv;
      T* dqh = dq + bh * n * kqk;
      T* dkh = dk + bh * n * kqk;
      T* dvh = dv + bh * n * kv;
      for (int64_t i = 0; i < n; ++i) {
        const T l = lse[bh * n + i];
        if (l == kNegInf<T>) continue;
        T di = 0;  // D_i = dout_i . out_i
        for (int d = 0; d < kv; ++d) di += doh[i * kv + d] * oh[i * kv + d];
        for (int64_t j = 0; j <= i; ++j) {
          if (!layout.Allowed(h, i, j)) continue;
          T dot = 0;
          for (int d = 0; d < kqk; ++d)
            dot += qh[i * kqk + d] * kh[j * kqk + d];
          const T p = std::exp(dot * scale - l);
          T dp = 0;
          for (int d = 0; d < kv; ++d) {
            dp += doh[i * kv + d] * vh[j * kv + d];
            dvh[j * kv + d] += p * doh[i * kv + d];
          }
          const T ds = p * (dp - di) * scale;
          for (int d = 0; d < kqk; ++d) {
            dqh[i * kqk + d] += ds * kh[j * kqk + d];
            dkh[j * kqk + d] += ds * qh[i * kqk + d];
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Block-sparse.

// The live blocks of a row (or column) are processed in chunks of up to
// kChunk blocks: their keys (or queries) are gathered into one contiguous
// buffer so each step is one larger GEMM instead of kChunk small ones.
constexpr int kChunk = 16;

template <typename T>
void BlockSparseAttentionForward(const AttentionLayout& layout, int batch,
                                 int kqk, int kv, T scale, const T* q,
                                 const T* k, const T* v, T* out, T* lse) {
  const Dims dm = DimsOf(layout, kqk, kv);
  const int bs = dm.block;
  const auto ro = layout.row_offsets();
  // One item per (batch, head, query block); heavy (late) rows first.
  ParallelFor(int64_t{batch} * dm.heads * dm.nb, [&](int64_t item) {
    const int32_t qb = dm.nb - 1 - static_cast<int32_t>(item % dm.nb);
    const int h = static_cast<int>((item / dm.nb) % dm.heads);
    const int64_t bh = item / dm.nb;  // b * H + h
    thread_local std::vector<T> qs, kc, vc, s, acc, m, l;
    kc.resize(static_cast<size_t>(kChunk) * bs * kqk);  // [chunk*block, Kqk]
    vc.resize(static_cast<size_t>(kChunk) * bs * kv);   // [chunk*block, Kv]
    s.resize(static_cast<size_t>(kChunk) * bs * bs);    // [block, chunk*block]
    acc.assign(static_cast<size_t>(bs) * kv, T(0));     // [block, Kv]
    m.assign(bs, kNegInf<T>);                           // running row max
    l.assign(bs, T(0));  // running row sum of exp(s - m)
    const BlockRows<T> rows(layout.inverse_permutation(h), bs);
    const T* kh = k + bh * dm.n * kqk;
    const T* vh = v + bh * dm.n * kv;
    const T* qblk = rows.Gather(q + bh * dm.n * kqk, kqk, qb, qs);
    const int64_t row = int64_t{h} * (dm.nb + 1) + qb;
    for (int64_t e0 = ro[row]; e0 < ro[row + 1]; e0 += kChunk) {
      const int c =
          static_cast<int>(std::min<int64_t>(kChunk, ro[row + 1] - e0));
      const int width = c * bs;  // keys in this chunk
      for (int t = 0; t < c; ++t) {
        const int32_t kb = layout.row_cols()[e0 + t];
        rows.GatherInto(kh, kqk, kb, kc.data() + int64_t{t} * bs * kqk);
        rows.GatherInto(vh, kv, kb, vc.data() + int64_t{t} * bs * kv);
      }
      Gemm(false, true, bs, width, kqk, scale, qblk, kqk, kc.data(), kqk, T(0),
           s.data(), width);
      for (int t = 0; t < c; ++t) {
        ApplyMask(layout, e0 + t, s.data() + t * bs, width);
      }
      // Online softmax: rescale what was accumulated to the new row max.
      for (int r = 0; r < bs; ++r) {
        T* srow = s.data() + int64_t{r} * width;
        const T chunk_max = *std::max_element(srow, srow + width);
        const T new_max = std::max(m[r], chunk_max);
        if (new_max == kNegInf<T>) {
          std::fill(srow, srow + width, T(0));
          continue;
        }
        const T correction = std::exp(m[r] - new_max);
        T sum = 0;
        for (int j = 0; j < width; ++j) {
          srow[j] = std::exp(srow[j] - new_max);
          sum += srow[j];
        }
        l[r] = l[r] * correction + sum;
        m[r] = new_max;
        if (correction != T(1)) {
          for (int d = 0; d < kv; ++d) acc[r * kv + d] *= correction;
        }
      }
      Gemm(false, false, bs, kv, width, T(1), s.data(), width, vc.data(), kv,
           T(1), acc.data(), kv);
    }
    T* lse_h = lse + bh * dm.n;
    for (int r = 0; r < bs; ++r) {
      const T inv = l[r] > 0 ? T(1) / l[r] : T(0);
      for (int d = 0; d < kv; ++d) acc[r * kv + d] *= inv;
      lse_h[rows.Position(qb, r)] =
          l[r] > 0 ? m[r] + std::log(l[r]) : kNegInf<T>;
    }
    rows.Scatter(acc.data(), kv, qb, out + bh * dm.n * kv);
  });
}

template <typename T>
void BlockSparseAttentionBackward(const AttentionLayout& layout, int batch,
                                  int kqk, int kv, T scale, const T* q,
                                  const T* k, const T* v, const T* out,
                                  const T* lse, const T* dout, T* dq, T* dk,
                                  T* dv) {
  const Dims dm = DimsOf(layout, kqk, kv);
  const int bs = dm.block;
  const auto ro = layout.row_offsets();
  const auto co = layout.col_offsets();
  // D_i = dout_i . out_i for every row: [B, H, N].
  std::vector<T> dsum(static_cast<size_t>(batch) * dm.heads * dm.n);
  for (size_t i = 0; i < dsum.size(); ++i) {
    T acc = 0;
    for (int d = 0; d < kv; ++d) acc += dout[i * kv + d] * out[i * kv + d];
    dsum[i] = acc;
  }

  // dq: one item per (batch, head, query block), walking the row CSR.
  // For a chunk of key blocks: P = exp(S - lse), dP = dout v^T,
  // dS = scale * P * (dP - D), dq += dS k.
  ParallelFor(int64_t{batch} * dm.heads * dm.nb, [&](int64_t item) {
    const int32_t qb = dm.nb - 1 - static_cast<int32_t>(item % dm.nb);
    const int h = static_cast<int>((item / dm.nb) % dm.heads);
    const int64_t bh = item / dm.nb;
    thread_local std::vector<T> qs, dos, kc, vc, p, ds, dqblk, lse_r, d_r;
    kc.resize(static_cast<size_t>(kChunk) * bs * kqk);  // [chunk*block, Kqk]
    vc.resize(static_cast<size_t>(kChunk) * bs * kv);   // [chunk*block, Kv]
    p.resize(static_cast<size_t>(kChunk) * bs * bs);    // [block, chunk*block]
    ds.resize(static_cast<size_t>(kChunk) * bs * bs);   // [block, chunk*block]
    dqblk.assign(static_cast<size_t>(bs) * kqk, T(0));  // [block, Kqk]
    lse_r.resize(bs);
    d_r.resize(bs);
    const BlockRows<T> rows(layout.inverse_permutation(h), bs);
    const T* qblk = rows.Gather(q + bh * dm.n * kqk, kqk, qb, qs);
    const T* doblk = rows.Gather(dout + bh * dm.n * kv, kv, qb, dos);
    for (int r = 0; r < bs; ++r) {
      const int64_t pos = bh * dm.n + rows.Position(qb, r);
      lse_r[r] = lse[pos];
      d_r[r] = dsum[pos];
    }
    const T* kh = k + bh * dm.n * kqk;
    const T* vh = v + bh * dm.n * kv;
    const int64_t row = int64_t{h} * (dm.nb + 1) + qb;
    for (int64_t e0 = ro[row]; e0 < ro[row + 1]; e0 += kChunk) {
      const int c =
          static_cast<int>(std::min<int64_t>(kChunk, ro[row + 1] - e0));
      const int width = c * bs;
      for (int t = 0; t < c; ++t) {
        const int32_t kb = layout.row_cols()[e0 + t];
        rows.GatherInto(kh, kqk, kb, kc.data() + int64_t{t} * bs * kqk);
        rows.GatherInto(vh, kv, kb, vc.data() + int64_t{t} * bs * kv);
      }
      Gemm(false, true, bs, width, kqk, scale, qblk, kqk, kc.data(), kqk, T(0),
           p.data(), width);
      for (int t = 0; t < c; ++t) {
        ApplyMask(layout, e0 + t, p.data() + t * bs, width);
      }
      ProbabilitiesFromLse(bs, width, lse_r.data(), p.data());
      Gemm(false, true, bs, width, kv, T(1), doblk, kv, vc.data(), kv, T(0),
           ds.data(), width);
      ScoreGradient(bs, width, p.data(), d_r.data(), scale, ds.data());
      Gemm(false, false, bs, kqk, width, T(1), ds.data(), width, kc.data(), kqk,
           T(1), dqblk.data(), kqk);
    }
    rows.Scatter(dqblk.data(), kqk, qb, dq + bh * dm.n * kqk);
  });

  // dk, dv: one item per (batch, head, key block), walking the column CSR.
  // The chunk's query blocks are stacked: S is [chunk*block, block].
  ParallelFor(int64_t{batch} * dm.heads * dm.nb, [&](int64_t item) {
    const int32_t kb = static_cast<int32_t>(item % dm.nb);  // early = heavy
    const int h = static_cast<int>((item / dm.nb) % dm.heads);
    const int64_t bh = item / dm.nb;
    thread_local std::vector<T> ks, vs, qc, doc, p, ds, dkblk, dvblk, lse_r,
        d_r;
    qc.resize(static_cast<size_t>(kChunk) * bs * kqk);  // [chunk*block, Kqk]
    doc.resize(static_cast<size_t>(kChunk) * bs * kv);  // [chunk*block, Kv]
    p.resize(static_cast<size_t>(kChunk) * bs * bs);    // [chunk*block, block]
    ds.resize(static_cast<size_t>(kChunk) * bs * bs);   // [chunk*block, block]
    lse_r.resize(static_cast<size_t>(kChunk) * bs);
    d_r.resize(static_cast<size_t>(kChunk) * bs);
    dkblk.assign(static_cast<size_t>(bs) * kqk, T(0));  // [block, Kqk]
    dvblk.assign(static_cast<size_t>(bs) * kv, T(0));   // [block, Kv]
    const BlockRows<T> rows(layout.inverse_permutation(h), bs);
    const T* kblk = rows.Gather(k + bh * dm.n * kqk, kqk, kb, ks);
    const T* vblk = rows.Gather(v + bh * dm.n * kv, kv, kb, vs);
    const T* qh = q + bh * dm.n * kqk;
    const T* doh = dout + bh * dm.n * kv;
    const int64_t col = int64_t{h} * (dm.nb + 1) + kb;
    for (int64_t t0 = co[col]; t0 < co[col + 1]; t0 += kChunk) {
      const int c =
          static_cast<int>(std::min<int64_t>(kChunk, co[col + 1] - t0));
      const int height = c * bs;  // queries in this chunk
      for (int t = 0; t < c; ++t) {
        const int32_t qb = layout.col_rows()[t0 + t];
        rows.GatherInto(qh, kqk, qb, qc.data() + int64_t{t} * bs * kqk);
        rows.GatherInto(doh, kv, qb, doc.data() + int64_t{t} * bs * kv);
        for (int r = 0; r < bs; ++r) {
          const int64_t pos = bh * dm.n + rows.Position(qb, r);
          lse_r[t * bs + r] = lse[pos];
          d_r[t * bs + r] = dsum[pos];
        }
      }
      Gemm(false, true, height, bs, kqk, scale, qc.data(), kqk, kblk, kqk, T(0),
           p.data(), bs);
      for (int t = 0; t < c; ++t) {
        ApplyMask(layout, layout.col_entries()[t0 + t],
                  p.data() + int64_t{t} * bs * bs, bs);
      }
      ProbabilitiesFromLse(height, bs, lse_r.data(), p.data());
      Gemm(true, false, bs, kv, height, T(1), p.data(), bs, doc.data(), kv,
           T(1), dvblk.data(), kv);
      Gemm(false, true, height, bs, kv, T(1), doc.data(), kv, vblk, kv, T(0),
           ds.data(), bs);
      ScoreGradient(height, bs, p.data(), d_r.data(), scale, ds.data());
      Gemm(true, false, bs, kqk, height, T(1), ds.data(), bs, qc.data(), kqk,
           T(1), dkblk.data(), kqk);
    }
    rows.Scatter(dkblk.data(), kqk, kb, dk + bh * dm.n * kqk);
    rows.Scatter(dvblk.data(), kv, kb, dv + bh * dm.n * kv);
  });
}

#define ST_INSTANTIATE_CPU_ATTENTION(T)                                       \
  template void DenseMaskedAttentionForward<T>(const AttentionLayout&, int,   \
                                               int, int, T, const T*,         \
                                               const T*, const T*, T*, T*);   \
  template void DenseMaskedAttentionBackward<T>(                              \
      const AttentionLayout&, int, int, int, T, const T*, const T*, const T*, \
      const T*, const T*, const T*, T*, T*, T*);                              \
  template void BlockSparseAttentionForward<T>(const AttentionLayout&, int,   \
                                               int, int, T, const T*,         \
                                               const T*, const T*, T*, T*);   \
  template void BlockSparseAttentionBackward<T>(                              \
      const AttentionLayout&, int, int, int, T, const T*, const T*, const T*, \
      const T*, const T*, const T*, T*, T*, T*);

ST_INSTANTIATE_CPU_ATTENTION(float)
ST_INSTANTIATE_CPU_ATTENTION(double)

#undef ST_INSTANTIATE_CPU_ATTENTION

}  // namespace st::attention

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
// The per-block GEMMs are small: while several workers run, OpenBLAS is held
// to one thread so that it does not split each block across the same cores
// (its threads and ours would contend). The previous setting is restored.
template <typename Fn>
void ParallelFor(int64_t count, const Fn& fn) {
  const int threads = static_cast<int>(
      std::min<int64_t>(CpuAttentionThreads(), std::max<int64_t>(count, 1)));
  const int blas_threads = openblas_get_num_threads();
  if (threads > 1 && blas_threads != 1) openblas_set_num_threads(1);
  std::atomic<int64_t> next{0};
  auto worker = [&]() {
    for (int64_t item = next++; item < count; item = next++) fn(item);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (threads > 1 && blas_threads != 1) openblas_set_num_threads(blas_threads);
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

// Sets the dead pairs of entry `e`'s block in s ([block, block]) to -inf.
template <typename T>
void ApplyMask(const AttentionLayout& layout, int64_t e, T* s) {
  const int b = layout.block();
  const int32_t mask = layout.row_masks()[e];
  if (mask == kFull) return;
  if (mask == kCausal) {
    for (int r = 0; r < b; ++r) {
      for (int c = r + 1; c < b; ++c) s[r * b + c] = kNegInf<T>;
    }
    return;
  }
  const uint64_t* words =
      layout.mask_words().data() + int64_t{mask} * layout.words_per_mask();
  for (int bit = 0; bit < b * b; ++bit) {
    if (!((words[bit >> 6] >> (bit & 63)) & 1)) s[bit] = kNegInf<T>;
  }
}

// P = exp(S - lse) for one block (S already scaled and masked); rows with no
// live key (lse = -inf) get P = 0.
template <typename T>
void ProbabilitiesFromLse(int b, const T* lse_rows, T* s) {
  for (int r = 0; r < b; ++r) {
    const T l = lse_rows[r];
    T* row = s + r * b;
    if (l == kNegInf<T>) {
      std::fill(row, row + b, T(0));
      continue;
    }
    for (int c = 0; c < b; ++c) row[c] = std::exp(row[c] - l);
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
    thread_local std::vector<T> qs, ks, vs;
    thread_local std::vector<T> s, acc, m, l, o;
    s.resize(bs * bs);                               // [block, block] scores
    acc.assign(static_cast<size_t>(bs) * kv, T(0));  // [block, Kv]
    m.assign(bs, kNegInf<T>);                        // running row max
    l.assign(bs, T(0));                              // running row sum
    const BlockRows<T> rows(layout.inverse_permutation(h), bs);
    const T* qh = q + bh * dm.n * kqk;
    const T* kh = k + bh * dm.n * kqk;
    const T* vh = v + bh * dm.n * kv;
    const T* qblk = rows.Gather(qh, kqk, qb, qs);
    const int64_t row = int64_t{h} * (dm.nb + 1) + qb;
    for (int64_t e = ro[row]; e < ro[row + 1]; ++e) {
      const int32_t kb = layout.row_cols()[e];
      const T* kblk = rows.Gather(kh, kqk, kb, ks);
      const T* vblk = rows.Gather(vh, kv, kb, vs);
      Gemm(false, true, bs, bs, kqk, scale, qblk, kqk, kblk, kqk, T(0),
           s.data(), bs);
      ApplyMask(layout, e, s.data());
      // Online softmax: rescale what was accumulated to the new row max.
      for (int r = 0; r < bs; ++r) {
        T* srow = s.data() + r * bs;
        const T block_max = *std::max_element(srow, srow + bs);
        const T new_max = std::max(m[r], block_max);
        if (new_max == kNegInf<T>) {
          std::fill(srow, srow + bs, T(0));
          continue;
        }
        const T correction = std::exp(m[r] - new_max);
        T sum = 0;
        for (int c = 0; c < bs; ++c) {
          srow[c] = std::exp(srow[c] - new_max);
          sum += srow[c];
        }
        l[r] = l[r] * correction + sum;
        m[r] = new_max;
        if (correction != T(1)) {
          for (int d = 0; d < kv; ++d) acc[r * kv + d] *= correction;
        }
      }
      Gemm(false, false, bs, kv, bs, T(1), s.data(), bs, vblk, kv, T(1),
           acc.data(), kv);
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
  // Per block: P from lse, then dS = P * (dout v^T - D), scaled by `scale`.
  auto block_grads = [&](int64_t bh, const BlockRows<T>& rows, int64_t e,
                         int32_t qb, const T* qblk, const T* kblk,
                         const T* vblk, const T* doblk, T* p, T* ds) {
    T lse_rows[128], d_rows[128];
    for (int r = 0; r < bs; ++r) {
      const int64_t pos = bh * dm.n + rows.Position(qb, r);
      lse_rows[r] = lse[pos];
      d_rows[r] = dsum[pos];
    }
    Gemm(false, true, bs, bs, kqk, scale, qblk, kqk, kblk, kqk, T(0), p, bs);
    ApplyMask(layout, e, p);
    ProbabilitiesFromLse(bs, lse_rows, p);
    Gemm(false, true, bs, bs, kv, T(1), doblk, kv, vblk, kv, T(0), ds, bs);
    for (int r = 0; r < bs; ++r) {
      for (int c = 0; c < bs; ++c) {
        ds[r * bs + c] = p[r * bs + c] * (ds[r * bs + c] - d_rows[r]) * scale;
      }
    }
  };

  // dq: one item per (batch, head, query block), walking the row CSR.
  ParallelFor(int64_t{batch} * dm.heads * dm.nb, [&](int64_t item) {
    const int32_t qb = dm.nb - 1 - static_cast<int32_t>(item % dm.nb);
    const int h = static_cast<int>((item / dm.nb) % dm.heads);
    const int64_t bh = item / dm.nb;
    thread_local std::vector<T> qs, ks, vs, dos, p, ds, dqblk;
    p.resize(bs * bs);
    ds.resize(bs * bs);
    dqblk.assign(static_cast<size_t>(bs) * kqk, T(0));  // [block, Kqk]
    const BlockRows<T> rows(layout.inverse_permutation(h), bs);
    const T* qblk = rows.Gather(q + bh * dm.n * kqk, kqk, qb, qs);
    const T* doblk = rows.Gather(dout + bh * dm.n * kv, kv, qb, dos);
    const int64_t row = int64_t{h} * (dm.nb + 1) + qb;
    for (int64_t e = ro[row]; e < ro[row + 1]; ++e) {
      const int32_t kb = layout.row_cols()[e];
      const T* kblk = rows.Gather(k + bh * dm.n * kqk, kqk, kb, ks);
      const T* vblk = rows.Gather(v + bh * dm.n * kv, kv, kb, vs);
      block_grads(bh, rows, e, qb, qblk, kblk, vblk, doblk, p.data(),
                  ds.data());
      Gemm(false, false, bs, kqk, bs, T(1), ds.data(), bs, kblk, kqk, T(1),
           dqblk.data(), kqk);
    }
    rows.Scatter(dqblk.data(), kqk, qb, dq + bh * dm.n * kqk);
  });

  // dk, dv: one item per (batch, head, key block), walking the column CSR.
  ParallelFor(int64_t{batch} * dm.heads * dm.nb, [&](int64_t item) {
    const int32_t kb = static_cast<int32_t>(item % dm.nb);  // early = heavy
    const int h = static_cast<int>((item / dm.nb) % dm.heads);
    const int64_t bh = item / dm.nb;
    thread_local std::vector<T> qs, ks, vs, dos, p, ds, dkblk, dvblk;
    p.resize(bs * bs);
    ds.resize(bs * bs);
    dkblk.assign(static_cast<size_t>(bs) * kqk, T(0));  // [block, Kqk]
    dvblk.assign(static_cast<size_t>(bs) * kv, T(0));   // [block, Kv]
    const BlockRows<T> rows(layout.inverse_permutation(h), bs);
    const T* kblk = rows.Gather(k + bh * dm.n * kqk, kqk, kb, ks);
    const T* vblk = rows.Gather(v + bh * dm.n * kv, kv, kb, vs);
    const int64_t col = int64_t{h} * (dm.nb + 1) + kb;
    for (int64_t t = co[col]; t < co[col + 1]; ++t) {
      const int32_t qb = layout.col_rows()[t];
      const int64_t e = layout.col_entries()[t];
      const T* qblk = rows.Gather(q + bh * dm.n * kqk, kqk, qb, qs);
      const T* doblk = rows.Gather(dout + bh * dm.n * kv, kv, qb, dos);
      block_grads(bh, rows, e, qb, qblk, kblk, vblk, doblk, p.data(),
                  ds.data());
      Gemm(true, false, bs, kv, bs, T(1), p.data(), bs, doblk, kv, T(1),
           dvblk.data(), kv);
      Gemm(true, false, bs, kqk, bs, T(1), ds.data(), bs, qblk, kqk, T(1),
           dkblk.data(), kqk);
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

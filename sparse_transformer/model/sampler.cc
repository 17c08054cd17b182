#include "sparse_transformer/model/sampler.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "sparse_transformer/core/rng.h"
#include "sparse_transformer/ops/bias.h"
#include "sparse_transformer/ops/gelu.h"
#include "sparse_transformer/ops/gemm.h"
#include "sparse_transformer/ops/layernorm.h"
#include "sparse_transformer/ops/softmax_xent.h"

namespace st::model {

template <typename T>
Sampler<T>::Sampler(const SparseTransformer<T>& model)
    : model_(model),
      n_(model.context()),
      d_(model.config().d_model),
      h_(model.config().n_head),
      dqk_(model.config().d_qk()),
      dff_(model.config().d_ff()),
      kq_(dqk_ / h_),
      kv_(d_ / h_) {
  const int layers = model.config().n_layer;
  k_cache_.assign(layers, std::vector<T>(int64_t(h_) * n_ * kq_));
  v_cache_.assign(layers, std::vector<T>(int64_t(h_) * n_ * kv_));
  x_.resize(d_);
  ln_.resize(d_);
  qkv_.resize(2 * dqk_ + d_);
  att_.resize(d_);
  tmp_.resize(d_);
  ff_.resize(dff_);
  logits_.resize(ops::kVocab);
}

template <typename T>
void Sampler<T>::Reset() {
  t_ = 0;
  last_keys_ = 0;
}

template <typename T>
const std::vector<T>& Sampler<T>::Step(uint8_t input) {
  const T* p = model_.param_data();
  const int64_t t = t_;
  const int64_t d = d_, w3 = 2 * dqk_ + d_;
  const T eps = static_cast<T>(model_.config().ln_eps);
  T mean, rstd;

  // Embedding of position t (no dropout when sampling).
  const auto& pos = model_.positions();
  for (int64_t c = 0; c < d; ++c) {
    T v = p[model_.wte_offset() + int64_t(input) * d + c];
    for (size_t a = 0; a < pos.index.size(); ++a) {
      v += p[model_.pos_offsets()[a] + int64_t(pos.index[a][t]) * d + c];
    }
    x_[c] = v;
  }

  last_keys_ = 0;
  const T scale = static_cast<T>(1.0 / std::sqrt(double(kq_)));
  for (int l = 0; l < model_.config().n_layer; ++l) {
    const LayerParams& lp = model_.layer_params(l);
    const attention::AttentionLayout& layout = model_.layout(l);
    ops::LayerNormForward<T>(1, d, eps, x_.data(), p + lp.ln1_g, p + lp.ln1_b,
                             ln_.data(), &mean, &rstd);
    ops::MatmulForward<T>(1, d, w3, ln_.data(), p + lp.w_qkv, qkv_.data());
    ops::BiasForward<T>(1, w3, p + lp.b_qkv, qkv_.data());
    T* kc = k_cache_[l].data();
    T* vc = v_cache_[l].data();
    for (int h = 0; h < h_; ++h) {
      std::copy_n(qkv_.data() + dqk_ + h * kq_, kq_,
                  kc + (int64_t(h) * n_ + t) * kq_);
      std::copy_n(qkv_.data() + 2 * dqk_ + h * kv_, kv_,
                  vc + (int64_t(h) * n_ + t) * kv_);
    }
    for (int h = 0; h < h_; ++h) {
      // The live keys of query t: walk the query block's row of the layout
      // (in the head's permuted order, if any) and map back to positions.
      const auto perm = layout.permutation(h);
      const auto inv = layout.inverse_permutation(h);
      const int64_t tp = perm.empty() ? t : perm[t];
      const int block = layout.block();
      const int64_t qb = tp / block;
      const int r = static_cast<int>(tp % block);
      const auto offsets = layout.row_offsets();
      const auto cols = layout.row_cols();
      const int64_t row = int64_t(h) * (layout.num_blocks() + 1) + qb;
      keys_.clear();
      for (int64_t e = offsets[row]; e < offsets[row + 1]; ++e) {
        for (int c = 0; c < block; ++c) {
          if (!layout.EntryAllows(e, r, c)) continue;
          const int64_t jp = int64_t(cols[e]) * block + c;
          keys_.push_back(inv.empty() ? jp : inv[jp]);
        }
      }
      last_keys_ += static_cast<int64_t>(keys_.size());
      const T* q = qkv_.data() + h * kq_;
      scores_.resize(keys_.size());
      T mx = -INFINITY;
      for (size_t s = 0; s < keys_.size(); ++s) {
        const T* k = kc + (int64_t(h) * n_ + keys_[s]) * kq_;
        T dot = 0;
        for (int c = 0; c < kq_; ++c) dot += q[c] * k[c];
        scores_[s] = dot * scale;
        mx = std::max(mx, scores_[s]);
      }
      T sum = 0;
      for (T& s : scores_) sum += (s = std::exp(s - mx));
      T* out = att_.data() + h * kv_;
      std::fill_n(out, kv_, T(0));
      for (size_t s = 0; s < keys_.size(); ++s) {
        const T* v = vc + (int64_t(h) * n_ + keys_[s]) * kv_;
        const T w = scores_[s] / sum;
        for (int c = 0; c < kv_; ++c) out[c] += w * v[c];
      }
    }
    ops::MatmulForward<T>(1, d, d, att_.data(), p + lp.w_proj, tmp_.data());
    ops::BiasForward<T>(1, d, p + lp.b_proj, tmp_.data());
    for (int64_t c = 0; c < d; ++c) x_[c] += tmp_[c];
    ops::LayerNormForward<T>(1, d, eps, x_.data(), p + lp.ln2_g, p + lp.ln2_b,
                             ln_.data(), &mean, &rstd);
    ops::MatmulForward<T>(1, d, dff_, ln_.data(), p + lp.w_fc1, ff_.data());
    ops::BiasForward<T>(1, dff_, p + lp.b_fc1, ff_.data());
    ops::GeluForward<T>(dff_, ff_.data(), ff_.data());
    ops::MatmulForward<T>(1, dff_, d, ff_.data(), p + lp.w_fc2, tmp_.data());
    ops::BiasForward<T>(1, d, p + lp.b_fc2, tmp_.data());
    for (int64_t c = 0; c < d; ++c) x_[c] += tmp_[c];
  }
  ops::LayerNormForward<T>(1, d, eps, x_.data(), p + model_.lnf_g_offset(),
                           p + model_.lnf_b_offset(), ln_.data(), &mean, &rstd);
  ops::MatmulForward<T>(1, d, ops::kVocab, ln_.data(),
                        p + model_.w_out_offset(), logits_.data());
  ops::BiasForward<T>(1, ops::kVocab, p + model_.b_out_offset(),
                      logits_.data());
  ++t_;
  return logits_;
}

template <typename T>
absl::StatusOr<std::vector<uint8_t>> SampleBytes(
    const SparseTransformer<T>& model, const std::vector<uint8_t>& prompt,
    int64_t count, double temperature, uint64_t seed) {
  if (prompt.empty()) {
    return absl::InvalidArgumentError(
        "sampling needs a prompt of at least one byte (the start input)");
  }
  if (!(temperature >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature=", temperature, " must be >= 0"));
  }
  const int64_t needed = static_cast<int64_t>(prompt.size()) + count - 1;
  if (count < 0 || needed > model.context()) {
    return absl::InvalidArgumentError(
        absl::StrCat("prompt of ", prompt.size(), " bytes plus ", count,
                     " sampled bytes needs ", needed,
                     " positions; the context is ", model.context()));
  }
  Sampler<T> sampler(model);
  std::vector<uint8_t> out;
  if (count == 0) return out;
  for (size_t i = 0; i + 1 < prompt.size(); ++i) sampler.Step(prompt[i]);
  uint8_t next = prompt.back();
  CounterRng rng(seed, 0);
  std::vector<double> prob(ops::kVocab);
  for (int64_t s = 0; s < count; ++s) {
    const std::vector<T>& logits = sampler.Step(next);
    int best = 0;
    for (int j = 1; j < ops::kVocab; ++j) {
      if (logits[j] > logits[best]) best = j;
    }
    if (temperature == 0) {
      next = static_cast<uint8_t>(best);
    } else {
      // Inverse-CDF draw from softmax(logits / temperature).
      double sum = 0;
      for (int j = 0; j < ops::kVocab; ++j) {
        prob[j] =
            std::exp((double(logits[j]) - double(logits[best])) / temperature);
        sum += prob[j];
      }
      double u = rng.Uniform(static_cast<uint64_t>(s)) * sum;
      int j = 0;
      for (; j < ops::kVocab - 1; ++j) {
        u -= prob[j];
        if (u < 0) break;
      }
      next = static_cast<uint8_t>(j);
    }
    out.push_back(next);
  }
  return out;
}

template class Sampler<float>;
template class Sampler<double>;
template absl::StatusOr<std::vector<uint8_t>> SampleBytes<float>(
    const SparseTransformer<float>&, const std::vector<uint8_t>&, int64_t,
    double, uint64_t);
template absl::StatusOr<std::vector<uint8_t>> SampleBytes<double>(
    const SparseTransformer<double>&, const std::vector<uint8_t>&, int64_t,
    double, uint64_t);

}  // namespace st::model

#include "sparse_transformer/model/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "sparse_transformer/attention/attention_cpu.h"
#include "sparse_transformer/core/rng.h"
#include "sparse_transformer/core/status.h"
#include "sparse_transformer/ops/bias.h"
#include "sparse_transformer/ops/dropout.h"
#include "sparse_transformer/ops/gelu.h"
#include "sparse_transformer/ops/gemm.h"
#include "sparse_transformer/ops/layernorm.h"
#include "sparse_transformer/ops/residual.h"
#include "sparse_transformer/ops/softmax_xent.h"

namespace st::model {
namespace {

constexpr int kV = ops::kVocab;

// Dropout sites: a distinct counter stream per place a mask is drawn, so the
// masks of different blocks are independent yet each is reproducible.
uint64_t EmbeddingSite() { return 0; }
uint64_t AttnSite(int layer) { return 1 + 2 * static_cast<uint64_t>(layer); }
uint64_t FfSite(int layer) { return 2 + 2 * static_cast<uint64_t>(layer); }

// Resizes only when the shape changes (keeps buffers across steps).
template <typename T>
void Ensure(Tensor<T>& t, std::vector<int64_t> shape) {
  if (t.shape() != shape) t.Resize(std::move(shape));
}

// src: [B*N, cols] with the head columns starting at col0, head h at
// col0 + h*K; dst: [B, H, N, K].
template <typename T>
void SplitHeads(int64_t b, int64_t n, int h, int k, const T* src, int64_t cols,
                int64_t col0, T* dst) {
  for (int64_t bi = 0; bi < b; ++bi) {
    for (int hi = 0; hi < h; ++hi) {
      T* d = dst + ((bi * h + hi) * n) * k;
      const T* s = src + bi * n * cols + col0 + static_cast<int64_t>(hi) * k;
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(d + i * k, s + i * cols, sizeof(T) * k);
      }
    }
  }
}

// The inverse of SplitHeads: src [B, H, N, K] -> dst columns of [B*N, cols].
template <typename T>
void MergeHeads(int64_t b, int64_t n, int h, int k, const T* src, int64_t cols,
                int64_t col0, T* dst) {
  for (int64_t bi = 0; bi < b; ++bi) {
    for (int hi = 0; hi < h; ++hi) {
      const T* s = src + ((bi * h + hi) * n) * k;
      T* d = dst + bi * n * cols + col0 + static_cast<int64_t>(hi) * k;
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(d + i * cols, s + i * k, sizeof(T) * k);
      }
    }
  }
}

}  // namespace

template <typename T>
SparseTransformer<T>::SparseTransformer(const ModelConfig& config)
    : config_(config),
      n_(config.context()),
      d_(config.d_model),
      h_(config.n_head),
      dqk_(config.d_qk()),
      dff_(config.d_ff()),
      kq_(config.d_qk() / config.n_head),
      kv_(config.d_model / config.n_head) {}

template <typename T>
absl::StatusOr<std::unique_ptr<SparseTransformer<T>>>
SparseTransformer<T>::Create(const ModelConfig& config) {
  ST_RETURN_IF_ERROR(ValidateModelConfig(config));
  std::unique_ptr<SparseTransformer<T>> model(new SparseTransformer<T>(config));
  ST_RETURN_IF_ERROR(model->Init());
  return model;
}

template <typename T>
void SparseTransformer<T>::AddParam(const std::string& name,
                                    std::vector<int64_t> shape, bool decay,
                                    int64_t* offset) {
  train::ParamGroup g;
  g.name = name;
  g.size = 1;
  for (int64_t s : shape) g.size *= s;
  g.shape = std::move(shape);
  g.offset = groups_.empty() ? 0 : groups_.back().offset + groups_.back().size;
  g.decay = decay;
  *offset = g.offset;
  groups_.push_back(std::move(g));
}

template <typename T>
absl::Status SparseTransformer<T>::Init() {
  ST_ASSIGN_OR_RETURN(
      layouts_, attention::BuildLayerLayouts(config_.pattern, config_.n_layer));
  const int64_t stride = config_.embedding_stride > 0 ? config_.embedding_stride
                                                      : config_.pattern.stride;
  ST_ASSIGN_OR_RETURN(positions_,
                      ops::MakePositionStructure(config_.embedding, n_, stride,
                                                 config_.image_shape));
  const int64_t d = d_, w3 = 2 * dqk_ + d_, f = dff_;
  // Decay: every rank-2 tensor (embeddings and matrices), as DistAug does.
  AddParam("wte", {kV, d}, true, &wte_);
  pos_.resize(positions_.rows.size());
  for (size_t a = 0; a < pos_.size(); ++a) {
    AddParam("wpe_" + positions_.names[a], {positions_.rows[a], d}, true,
             &pos_[a]);
  }
  layers_.resize(config_.n_layer);
  for (int l = 0; l < config_.n_layer; ++l) {
    const std::string p = absl::StrCat("h", l, ".");
    LayerParams& lp = layers_[l];
    AddParam(p + "ln1.g", {d}, false, &lp.ln1_g);
    AddParam(p + "ln1.b", {d}, false, &lp.ln1_b);
    AddParam(p + "attn.w_qkv", {d, w3}, true, &lp.w_qkv);
    AddParam(p + "attn.b_qkv", {w3}, false, &lp.b_qkv);
    AddParam(p + "attn.w_proj", {d, d}, true, &lp.w_proj);
    AddParam(p + "attn.b_proj", {d}, false, &lp.b_proj);
    AddParam(p + "ln2.g", {d}, false, &lp.ln2_g);
    AddParam(p + "ln2.b", {d}, false, &lp.ln2_b);
    AddParam(p + "ff.w_1", {d, f}, true, &lp.w_fc1);
    AddParam(p + "ff.b_1", {f}, false, &lp.b_fc1);
    AddParam(p + "ff.w_2", {f, d}, true, &lp.w_fc2);
    AddParam(p + "ff.b_2", {d}, false, &lp.b_fc2);
  }
  AddParam("lnf.g", {d}, false, &lnf_g_);
  AddParam("lnf.b", {d}, false, &lnf_b_);
  AddParam("w_out", {d, kV}, true, &w_out_);
  AddParam("b_out", {kV}, false, &b_out_);
  const int64_t total = groups_.back().offset + groups_.back().size;
  params_.assign(total, T(0));
  grads_.assign(total, T(0));

  // Paper §6: N(0, s / sqrt(fan_in)) with s = init_scale; positions use
  // s / sqrt(D * n_emb); W_p and W_2 get an extra 1/sqrt(2 n_layer) so the
  // residual branches' sum keeps its scale as depth grows; logits start at
  // zero; LayerNorm gains one, biases zero.
  const double s = config_.init_scale;
  const double depth = 1.0 / std::sqrt(2.0 * config_.n_layer);
  auto fill = [&](int64_t offset, int64_t size, double stddev, int stream) {
    CounterRng rng(config_.init_seed, stream);
    for (int64_t i = 0; i < size; ++i) {
      params_[offset + i] = static_cast<T>(stddev * rng.Normal(i));
    }
  };
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const train::ParamGroup& g = groups_[gi];
    const std::string& name = g.name;
    auto ends = [&](const std::string& suffix) {
      return name.size() >= suffix.size() &&
             name.compare(name.size() - suffix.size(), suffix.size(), suffix) ==
                 0;
    };
    const int stream = static_cast<int>(gi);
    if (name == "wte") {
      fill(g.offset, g.size, s / std::sqrt(double(d)), stream);
    } else if (name.rfind("wpe_", 0) == 0) {
      fill(g.offset, g.size, s / std::sqrt(double(d) * pos_.size()), stream);
    } else if (ends(".g")) {
      std::fill_n(params_.begin() + g.offset, g.size, T(1));
    } else if (ends("attn.w_qkv") || ends("ff.w_1")) {
      fill(g.offset, g.size, s / std::sqrt(double(d)), stream);
    } else if (ends("attn.w_proj")) {
      fill(g.offset, g.size, s / std::sqrt(double(d)) * depth, stream);
    } else if (ends("ff.w_2")) {
      fill(g.offset, g.size, s / std::sqrt(double(f)) * depth, stream);
    }
    // Biases and w_out stay zero.
  }
  return absl::OkStatus();
}

template <typename T>
int64_t SparseTransformer<T>::BlockActElements(int batch) const {
  const int64_t m = int64_t(batch) * n_, d = d_;
  return 8 * m * d + 4 * m + m * (2 * dqk_ + d) + 2 * m * dqk_ +
         int64_t(batch) * h_ * n_ + 2 * m * dff_;
}

template <typename T>
int64_t SparseTransformer<T>::ActivationBytes(int batch) const {
  const int64_t m = int64_t(batch) * n_;
  const int64_t blocks = config_.recompute ? 1 : config_.n_layer;
  const int64_t elements = (config_.n_layer + 1) * m * d_ +
                           blocks * BlockActElements(batch) + m * d_ + 2 * m +
                           m * kV + m;
  return elements * static_cast<int64_t>(sizeof(T));
}

template <typename T>
void SparseTransformer<T>::Allocate(int batch) {
  // Buffers only grow: an evaluation at a smaller batch between training
  // steps reuses them instead of reallocating (and re-faulting) every tensor.
  if (batch <= batch_ && allocated_recompute_ == config_.recompute) return;
  batch = std::max(batch, batch_);
  batch_ = batch;
  allocated_recompute_ = config_.recompute;
  const int64_t b = batch, m = b * n_, d = d_, w3 = 2 * dqk_ + d_;
  xs_.resize(config_.n_layer + 1);
  for (auto& x : xs_) Ensure(x, {m, d});
  acts_.clear();
  acts_.resize(config_.recompute ? 1 : config_.n_layer);
  for (BlockActs& a : acts_) {
    Ensure(a.ln1, {m, d});
    Ensure(a.ln1_mean, {m});
    Ensure(a.ln1_rstd, {m});
    Ensure(a.qkv, {m, w3});
    Ensure(a.q, {b, h_, n_, kq_});
    Ensure(a.k, {b, h_, n_, kq_});
    Ensure(a.v, {b, h_, n_, kv_});
    Ensure(a.att, {b, h_, n_, kv_});
    Ensure(a.lse, {b, h_, n_});
    Ensure(a.att_merged, {m, d});
    Ensure(a.mid, {m, d});
    Ensure(a.ln2, {m, d});
    Ensure(a.ln2_mean, {m});
    Ensure(a.ln2_rstd, {m});
    Ensure(a.h1, {m, int64_t(dff_)});
    Ensure(a.g1, {m, int64_t(dff_)});
  }
  Ensure(lnf_, {m, d});
  Ensure(lnf_mean_, {m});
  Ensure(lnf_rstd_, {m});
  Ensure(probs_, {m, int64_t(kV)});
  Ensure(losses_, {m});
  Ensure(dx_, {m, d});
  Ensure(dtmp_, {m, d});
  Ensure(dmerged_, {m, d});
  Ensure(dqkv_, {m, w3});
  Ensure(dffb_, {m, int64_t(dff_)});
  Ensure(dq_, {b, h_, n_, kq_});
  Ensure(dk_, {b, h_, n_, kq_});
  Ensure(dv_, {b, h_, n_, kv_});
  Ensure(datt_, {b, h_, n_, kv_});
}

template <typename T>
void SparseTransformer<T>::BlockForward(int layer, int batch, const T* x_in,
                                        T* x_out, BlockActs& a, bool train,
                                        uint64_t seed) {
  const LayerParams& lp = layers_[layer];
  const T* p = params_.data();
  const int64_t m = int64_t(batch) * n_, d = d_, w3 = 2 * dqk_ + d_;
  const T eps = static_cast<T>(config_.ln_eps);
  const double drop = train ? config_.resid_dropout : 0.0;

  // Attention branch: mid = x_in + drop(W_p attend(LN1 x_in) + b_p).
  ops::LayerNormForward<T>(m, d, eps, x_in, p + lp.ln1_g, p + lp.ln1_b,
                           a.ln1.data(), a.ln1_mean.data(), a.ln1_rstd.data());
  ops::MatmulForward<T>(m, d, w3, a.ln1.data(), p + lp.w_qkv, a.qkv.data());
  ops::BiasForward<T>(m, w3, p + lp.b_qkv, a.qkv.data());
  SplitHeads<T>(batch, n_, h_, kq_, a.qkv.data(), w3, 0, a.q.data());
  SplitHeads<T>(batch, n_, h_, kq_, a.qkv.data(), w3, dqk_, a.k.data());
  SplitHeads<T>(batch, n_, h_, kv_, a.qkv.data(), w3, 2 * dqk_, a.v.data());
  const T scale = static_cast<T>(1.0 / std::sqrt(double(kq_)));
  attention::BlockSparseAttentionForward<T>(
      *layouts_[layer], batch, kq_, kv_, scale, a.q.data(), a.k.data(),
      a.v.data(), a.att.data(), a.lse.data());
  MergeHeads<T>(batch, n_, h_, kv_, a.att.data(), d, 0, a.att_merged.data());
  T* mid = a.mid.data();
  ops::MatmulForward<T>(m, d, d, a.att_merged.data(), p + lp.w_proj, mid);
  ops::BiasForward<T>(m, d, p + lp.b_proj, mid);
  ops::DropoutForward<T>(seed, AttnSite(layer), drop, m * d, mid, mid);
  ops::ResidualForward<T>(m * d, x_in, mid, mid);

  // Feed-forward branch: x_out = mid + drop(W_2 gelu(W_1 LN2 mid + b_1) + b_2).
  ops::LayerNormForward<T>(m, d, eps, mid, p + lp.ln2_g, p + lp.ln2_b,
                           a.ln2.data(), a.ln2_mean.data(), a.ln2_rstd.data());
  ops::MatmulForward<T>(m, d, dff_, a.ln2.data(), p + lp.w_fc1, a.h1.data());
  ops::BiasForward<T>(m, dff_, p + lp.b_fc1, a.h1.data());
  ops::GeluForward<T>(m * dff_, a.h1.data(), a.g1.data());
  ops::MatmulForward<T>(m, dff_, d, a.g1.data(), p + lp.w_fc2, x_out);
  ops::BiasForward<T>(m, d, p + lp.b_fc2, x_out);
  ops::DropoutForward<T>(seed, FfSite(layer), drop, m * d, x_out, x_out);
  ops::ResidualForward<T>(m * d, mid, x_out, x_out);
}

template <typename T>
void SparseTransformer<T>::BlockBackward(int layer, int batch, const T* x_in,
                                         BlockActs& a, T* dx, uint64_t seed) {
  const LayerParams& lp = layers_[layer];
  const T* p = params_.data();
  T* g = grads_.data();
  const int64_t m = int64_t(batch) * n_, d = d_, w3 = 2 * dqk_ + d_;
  const double drop = config_.resid_dropout;
  T* dtmp = dtmp_.data();

  // Feed-forward branch. dx = d/d x_out is also d/d mid through the skip path;
  // LN2's backward then adds the branch's contribution to it.
  ops::DropoutBackward<T>(seed, FfSite(layer), drop, m * d, dx, dtmp);
  ops::BiasBackward<T>(m, d, dtmp, g + lp.b_fc2);
  ops::MatmulBackward<T>(m, dff_, d, a.g1.data(), p + lp.w_fc2, dtmp,
                         dffb_.data(), g + lp.w_fc2, false);
  ops::GeluBackward<T>(m * dff_, a.h1.data(), dffb_.data(), dffb_.data());
  ops::BiasBackward<T>(m, dff_, dffb_.data(), g + lp.b_fc1);
  ops::MatmulBackward<T>(m, d, dff_, a.ln2.data(), p + lp.w_fc1, dffb_.data(),
                         dtmp, g + lp.w_fc1, false);
  ops::LayerNormBackward<T>(m, d, a.mid.data(), p + lp.ln2_g, a.ln2_mean.data(),
                            a.ln2_rstd.data(), dtmp, dx, g + lp.ln2_g,
                            g + lp.ln2_b);

  // Attention branch; dx now holds d/d mid = d/d x_in through the skip path.
  ops::DropoutBackward<T>(seed, AttnSite(layer), drop, m * d, dx, dtmp);
  ops::BiasBackward<T>(m, d, dtmp, g + lp.b_proj);
  ops::MatmulBackward<T>(m, d, d, a.att_merged.data(), p + lp.w_proj, dtmp,
                         dmerged_.data(), g + lp.w_proj, false);
  SplitHeads<T>(batch, n_, h_, kv_, dmerged_.data(), d, 0, datt_.data());
  const T scale = static_cast<T>(1.0 / std::sqrt(double(kq_)));
  attention::BlockSparseAttentionBackward<T>(
      *layouts_[layer], batch, kq_, kv_, scale, a.q.data(), a.k.data(),
      a.v.data(), a.att.data(), a.lse.data(), datt_.data(), dq_.data(),
      dk_.data(), dv_.data());
  MergeHeads<T>(batch, n_, h_, kq_, dq_.data(), w3, 0, dqkv_.data());
  MergeHeads<T>(batch, n_, h_, kq_, dk_.data(), w3, dqk_, dqkv_.data());
  MergeHeads<T>(batch, n_, h_, kv_, dv_.data(), w3, 2 * dqk_, dqkv_.data());
  ops::BiasBackward<T>(m, w3, dqkv_.data(), g + lp.b_qkv);
  ops::MatmulBackward<T>(m, d, w3, a.ln1.data(), p + lp.w_qkv, dqkv_.data(),
                         dtmp, g + lp.w_qkv, false);
  ops::LayerNormBackward<T>(m, d, x_in, p + lp.ln1_g, a.ln1_mean.data(),
                            a.ln1_rstd.data(), dtmp, dx, g + lp.ln1_g,
                            g + lp.ln1_b);
}

template <typename T>
void SparseTransformer<T>::Forward(const uint8_t* inputs, int batch, bool train,
                                   uint64_t seed, bool keep_acts) {
  Allocate(batch);
  const T* p = params_.data();
  const int64_t m = int64_t(batch) * n_, d = d_;
  const int axes = static_cast<int>(pos_.size());
  std::vector<const T*> tables(axes);
  std::vector<const int32_t*> index(axes);
  for (int a = 0; a < axes; ++a) {
    tables[a] = p + pos_[a];
    index[a] = positions_.index[a].data();
  }
  ops::EmbeddingForward<T>(batch, n_, d, inputs, p + wte_, axes, tables.data(),
                           index.data(), xs_[0].data());
  ops::DropoutForward<T>(seed, EmbeddingSite(),
                         train ? config_.embd_dropout : 0.0, m * d,
                         xs_[0].data(), xs_[0].data());
  for (int l = 0; l < config_.n_layer; ++l) {
    BlockActs& acts = (keep_acts && !config_.recompute) ? acts_[l] : acts_[0];
    BlockForward(l, batch, xs_[l].data(), xs_[l + 1].data(), acts, train, seed);
  }
  ops::LayerNormForward<T>(m, d, static_cast<T>(config_.ln_eps),
                           xs_[config_.n_layer].data(), p + lnf_g_, p + lnf_b_,
                           lnf_.data(), lnf_mean_.data(), lnf_rstd_.data());
  ops::MatmulForward<T>(m, d, kV, lnf_.data(), p + w_out_, probs_.data());
  ops::BiasForward<T>(m, kV, p + b_out_, probs_.data());
}

template <typename T>
double SparseTransformer<T>::ForwardBackward(const uint8_t* inputs,
                                             const uint8_t* targets, int batch,
                                             double loss_weight,
                                             uint64_t dropout_seed) {
  Forward(inputs, batch, /*train=*/true, dropout_seed, /*keep_acts=*/true);
  const int64_t m = int64_t(batch) * n_, d = d_;
  const int nl = config_.n_layer;
  T* probs = probs_.data();
  ops::SoftmaxCrossEntropyForward<T>(m, kV, probs, targets, losses_.data(),
                                     probs);
  double sum = 0;
  for (int64_t i = 0; i < m; ++i) sum += losses_[i];
  const double mean = sum / static_cast<double>(m);

  // d(loss_weight * mean)/d logits, written over the probabilities.
  ops::SoftmaxCrossEntropyBackward<T>(
      m, kV, probs, targets, static_cast<T>(loss_weight / double(m)), probs);
  T* g = grads_.data();
  const T* p = params_.data();
  ops::BiasBackward<T>(m, kV, probs, g + b_out_);
  ops::MatmulBackward<T>(m, d, kV, lnf_.data(), p + w_out_, probs, dtmp_.data(),
                         g + w_out_, false);
  std::fill_n(dx_.data(), m * d, T(0));
  ops::LayerNormBackward<T>(m, d, xs_[nl].data(), p + lnf_g_, lnf_mean_.data(),
                            lnf_rstd_.data(), dtmp_.data(), dx_.data(),
                            g + lnf_g_, g + lnf_b_);
  for (int l = nl - 1; l >= 0; --l) {
    BlockActs* acts = &acts_[0];
    if (config_.recompute) {
      // Rebuild this block's activations from the stored residual stream;
      // the recomputed x_out equals the stored xs_[l + 1] bit for bit.
      BlockForward(l, batch, xs_[l].data(), xs_[l + 1].data(), acts_[0],
                   /*train=*/true, dropout_seed);
    } else {
      acts = &acts_[l];
    }
    BlockBackward(l, batch, xs_[l].data(), *acts, dx_.data(), dropout_seed);
  }
  ops::DropoutBackward<T>(dropout_seed, EmbeddingSite(), config_.embd_dropout,
                          m * d, dx_.data(), dtmp_.data());
  const int axes = static_cast<int>(pos_.size());
  std::vector<const int32_t*> index(axes);
  std::vector<T*> dtables(axes);
  for (int a = 0; a < axes; ++a) {
    index[a] = positions_.index[a].data();
    dtables[a] = g + pos_[a];
  }
  ops::EmbeddingBackward<T>(batch, n_, d, inputs, axes, index.data(),
                            dtmp_.data(), g + wte_, dtables.data());
  return mean;
}

template <typename T>
void SparseTransformer<T>::Loss(const uint8_t* inputs, const uint8_t* targets,
                                int batch, T* losses, T* logits) {
  Forward(inputs, batch, /*train=*/false, 0, /*keep_acts=*/false);
  const int64_t m = int64_t(batch) * n_;
  if (logits != nullptr) {
    std::memcpy(logits, probs_.data(), sizeof(T) * m * kV);
  }
  ops::SoftmaxCrossEntropyForward<T>(m, kV, probs_.data(), targets, losses,
                                     static_cast<T*>(nullptr));
}

template class SparseTransformer<float>;
template class SparseTransformer<double>;

std::string TrainableModel::structure() const {
  const ModelConfig& c = model_->config();
  const attention::PatternConfig& p = c.pattern;
  std::string image;
  for (size_t i = 0; i < c.image_shape.size(); ++i) {
    absl::StrAppend(&image, i ? "x" : "", c.image_shape[i]);
  }
  return absl::StrCat(
      "pattern ", attention::PatternKindName(p.kind), " n=", p.n,
      " block=", p.block, " stride=", p.stride, " c=", p.c, " heads=", p.heads,
      " ", attention::HeadModeName(p.head_mode), " ",
      attention::PatternPartName(p.part),
      p.distinct_summaries ? " distinct_summaries" : "",
      p.strided_transposed ? " transposed" : "", "; embedding ",
      ops::EmbeddingKindName(c.embedding), " stride=", c.embedding_stride,
      image.empty() ? "" : " image=", image);
}

absl::StatusOr<std::unique_ptr<TrainableModel>> TrainableModel::Create(
    const ModelConfig& config) {
  ST_ASSIGN_OR_RETURN(auto model, SparseTransformer<float>::Create(config));
  return std::unique_ptr<TrainableModel>(new TrainableModel(std::move(model)));
}

}  // namespace st::model

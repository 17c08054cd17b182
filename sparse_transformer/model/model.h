// The Sparse Transformer (paper §5, eqs. 9-14) on the CPU: the executable
// specification of the model, templated on float (training) and double
// (gradient checks).
//
//   h_0 = embed(x)                                  token + structural
//   positions h   = h + drop(W_p attend(LN1 h) + b_p)         every block,
//   pre-LN h   = h + drop(W_2 gelu(W_1 LN2 h + b_1) + b_2) logits = LN_f(h_L)
//   W_out + b_out                 256 byte values
//
// Shapes: B batch, N context, D model width, H heads, Kq = d_qk / H,
// Kv = D / H, F = ff width, M = B * N rows, V = 256.
// Parameters, gradients live in one flat buffer each (params(), grads()).
#ifndef SPARSE_TRANSFORMER_MODEL_MODEL_H_
#define SPARSE_TRANSFORMER_MODEL_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "sparse_transformer/attention/layout.h"
#include "sparse_transformer/core/tensor.h"
#include "sparse_transformer/model/config.h"
#include "sparse_transformer/ops/embedding.h"
#include "sparse_transformer/train/trainable.h"

namespace st::model {

// Offsets of one block's tensors in the flat parameter buffer.
struct LayerParams {
  int64_t ln1_g, ln1_b;    // [D]
  int64_t w_qkv, b_qkv;    // [D, 2 Dqk + D], [2 Dqk + D]: q | k | v columns
  int64_t w_proj, b_proj;  // [D, D], [D]   (W_p)
  int64_t ln2_g, ln2_b;    // [D]
  int64_t w_fc1, b_fc1;    // [D, F], [F]   (W_1)
  int64_t w_fc2, b_fc2;    // [F, D], [D]   (W_2)
};

template <typename T>
class SparseTransformer {
 public:
  // Validates the config, builds the per-layer attention layouts and
  // initialises the parameters from config.init_seed.
  static absl::StatusOr<std::unique_ptr<SparseTransformer>> Create(
      const ModelConfig& config);

  const ModelConfig& config() const { return config_; }
  int64_t context() const { return n_; }
  absl::Span<T> params() { return absl::MakeSpan(params_); }
  absl::Span<T> grads() { return absl::MakeSpan(grads_); }
  const std::vector<train::ParamGroup>& param_groups() const { return groups_; }
  const attention::AttentionLayout& layout(int layer) const {
    return *layouts_[layer];
  }

  // inputs, targets: [B, N] bytes. Accumulates (+=) into grads() the
  // gradient of loss_weight * mean cross-entropy; returns the mean (nats).
  // Dropout masks are functions of dropout_seed only.
  double ForwardBackward(const uint8_t* inputs, const uint8_t* targets,
                         int batch, double loss_weight, uint64_t dropout_seed);

  // No dropout. losses: [B, N] cross-entropy in nats. logits (optional):
  // [B, N, 256].
  void Loss(const uint8_t* inputs, const uint8_t* targets, int batch, T* losses,
            T* logits = nullptr);

  // Bytes of activations kept between the forward and the backward pass at
  // batch size `batch`, for the current recompute setting; with recompute
  // only the residual stream (plus one block's scratch) is kept.
  int64_t ActivationBytes(int batch) const;
  void set_recompute(bool recompute) { config_.recompute = recompute; }

  // For the sampler: read-only parameters, their offsets and the
  // structural embedding tables.
  const T* param_data() const { return params_.data(); }
  const LayerParams& layer_params(int layer) const { return layers_[layer]; }
  int64_t wte_offset() const { return wte_; }
  const std::vector<int64_t>& pos_offsets() const { return pos_; }
  const ops::PositionStructure& positions() const { return positions_; }
  int64_t lnf_g_offset() const { return lnf_g_; }
  int64_t lnf_b_offset() const { return lnf_b_; }
  int64_t w_out_offset() const { return w_out_; }
  int64_t b_out_offset() const { return b_out_; }

 private:
  // Activations of one block, saved by its forward for its backward.
  struct BlockActs {
    Tensor<T> ln1, ln1_mean, ln1_rstd;  // [M, D], [M], [M]
    Tensor<T> qkv;                      // [M, 2 Dqk + D]
    Tensor<T> q, k, v;                  // [B, H, N, Kq], .., [B, H, N, Kv]
    Tensor<T> att, lse;                 // [B, H, N, Kv], [B, H, N]
    Tensor<T> att_merged;               // [M, D]
    Tensor<T> mid;                      // [M, D] residual after attention
    Tensor<T> ln2, ln2_mean, ln2_rstd;  // [M, D], [M], [M]
    Tensor<T> h1, g1;                   // [M, F] pre- and post-GeLU
  };

  explicit SparseTransformer(const ModelConfig& config);
  absl::Status Init();
  void AddParam(const std::string& name, std::vector<int64_t> shape, bool decay,
                int64_t* offset);
  void Allocate(int batch);
  // Elements of one block's saved activations at batch `batch`.
  int64_t BlockActElements(int batch) const;
  // Residual stream x_in [M, D] -> x_out [M, D]; fills acts.
  void BlockForward(int layer, int batch, const T* x_in, T* x_out,
                    BlockActs& acts, bool train, uint64_t seed);
  // dx [M, D]: on entry d loss / d x_out, on exit d loss / d x_in.
  void BlockBackward(int layer, int batch, const T* x_in, BlockActs& acts,
                     T* dx, uint64_t seed);
  // Embedding, all blocks, final LayerNorm and logits: leaves h_L in xs_[L],
  // LN_f(h_L) in lnf_ and the logits in probs_. With keep_acts each block's
  // activations go to acts_[layer] (unless recomputing), else to acts_[0].
  void Forward(const uint8_t* inputs, int batch, bool train, uint64_t seed,
               bool keep_acts);

  ModelConfig config_;
  int64_t n_;
  int d_, h_, dqk_, dff_, kq_, kv_;
  std::vector<std::shared_ptr<const attention::AttentionLayout>> layouts_;
  ops::PositionStructure positions_;

  std::vector<T> params_, grads_;
  std::vector<train::ParamGroup> groups_;
  int64_t wte_ = 0;
  std::vector<int64_t> pos_;  // one table per structural axis
  std::vector<LayerParams> layers_;
  int64_t lnf_g_ = 0, lnf_b_ = 0, w_out_ = 0, b_out_ = 0;

  int batch_ = -1;               // largest batch the buffers are sized for
  std::vector<Tensor<T>> xs_;    // [L + 1] residual stream, [M, D] each
  std::vector<BlockActs> acts_;  // [L] stored mode, or [1] scratch
  Tensor<T> lnf_, lnf_mean_, lnf_rstd_;  // [M, D], [M], [M]
  Tensor<T> probs_;                      // [M, V] logits, then probabilities
  Tensor<T> losses_;                     // [M]
  // Backward scratch: dx_ [M, D] the residual-stream gradient, dtmp_ and
  // dmerged_ [M, D], dqkv_ [M, 2 Dqk + D], dffb_ [M, F], dq_/dk_
  // [B, H, N, Kq], dv_/datt_ [B, H, N, Kv].
  Tensor<T> dx_, dtmp_, dmerged_, dqkv_, dffb_;
  Tensor<T> dq_, dk_, dv_, datt_;
  bool allocated_recompute_ = false;
};

// The float model behind the trainer's interface.
class TrainableModel final : public train::Trainable {
 public:
  static absl::StatusOr<std::unique_ptr<TrainableModel>> Create(
      const ModelConfig& config);
  int context() const override { return static_cast<int>(model_->context()); }
  absl::Span<float> params() override { return model_->params(); }
  absl::Span<float> grads() override { return model_->grads(); }
  const std::vector<train::ParamGroup>& param_groups() const override {
    return model_->param_groups();
  }
  // The attention pattern and the position embedding's structure.
  std::string structure() const override;
  float ForwardBackward(const uint8_t* inputs, const uint8_t* targets,
                        int batch, float loss_weight,
                        uint64_t dropout_seed) override {
    return static_cast<float>(model_->ForwardBackward(
        inputs, targets, batch, loss_weight, dropout_seed));
  }
  void Loss(const uint8_t* inputs, const uint8_t* targets, int batch,
            float* losses) override {
    model_->Loss(inputs, targets, batch, losses);
  }
  SparseTransformer<float>& model() { return *model_; }

 private:
  explicit TrainableModel(std::unique_ptr<SparseTransformer<float>> model)
      : model_(std::move(model)) {}
  std::unique_ptr<SparseTransformer<float>> model_;
};

}  // namespace st::model

#endif  // SPARSE_TRANSFORMER_MODEL_MODEL_H_

// The model's hyperparameters as a plain struct. The experiment specs map
// their protobuf fields onto these names one to one.
#ifndef SPARSE_TRANSFORMER_MODEL_CONFIG_H_
#define SPARSE_TRANSFORMER_MODEL_CONFIG_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "sparse_transformer/attention/layout.h"
#include "sparse_transformer/ops/embedding.h"

namespace st::model {

struct ModelConfig {
  int n_layer = 2;
  int d_model = 32;  // D
  int n_head = 2;    // H
  // FF inner width = ff_multiple * D (4, or 2 for the paper's "half-size").
  double ff_multiple = 4.0;
  // q/k width = qk_ratio * D (1 or 0.5); v stays D wide.
  double qk_ratio = 1.0;
  double resid_dropout = 0.0;  // at the end of each residual branch
  double embd_dropout = 0.0;   // on the summed embeddings
  // Weights ~ N(0, std = init_scale / sqrt(fan_in)) (paper §6, 0.125);
  // W_p and W_2 additionally * 1/sqrt(2 n_layer); logits weight zero.
  double init_scale = 0.125;
  uint64_t init_seed = 1;
  double ln_eps = 1e-5;

  // Structural position embeddings (paper eq. 15): text/audio use
  // (row, column) in a matrix of width `embedding_stride` (0 = the pattern's
  // stride); images use (row, column, channel) of image_shape = {H, W, C}.
  ops::EmbeddingKind embedding = ops::EmbeddingKind::kText;
  int64_t embedding_stride = 0;
  std::vector<int64_t> image_shape;

  // Attention pattern; pattern.n is the context length N and pattern.heads
  // must equal n_head.
  attention::PatternConfig pattern;

  // Keep only the residual stream between blocks and recompute attention
  // and feed-forward activations in the backward pass (paper §5.4).
  bool recompute = false;

  int64_t context() const { return pattern.n; }
  int d_qk() const { return static_cast<int>(d_model * qk_ratio + 0.5); }
  int d_ff() const { return static_cast<int>(d_model * ff_multiple + 0.5); }
};

// Checks every field; the error names the field, its value and the rule.
absl::Status ValidateModelConfig(const ModelConfig& config);

}  // namespace st::model

#endif  // SPARSE_TRANSFORMER_MODEL_CONFIG_H_

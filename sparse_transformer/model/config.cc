#include "sparse_transformer/model/config.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "sparse_transformer/core/status.h"

namespace st::model {

absl::Status ValidateModelConfig(const ModelConfig& c) {
  auto bad = [](auto... parts) {
    return absl::InvalidArgumentError(absl::StrCat("model config: ", parts...));
  };
  if (c.n_layer < 1) return bad("n_layer=", c.n_layer, " must be >= 1");
  if (c.d_model < 1) return bad("d_model=", c.d_model, " must be >= 1");
  if (c.n_head < 1) return bad("n_head=", c.n_head, " must be >= 1");
  if (c.pattern.heads != c.n_head) {
    return bad("pattern.heads=", c.pattern.heads,
               " must equal n_head=", c.n_head);
  }
  if (!(c.qk_ratio > 0 && c.qk_ratio <= 1)) {
    return bad("qk_ratio=", c.qk_ratio, " must be in (0, 1]");
  }
  if (std::fabs(c.d_model * c.qk_ratio - c.d_qk()) > 1e-9 ||
      c.d_qk() % c.n_head != 0) {
    return bad("qk width d_model*qk_ratio=", c.d_model * c.qk_ratio,
               " must be an integer divisible by n_head=", c.n_head);
  }
  if (c.d_model % c.n_head != 0) {
    return bad("d_model=", c.d_model,
               " must be divisible by n_head=", c.n_head);
  }
  if (!(c.ff_multiple > 0) ||
      std::fabs(c.d_model * c.ff_multiple - c.d_ff()) > 1e-9) {
    return bad("ff_multiple=", c.ff_multiple,
               " must be positive with d_model*ff_multiple an integer");
  }
  if (!(c.resid_dropout >= 0 && c.resid_dropout < 1)) {
    return bad("resid_dropout=", c.resid_dropout, " must be in [0, 1)");
  }
  if (!(c.embd_dropout >= 0 && c.embd_dropout < 1)) {
    return bad("embd_dropout=", c.embd_dropout, " must be in [0, 1)");
  }
  if (!(c.init_scale > 0)) {
    return bad("init_scale=", c.init_scale, " must be positive");
  }
  if (!(c.ln_eps > 0)) return bad("ln_eps=", c.ln_eps, " must be positive");
  ST_RETURN_IF_ERROR(attention::ValidatePatternConfig(c.pattern));
  const int64_t stride =
      c.embedding_stride > 0 ? c.embedding_stride : c.pattern.stride;
  if (c.embedding != ops::EmbeddingKind::kImage && stride <= 0) {
    return bad("embedding_stride=", c.embedding_stride,
               " and pattern.stride=", c.pattern.stride,
               ": text/audio embeddings need a positive stride");
  }
  return ops::MakePositionStructure(c.embedding, c.context(), stride,
                                    c.image_shape)
      .status();
}

}  // namespace st::model

#include "experiments/plan.h"

#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "experiments/spec.h"
#include "sparse_transformer/attention/layout.h"
#include "sparse_transformer/core/status.h"

namespace st::experiments {
namespace {

// Largest layout the plan builds (live blocks, estimated); beyond it the
// density column is left out rather than spending gigabytes on a printout.
constexpr double kMaxPlannedBlocks = 64e6;

std::string Bytes(int64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return absl::StrFormat("%.1f %s", v, units[u]);
}

// Positional-embedding rows (each row is a d-vector) for the spec's structure.
int64_t PositionRows(const proto::Experiment& spec) {
  const auto& e = spec.model().embedding();
  const int64_t n = spec.data().context();
  switch (e.kind_case()) {
    case proto::EmbeddingSpec::kImage:
      return e.image().height() + e.image().width() + e.image().channels();
    case proto::EmbeddingSpec::kText:
    case proto::EmbeddingSpec::kAudio: {
      int w = e.kind_case() == proto::EmbeddingSpec::kText
                  ? e.text().row_width()
                  : e.audio().row_width();
      if (w <= 0) w = spec.model().attention().stride();
      return n / w + w;
    }
    case proto::EmbeddingSpec::KIND_NOT_SET:
      return 0;
  }
  return 0;
}

}  // namespace

absl::StatusOr<Plan> MakePlan(const proto::Experiment& spec) {
  Plan plan;
  const auto& m = spec.model();
  const int64_t d = m.d_model();
  const int64_t dqk = static_cast<int64_t>(std::lround(m.qk_ratio() * d));
  const int64_t f = static_cast<int64_t>(std::lround(m.ff_multiple() * d));
  const int64_t v = m.vocab_size();
  const int64_t n = spec.data().context();
  // Per block: 2 LayerNorms (gain, bias), q and k (d -> dqk), v and W_p
  // (d -> d), W_1 (d -> f), W_2 (f -> d), each with a bias.
  const int64_t per_layer = 2 * 2 * d + 2 * (d * dqk + dqk) + 2 * (d * d + d) +
                            (d * f + f) + (f * d + d);
  plan.params_non_embedding = m.n_layer() * per_layer;
  // Token and position embeddings, final LayerNorm, output logits with bias.
  plan.params = plan.params_non_embedding + v * d + PositionRows(spec) * d +
                2 * d + (d * v + v);

  const auto& t = spec.training();
  const int64_t micro =
      t.micro_batch_size() > 0 ? t.micro_batch_size() : t.batch_size();
  plan.tokens_per_step = static_cast<int64_t>(t.batch_size()) * n;
  plan.bytes_weights = plan.params * 4 * 4;  // weights, grads, Adam m and v
  // Stored activations per token and layer (fp32 values): with recompute only
  // the residual stream (d); without it the LN outputs, q, k, v, attention
  // output and lse, and the FF input/hidden/output.
  const int64_t per_token =
      t.recompute() ? d
                    : 2 * d + 2 * dqk + 2 * d + m.n_head() + 2 * d + 2 * f + d;
  const int64_t bytes_per_value =
      t.precision() == proto::TrainingSpec::FP32 ? 4 : 2;
  plan.bytes_activations =
      micro * n * (m.n_layer() * per_token + 2 * d + v) * bytes_per_value;

  // Attention density: build each distinct layer pattern once.
  const attention::PatternConfig pc = PatternConfigFromSpec(spec);
  const double nb = static_cast<double>(n) / pc.block;
  double estimate = nb * (nb + 1) / 2 * pc.heads;  // dense causal blocks
  if (pc.kind == attention::PatternKind::kLocal) {
    estimate = nb * (pc.stride / pc.block + 1) * pc.heads;
  } else if (pc.kind == attention::PatternKind::kStrided) {
    estimate =
        nb * (2 * pc.stride / pc.block + nb / (n / pc.stride) + 2) * pc.heads;
  } else if (pc.kind == attention::PatternKind::kFixed) {
    estimate = nb * (pc.stride / pc.block + nb * pc.c / pc.stride / 2.0 + 1) *
               pc.heads;
  }
  if (estimate > kMaxPlannedBlocks) {
    plan.layers_note = absl::StrFormat(
        "about %.3g live blocks per layer: too many to count in a plan",
        estimate);
    return plan;
  }
  std::map<int, LayerPlan> distinct;  // layer % period -> counts
  const int period = pc.head_mode == attention::HeadMode::kInterleaved ? 2 : 1;
  for (int layer = 0; layer < m.n_layer(); ++layer) {
    const int key = layer % period;
    auto it = distinct.find(key);
    if (it == distinct.end()) {
      ST_ASSIGN_OR_RETURN(auto layout, attention::BuildLayout(pc, layer));
      LayerPlan lp;
      lp.live_blocks = layout->live_blocks();
      lp.density = layout->density();
      it = distinct.emplace(key, lp).first;
    }
    LayerPlan lp = it->second;
    lp.layer = layer;
    plan.layers.push_back(lp);
  }
  return plan;
}

std::string FormatPlan(const proto::Experiment& spec, const Plan& plan) {
  const auto& m = spec.model();
  const auto& a = m.attention();
  std::string out = absl::StrFormat(
      "experiment %s: %d layers, d=%d, %d heads, ff x%g, qk x%g\n", spec.name(),
      m.n_layer(), m.d_model(), m.n_head(), m.ff_multiple(), m.qk_ratio());
  absl::StrAppendFormat(&out, "  attention: %s",
                        proto::AttentionSpec::Pattern_Name(a.pattern()));
  if (a.pattern() != proto::AttentionSpec::DENSE) {
    absl::StrAppendFormat(&out, " stride=%d", a.stride());
  }
  if (a.pattern() == proto::AttentionSpec::FIXED) {
    absl::StrAppendFormat(&out, " c=%d", a.c());
  }
  absl::StrAppendFormat(&out, " block=%d heads=%s part=%s\n", a.block_size(),
                        proto::AttentionSpec::HeadMode_Name(a.head_mode()),
                        proto::AttentionSpec::Part_Name(a.part()));
  absl::StrAppendFormat(
      &out, "  data: %s, context %d, %s\n",
      proto::DataSpec::Dataset_Name(spec.data().dataset()),
      spec.data().context(),
      spec.data().path().empty() ? "(no path)" : spec.data().path());
  absl::StrAppendFormat(
      &out, "  parameters: %d (%.1fM; %.1fM without embeddings)", plan.params,
      plan.params / 1e6, plan.params_non_embedding / 1e6);
  if (spec.paper().params() > 0) {
    absl::StrAppendFormat(&out, "; paper: %.0fM", spec.paper().params() / 1e6);
  }
  out += "\n";
  if (plan.layers.empty()) {
    absl::StrAppendFormat(&out, "  attention density: %s\n", plan.layers_note);
  } else {
    out += "  attention density per layer (live pairs / dense causal pairs):\n";
    for (const LayerPlan& lp : plan.layers) {
      absl::StrAppendFormat(&out,
                            "    layer %3d: %10d live blocks, density %.4f\n",
                            lp.layer, lp.live_blocks, lp.density);
    }
  }
  absl::StrAppendFormat(
      &out,
      "  memory: weights+grads+Adam %s; activations %s per micro-batch (%s)\n",
      Bytes(plan.bytes_weights), Bytes(plan.bytes_activations),
      spec.training().recompute() ? "recompute" : "stored");
  absl::StrAppendFormat(&out, "  tokens per step: %d\n", plan.tokens_per_step);
  if (spec.paper().has_bits_per_byte()) {
    absl::StrAppendFormat(&out, "  reproduces: %s, %s: %.3f bits per byte\n",
                          spec.paper().table(), spec.paper().row(),
                          spec.paper().bits_per_byte());
  }
  return out;
}

}  // namespace st::experiments

#include "experiments/spec.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "sparse_transformer/core/status.h"

namespace st::experiments {
namespace {

using proto::AttentionSpec;
using proto::DataSpec;
using proto::EmbeddingSpec;
using proto::Experiment;
using proto::TrainingSpec;

// Keeps the first parse error with its position (protobuf reports 0-based
// line and column; people count from 1).
class FirstErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (!error_.empty()) return;
    error_ = absl::StrCat(line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int, int, const std::string&) override {}
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

// Collects "path: field: problem" errors, reporting the first.
class Checker {
 public:
  explicit Checker(const std::string& path) : path_(path) {}

  template <typename... Args>
  void Fail(const std::string& field, const Args&... args) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat(path_, ": ", field, ": ", args...));
    }
  }
  void Require(bool ok, const std::string& field, const std::string& what) {
    if (!ok) Fail(field, what);
  }
  absl::Status status() const { return status_; }

 private:
  const std::string& path_;
  absl::Status status_;
};

bool IsPowerOfTwoBlock(int b) {
  return b == 16 || b == 32 || b == 64 || b == 128;
}

void ValidateModel(const Experiment& spec, Checker& c) {
  if (!spec.has_model()) return c.Fail("model", "missing");
  const proto::ModelSpec& m = spec.model();
  c.Require(m.n_layer() > 0, "model.n_layer",
            absl::StrCat("must be > 0, got ", m.n_layer()));
  c.Require(m.d_model() > 0, "model.d_model",
            absl::StrCat("must be > 0, got ", m.d_model()));
  c.Require(m.n_head() > 0, "model.n_head",
            absl::StrCat("must be > 0, got ", m.n_head()));
  if (m.n_head() > 0 && m.d_model() > 0 && m.d_model() % m.n_head() != 0) {
    c.Fail("model.n_head", m.n_head(), " heads do not divide model.d_model ",
           m.d_model());
  }
  c.Require(m.ff_multiple() > 0, "model.ff_multiple",
            absl::StrCat("must be > 0, got ", m.ff_multiple()));
  c.Require(m.qk_ratio() > 0 && m.qk_ratio() <= 1, "model.qk_ratio",
            absl::StrCat("must be in (0, 1], got ", m.qk_ratio()));
  if (m.n_head() > 0 && m.d_model() > 0 && m.d_model() % m.n_head() == 0) {
    const double qk = m.qk_ratio() * m.d_model() / m.n_head();
    c.Require(qk == static_cast<int>(qk) && qk >= 1, "model.qk_ratio",
              absl::StrCat(m.qk_ratio(), " * d_model / n_head = ", qk,
                           " is not a whole head width"));
  }
  c.Require(m.resid_dropout() >= 0 && m.resid_dropout() < 1,
            "model.resid_dropout",
            absl::StrCat("must be in [0, 1), got ", m.resid_dropout()));
  c.Require(m.embd_dropout() >= 0 && m.embd_dropout() < 1, "model.embd_dropout",
            absl::StrCat("must be in [0, 1), got ", m.embd_dropout()));
  c.Require(m.vocab_size() == 256, "model.vocab_size",
            absl::StrCat("only byte models (256) are supported, got ",
                         m.vocab_size()));
  c.Require(m.init().weight_scale() > 0, "model.init.weight_scale",
            absl::StrCat("must be > 0, got ", m.init().weight_scale()));
}

void ValidateAttention(const Experiment& spec, Checker& c) {
  if (!spec.model().has_attention())
    return c.Fail("model.attention", "missing");
  const AttentionSpec& a = spec.model().attention();
  const int64_t n = spec.data().context();
  if (a.pattern() == AttentionSpec::PATTERN_UNSPECIFIED) {
    return c.Fail("model.attention.pattern",
                  "missing (DENSE, LOCAL, STRIDED or FIXED)");
  }
  if (!IsPowerOfTwoBlock(a.block_size())) {
    return c.Fail("model.attention.block_size",
                  "must be 16, 32, 64 or 128, got ", a.block_size());
  }
  if (n > 0 && n % a.block_size() != 0) {
    return c.Fail("model.attention.block_size", "block size ", a.block_size(),
                  " does not divide data.context ", n);
  }
  if (a.pattern() == AttentionSpec::DENSE) return;
  const int l = a.stride();
  if (l <= 0) {
    return c.Fail("model.attention.stride", "must be > 0 for ",
                  AttentionSpec::Pattern_Name(a.pattern()), ", got ", l);
  }
  if (n > 0 && n % l != 0) {
    return c.Fail("model.attention.stride", "stride ", l,
                  " does not divide data.context ", n);
  }
  if (l % a.block_size() != 0) {
    return c.Fail("model.attention.block_size", "block size ", a.block_size(),
                  " does not divide model.attention.stride ", l);
  }
  if (a.pattern() == AttentionSpec::FIXED) {
    if (a.c() <= 0) {
      return c.Fail("model.attention.c", "must be > 0 for FIXED, got ", a.c());
    }
    if (a.c() > l) {
      return c.Fail("model.attention.c", "c = ", a.c(),
                    " is larger than model.attention.stride ", l);
    }
    if (a.distinct_summaries() &&
        static_cast<int64_t>(a.c()) * spec.model().n_head() > l) {
      return c.Fail("model.attention.distinct_summaries", spec.model().n_head(),
                    " heads of distinct ", a.c(),
                    "-wide summaries do not fit in stride ", l);
    }
  }  // Other patterns ignore c, so an ablation can vary the pattern alone.
  if (a.head_mode() == AttentionSpec::SPLIT && spec.model().n_head() % 2 != 0) {
    c.Fail("model.attention.head_mode",
           "SPLIT needs an even model.n_head, got ", spec.model().n_head());
  }
}

void ValidateEmbedding(const Experiment& spec, Checker& c) {
  const EmbeddingSpec& e = spec.model().embedding();
  const int64_t n = spec.data().context();
  switch (e.kind_case()) {
    case EmbeddingSpec::kText:
    case EmbeddingSpec::kAudio: {
      const int w = e.kind_case() == EmbeddingSpec::kText
                        ? e.text().row_width()
                        : e.audio().row_width();
      const int width = w > 0 ? w : spec.model().attention().stride();
      const std::string field = e.kind_case() == EmbeddingSpec::kText
                                    ? "model.embedding.text.row_width"
                                    : "model.embedding.audio.row_width";
      if (width <= 0) {
        c.Fail(field, "must be > 0 (or 0 with a model.attention.stride)");
      } else if (n > 0 && n % width != 0) {
        c.Fail(field, "row width ", width, " does not divide data.context ", n);
      }
      break;
    }
    case EmbeddingSpec::kImage: {
      const auto& im = e.image();
      if (im.height() <= 0 || im.width() <= 0 || im.channels() <= 0) {
        c.Fail("model.embedding.image",
               "height, width and channels must be > 0");
      } else if (static_cast<int64_t>(im.height()) * im.width() *
                     im.channels() !=
                 n) {
        c.Fail("model.embedding.image", im.height(), "x", im.width(), "x",
               im.channels(), " does not equal data.context ", n);
      }
      break;
    }
    case EmbeddingSpec::KIND_NOT_SET:
      c.Fail("model.embedding", "missing (text, image or audio)");
      break;
  }
}

void ValidateData(const Experiment& spec, Checker& c) {
  if (!spec.has_data()) return c.Fail("data", "missing");
  const DataSpec& d = spec.data();
  c.Require(d.dataset() != DataSpec::DATASET_UNSPECIFIED, "data.dataset",
            "missing");
  c.Require(d.context() > 0, "data.context",
            absl::StrCat("must be > 0, got ", d.context()));
  c.Require(d.train_size() >= 0 && d.valid_size() >= 0 && d.test_size() >= 0,
            "data", "split sizes must be >= 0");
}

void ValidateTraining(const Experiment& spec, Checker& c) {
  if (!spec.has_training()) return c.Fail("training", "missing");
  const TrainingSpec& t = spec.training();
  c.Require(t.batch_size() > 0, "training.batch_size",
            absl::StrCat("must be > 0, got ", t.batch_size()));
  const int micro =
      t.micro_batch_size() > 0 ? t.micro_batch_size() : t.batch_size();
  if (t.batch_size() > 0 && t.batch_size() % micro != 0) {
    c.Fail("training.micro_batch_size", micro,
           " does not divide training.batch_size ", t.batch_size());
  }
  switch (t.duration_case()) {
    case TrainingSpec::kSteps:
      c.Require(t.steps() > 0, "training.steps",
                absl::StrCat("must be > 0, got ", t.steps()));
      break;
    case TrainingSpec::kEpochs:
      c.Require(t.epochs() > 0, "training.epochs",
                absl::StrCat("must be > 0, got ", t.epochs()));
      break;
    case TrainingSpec::DURATION_NOT_SET:
      c.Fail("training", "missing duration (steps or epochs)");
      break;
  }
  c.Require(t.learning_rate() > 0, "training.learning_rate",
            absl::StrCat("must be > 0, got ", t.learning_rate()));
  c.Require(t.warmup_steps() >= 0, "training.warmup_steps", "must be >= 0");
  const auto& adam = t.adam();
  c.Require(adam.beta1() >= 0 && adam.beta1() < 1, "training.adam.beta1",
            "must be in [0, 1)");
  c.Require(adam.beta2() >= 0 && adam.beta2() < 1, "training.adam.beta2",
            "must be in [0, 1)");
  c.Require(adam.epsilon() > 0, "training.adam.epsilon", "must be > 0");
  c.Require(t.clip_global_norm() >= 0, "training.clip_global_norm",
            "must be >= 0");
  c.Require(t.weight_decay() >= 0, "training.weight_decay", "must be >= 0");
  c.Require(t.devices() >= 1, "training.devices", "must be >= 1");
}

void ValidateEvaluation(const Experiment& spec, Checker& c) {
  for (int i = 0; i < spec.evaluation().min_context_size(); ++i) {
    const int64_t m = spec.evaluation().min_context(i);
    if (m < 0 || m >= spec.data().context()) {
      c.Fail(absl::StrCat("evaluation.min_context[", i, "]"), m,
             " must be in [0, data.context = ", spec.data().context(), ")");
    }
  }
  c.Require(spec.sampling().temperature() > 0, "sampling.temperature",
            "must be > 0");
}

}  // namespace

absl::StatusOr<Experiment> ParseSpecText(const std::string& path,
                                         const std::string& text) {
  Experiment spec;
  google::protobuf::TextFormat::Parser parser;
  FirstErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &spec)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ":", errors.error().empty() ? "parse error" : errors.error()));
  }
  return spec;
}

absl::StatusOr<Experiment> ParseSpecFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(path, ": spec file not found or not readable"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseSpecText(path, text.str());
}

absl::Status ValidateSpec(const std::string& path, const Experiment& spec) {
  Checker c(path);
  if (spec.name().empty()) c.Fail("name", "missing");
  for (char ch : spec.name()) {
    if (!(isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-')) {
      c.Fail("name", "\"", spec.name(),
             "\" may hold only letters, digits, '_' and '-'");
      break;
    }
  }
  ValidateData(spec, c);
  ValidateModel(spec, c);
  if (c.status().ok()) ValidateAttention(spec, c);
  if (c.status().ok()) ValidateEmbedding(spec, c);
  ValidateTraining(spec, c);
  ValidateEvaluation(spec, c);
  if (!c.status().ok()) return c.status();
  // Final word from the layout builders themselves (same rules, one source).
  absl::Status layout =
      attention::ValidatePatternConfig(PatternConfigFromSpec(spec));
  if (!layout.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": model.attention: ", layout.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<Experiment> LoadSpec(const std::string& path) {
  ST_ASSIGN_OR_RETURN(Experiment spec, ParseSpecFile(path));
  ST_RETURN_IF_ERROR(ValidateSpec(path, spec));
  return spec;
}

attention::PatternConfig PatternConfigFromSpec(const Experiment& spec) {
  const AttentionSpec& a = spec.model().attention();
  attention::PatternConfig p;
  switch (a.pattern()) {
    case AttentionSpec::DENSE:
      p.kind = attention::PatternKind::kDense;
      break;
    case AttentionSpec::LOCAL:
      p.kind = attention::PatternKind::kLocal;
      break;
    case AttentionSpec::STRIDED:
      p.kind = attention::PatternKind::kStrided;
      break;
    case AttentionSpec::FIXED:
      p.kind = attention::PatternKind::kFixed;
      break;
    case AttentionSpec::PATTERN_UNSPECIFIED:
      break;  // rejected by ValidateSpec
  }
  switch (a.head_mode()) {
    case AttentionSpec::MERGED:
    case AttentionSpec::HEAD_MODE_UNSPECIFIED:
      p.head_mode = attention::HeadMode::kMerged;
      break;
    case AttentionSpec::INTERLEAVED:
      p.head_mode = attention::HeadMode::kInterleaved;
      break;
    case AttentionSpec::SPLIT:
      p.head_mode = attention::HeadMode::kSplit;
      break;
  }
  switch (a.part()) {
    case AttentionSpec::BOTH:
    case AttentionSpec::PART_UNSPECIFIED:
      p.part = attention::PatternPart::kBoth;
      break;
    case AttentionSpec::FIRST:
      p.part = attention::PatternPart::kFirst;
      break;
    case AttentionSpec::SECOND:
      p.part = attention::PatternPart::kSecond;
      break;
  }
  p.n = spec.data().context();
  p.block = a.block_size();
  p.stride = a.pattern() == AttentionSpec::DENSE ? 0 : a.stride();
  p.c = a.c();
  p.heads = spec.model().n_head();
  p.distinct_summaries = a.distinct_summaries();
  // The transpose is how strided's A2 is computed where a head holds A2 alone;
  // a merged head (A1 ∪ A2) stays in the original order. Other patterns have
  // no transpose.
  const bool a2_alone = a.head_mode() != AttentionSpec::MERGED ||
                        a.part() == AttentionSpec::SECOND;
  p.strided_transposed = a.pattern() == AttentionSpec::STRIDED &&
                         a.strided_transposed() && a2_alone &&
                         a.part() != AttentionSpec::FIRST;
  return p;
}

}  // namespace st::experiments

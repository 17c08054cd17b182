#include "experiments/runner.h"

#include <openssl/sha.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "datasets/batcher.h"
#include "datasets/prepared.h"
#include "eval/bits_per_byte.h"
#include "eval/report/curves.h"
#include "eval/report/metrics_log.h"
#include "eval/report/tfevents.h"
#include "eval/samples.h"
#include "experiments/plan.h"
#include "experiments/spec.h"
#include "google/protobuf/text_format.h"
#include "sparse_transformer/core/status.h"
#include "sparse_transformer/model/config.h"
#include "sparse_transformer/model/model.h"
#include "sparse_transformer/model/sampler.h"
#include "sparse_transformer/train/batch_source.h"
#include "sparse_transformer/train/trainer.h"

namespace st::experiments {
namespace {

using proto::DataSpec;
using proto::EmbeddingSpec;
using proto::Experiment;
using proto::RunResult;

// The prepared-file kind each data set must have.
datasets::Kind ExpectedKind(DataSpec::Dataset d) {
  switch (d) {
    case DataSpec::ENWIK8:
    case DataSpec::TEXT_STANDIN:
      return datasets::Kind::kText;
    case DataSpec::CIFAR10:
    case DataSpec::IMAGENET64:
    case DataSpec::IMAGES32_STANDIN:
    case DataSpec::IMAGES64_STANDIN:
      return datasets::Kind::kImage;
    case DataSpec::MUSIC:
    case DataSpec::AUDIO_STANDIN:
      return datasets::Kind::kAudio;
    case DataSpec::DATASET_UNSPECIFIED:
      break;
  }
  return datasets::Kind::kText;
}

bool IsStandIn(DataSpec::Dataset d) {
  return d == DataSpec::TEXT_STANDIN || d == DataSpec::IMAGES32_STANDIN ||
         d == DataSpec::IMAGES64_STANDIN || d == DataSpec::AUDIO_STANDIN;
}

std::string UtcNow(const char* format) {
  std::time_t t = std::time(nullptr);
  std::tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), format, &tm);
  return buf;
}

absl::Status MakeDir(const std::string& path) {
  std::string partial;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!partial.empty() && mkdir(partial.c_str(), 0755) != 0 &&
          errno != EEXIST) {
        return absl::PermissionDeniedError(
            absl::StrCat(partial, ": cannot create folder"));
      }
    }
    if (i < path.size()) partial += path[i];
  }
  return absl::OkStatus();
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) return absl::InternalError(absl::StrCat(tmp, ": write failed"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat(path, ": rename failed"));
  }
  return absl::OkStatus();
}

std::string Sha256Hex(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(),
         digest);
  std::string out;
  for (unsigned char b : digest) out += absl::StrFormat("%02x", b);
  return out;
}

std::string GitCommit(const std::string& workspace) {
  std::string cmd = absl::StrCat("git -C '", workspace,
                                 "' rev-parse --short=12 HEAD 2>/dev/null");
  std::FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return "unknown";
  char buf[64] = {0};
  std::string out = std::fgets(buf, sizeof(buf), p) ? buf : "unknown";
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
    out.pop_back();
  }
  return out.empty() ? "unknown" : out;
}

int64_t PeakRssBytes() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

absl::StatusOr<model::ModelConfig> ModelConfigFromSpec(const Experiment& spec) {
  const proto::ModelSpec& m = spec.model();
  model::ModelConfig c;
  c.n_layer = m.n_layer();
  c.d_model = m.d_model();
  c.n_head = m.n_head();
  c.ff_multiple = m.ff_multiple();
  c.qk_ratio = m.qk_ratio();
  c.resid_dropout = m.resid_dropout();
  c.embd_dropout = m.embd_dropout();
  c.init_scale = m.init().weight_scale();
  c.init_seed = spec.training().seed();
  c.pattern = PatternConfigFromSpec(spec);
  c.recompute = spec.training().recompute();
  const EmbeddingSpec& e = m.embedding();
  switch (e.kind_case()) {
    case EmbeddingSpec::kText:
      c.embedding = ops::EmbeddingKind::kText;
      c.embedding_stride = e.text().row_width() > 0 ? e.text().row_width()
                                                    : m.attention().stride();
      break;
    case EmbeddingSpec::kAudio:
      c.embedding = ops::EmbeddingKind::kAudio;
      c.embedding_stride = e.audio().row_width() > 0 ? e.audio().row_width()
                                                     : m.attention().stride();
      break;
    case EmbeddingSpec::kImage:
      c.embedding = ops::EmbeddingKind::kImage;
      c.image_shape = {e.image().height(), e.image().width(),
                       e.image().channels()};
      break;
    case EmbeddingSpec::KIND_NOT_SET:
      return absl::InvalidArgumentError("model.embedding: missing");
  }
  ST_RETURN_IF_ERROR(model::ValidateModelConfig(c));
  return c;
}

// The datasets batcher as the trainer's batch source.
class PreparedBatchSource : public train::BatchSource {
 public:
  explicit PreparedBatchSource(std::unique_ptr<datasets::Batcher> batcher)
      : batcher_(std::move(batcher)) {}
  absl::Status Next(int batch, uint8_t* inputs, uint8_t* targets) override {
    if (batch != batcher_->batch()) {
      return absl::InternalError(absl::StrCat("batch source built for ",
                                              batcher_->batch(),
                                              " rows, asked for ", batch));
    }
    batcher_->Next(inputs, targets);
    return absl::OkStatus();
  }
  std::string GetState() const override {
    return batcher_->GetState().ToString();
  }
  absl::Status SetState(absl::string_view state) override {
    ST_ASSIGN_OR_RETURN(auto s,
                        datasets::BatcherState::FromString(std::string(state)));
    return batcher_->SetState(s);
  }

 private:
  std::unique_ptr<datasets::Batcher> batcher_;
};

// Bits per byte of `model` over (a prefix of) a split.
absl::StatusOr<eval::EvalResult> EvaluateSplit(
    train::Trainable& model, const datasets::PreparedSplit& split,
    int64_t max_bytes, int batch, int min_context) {
  absl::Span<const uint8_t> data = split.data;
  if (split.is_stream()) {
    if (max_bytes > 0 && static_cast<int64_t>(data.size()) > max_bytes) {
      data = data.subspan(0, max_bytes);
    }
    return eval::EvaluateBytes(model, data, batch, min_context);
  }
  // Images: whole examples, inputs shifted right behind the start byte.
  const int64_t n = split.example_bytes;
  int64_t examples = split.num_examples();
  if (max_bytes > 0)
    examples = std::min<int64_t>(examples, std::max<int64_t>(1, max_bytes / n));
  int64_t next = 0;
  auto fill = [&](uint8_t* inputs, uint8_t* targets, int32_t* score_from) {
    int rows = 0;
    while (rows < batch && next < examples) {
      const uint8_t* x = split.data.data() + next * n;
      uint8_t* in = inputs + rows * n;
      in[0] = datasets::kStartByte;
      std::copy(x, x + n - 1, in + 1);
      std::copy(x, x + n, targets + rows * n);
      score_from[rows] = 0;
      ++rows;
      ++next;
    }
    return rows;
  };
  return eval::EvaluateWindows(model, batch, fill);
}

std::string PaperComparison(const Experiment& spec, double ours) {
  if (!spec.paper().has_bits_per_byte()) return "";
  return absl::StrFormat(
      "| %s | %s | %.3f | %.4f | %s |\n", spec.paper().table(),
      spec.paper().row(), spec.paper().bits_per_byte(), ours,
      IsStandIn(spec.data().dataset()) ? "stand-in data, reduced scale"
                                       : "real data");
}

}  // namespace

absl::StatusOr<RunResult> RunExperiment(const Experiment& spec,
                                        const RunOptions& options,
                                        std::string* run_dir_out) {
  const auto wall_start = std::chrono::steady_clock::now();
  // ---- Data.
  std::string data_path = spec.data().path();
  if (!data_path.empty() && data_path[0] != '/') {
    data_path = options.workspace_dir + "/" + data_path;
  }
  auto file_or = datasets::PreparedFile::Open(data_path);
  if (!file_or.ok()) {
    return absl::Status(
        file_or.status().code(),
        absl::StrCat(
            file_or.status().message(),
            IsStandIn(spec.data().dataset())
                ? " (build it with `bazel run -c opt //datasets:prepare "
                  "-- --dataset=...`, see datasets/)"
                : ""));
  }
  std::unique_ptr<datasets::PreparedFile> file = std::move(*file_or);
  const datasets::PreparedHeader& header = file->header();
  if (header.kind != ExpectedKind(spec.data().dataset())) {
    return absl::InvalidArgumentError(
        absl::StrCat(data_path, ": holds ", datasets::KindName(header.kind),
                     " data but data.dataset is ",
                     DataSpec::Dataset_Name(spec.data().dataset())));
  }
  const int64_t n = spec.data().context();
  if (!header.is_stream() && header.example_bytes() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat(data_path, ": examples are ", header.example_bytes(),
                     " bytes but data.context is ", n));
  }
  const datasets::PreparedSplit train_split =
      file->split(datasets::Split::kTrain);
  const datasets::PreparedSplit valid_split =
      file->split(datasets::Split::kValid);
  const datasets::PreparedSplit final_split =
      file->split(spec.evaluation().split() == proto::EvaluationSpec::TEST
                      ? datasets::Split::kTest
                      : datasets::Split::kValid);
  // Streams need one window of n inputs plus the next target; images whole
  // examples.
  const size_t need = header.is_stream() ? n + 1 : n;
  if (train_split.data.size() < need || valid_split.data.size() < need) {
    return absl::InvalidArgumentError(absl::StrCat(
        data_path, ": train or valid split is shorter than one context of ",
        need, " bytes"));
  }

  // ---- Model.
  ST_ASSIGN_OR_RETURN(model::ModelConfig mc, ModelConfigFromSpec(spec));
  ST_ASSIGN_OR_RETURN(auto model, model::TrainableModel::Create(mc));

  // ---- Recipe.
  const proto::TrainingSpec& t = spec.training();
  train::TrainConfig tc;
  tc.batch = t.batch_size();
  const int micro =
      t.micro_batch_size() > 0 ? t.micro_batch_size() : t.batch_size();
  tc.micro_batches = t.batch_size() / micro;
  if (t.has_steps()) {
    tc.steps = t.steps();
  } else {
    const double per_epoch =
        static_cast<double>(train_split.data.size()) / (n * t.batch_size());
    tc.steps = std::max<int64_t>(1, std::llround(t.epochs() * per_epoch));
  }
  tc.lr = t.learning_rate();
  // A run shorter than the warmup warms up over all but its last step.
  tc.warmup =
      std::max<int64_t>(0, std::min<int64_t>(t.warmup_steps(), tc.steps - 1));
  tc.adam.beta1 = t.adam().beta1();
  tc.adam.beta2 = t.adam().beta2();
  tc.adam.eps = t.adam().epsilon();
  tc.adam.weight_decay = t.weight_decay();
  tc.clip = t.clip_global_norm();
  tc.seed = t.seed();
  tc.eval_interval = t.eval_interval_steps();
  tc.checkpoint_interval = t.checkpoint_interval_steps();
  tc.log_interval = options.quiet ? 0 : options.log_interval;
  tc.handle_signals = true;
  tc.resume = options.resume;

  // ---- Run folder.
  std::string run_dir = options.run_dir;
  if (run_dir.empty()) {
    run_dir = absl::StrCat(options.runs_root, "/", spec.name(), "-",
                           UtcNow("%Y%m%d-%H%M%S"));
  }
  ST_RETURN_IF_ERROR(MakeDir(run_dir + "/samples"));
  tc.run_dir = run_dir;
  if (run_dir_out) *run_dir_out = run_dir;
  std::string spec_text;
  google::protobuf::TextFormat::PrintToString(spec, &spec_text);
  ST_RETURN_IF_ERROR(WriteFile(run_dir + "/spec.pbtxt", spec_text));

  datasets::BatcherOptions bo;
  bo.context = n;
  bo.batch = micro;
  bo.seed = t.seed();
  bo.prefetch = 2;
  ST_ASSIGN_OR_RETURN(auto batcher, datasets::Batcher::Create(train_split, bo));
  PreparedBatchSource source(std::move(batcher));

  const int eval_batch = std::max(1, micro);
  const int64_t max_bytes = spec.evaluation().max_bytes();
  train::Evaluator evaluator =
      [&](train::Trainable& m) -> absl::StatusOr<double> {
    ST_ASSIGN_OR_RETURN(
        auto r, EvaluateSplit(m, valid_split, max_bytes, eval_batch, 0));
    return r.bits_per_byte;
  };
  if (!options.quiet) {
    std::fprintf(stderr, "run %s: %ld steps of %d x %ld bytes, %s\n",
                 run_dir.c_str(), static_cast<long>(tc.steps), tc.batch,
                 static_cast<long>(n), data_path.c_str());
  }
  train::Trainer trainer(model.get(), &source, tc, evaluator);
  ST_ASSIGN_OR_RETURN(train::TrainResult tr, trainer.Run());

  // ---- Metrics: the CSV log, TensorBoard events and the curves picture.
  // Each training step's wall time is not kept by the trainer; rows carry the
  // time since this invocation started when they were written.
  const double elapsed = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - wall_start)
                             .count();
  ST_ASSIGN_OR_RETURN(auto events, report::EventWriter::Create(run_dir));
  ST_ASSIGN_OR_RETURN(
      auto metrics,
      report::MetricsLog::Open(run_dir + "/" + report::kMetricsCsvName));
  for (const train::StepRecord& r : tr.steps) {
    const double bpb = r.loss / M_LN2;
    ST_RETURN_IF_ERROR(metrics->Append(r.step + 1, elapsed, report::kSplitTrain,
                                       report::kMetricBpb, bpb));
    ST_RETURN_IF_ERROR(
        events->AddScalar("train/bits_per_byte", r.step + 1, bpb));
  }
  for (const train::EvalRecord& e : tr.evals) {
    ST_RETURN_IF_ERROR(metrics->Append(e.step, elapsed, report::kSplitValid,
                                       report::kMetricBpb, e.bits_per_byte));
    ST_RETURN_IF_ERROR(
        events->AddScalar("valid/bits_per_byte", e.step, e.bits_per_byte));
  }
  ST_RETURN_IF_ERROR(
      report::WriteRunCurves(metrics->path(), run_dir + "/curves.png",
                             absl::StrCat(spec.name(), ": bits per byte")));

  RunResult result;
  result.set_spec_name(spec.name());
  result.set_spec_hash(Sha256Hex(spec_text));
  result.set_git_commit(GitCommit(options.workspace_dir));
  result.set_device(
      absl::StrCat("cpu: ", std::thread::hardware_concurrency(), " threads"));
  result.set_seed(t.seed());
  result.set_date(UtcNow("%Y-%m-%dT%H:%M:%SZ"));
  *result.mutable_spec() = spec;
  result.set_data_source(
      IsStandIn(spec.data().dataset())
          ? absl::StrCat("stand-in: ", header.provenance.substr(
                                           0, header.provenance.find('\n')))
          : "real");
  ST_ASSIGN_OR_RETURN(Plan plan, MakePlan(spec));
  result.set_params(static_cast<int64_t>(model->params().size()));
  result.set_scale_note(absl::StrFormat(
      "%.3gM parameters (paper %.3gM), %d steps of %d x %d positions",
      model->params().size() / 1e6, spec.paper().params() / 1e6, tc.steps,
      tc.batch, n));
  result.set_steps(tr.end_step);
  result.set_tokens_trained(tr.end_step * tc.batch * n);
  if (tr.tokens_per_second > 0) {
    result.set_tokens_per_second(tr.tokens_per_second);
    result.set_seconds_per_iter(tc.batch * n / tr.tokens_per_second);
  }
  if (!tr.steps.empty()) {
    result.set_train_bpb(tr.steps.back().loss / M_LN2);
  }
  if (tr.interrupted) {
    if (!options.quiet) {
      std::fprintf(stderr,
                   "stopped at step %ld; resume with --resume --run_dir=%s\n",
                   static_cast<long>(tr.end_step), run_dir.c_str());
    }
    return absl::CancelledError(absl::StrCat(
        "interrupted at step ", tr.end_step, "; checkpoint in ", run_dir));
  }

  // ---- Final evaluation (and Table 3's minimum-context mode).
  ST_ASSIGN_OR_RETURN(auto final_eval, EvaluateSplit(*model, final_split,
                                                     max_bytes, eval_batch, 0));
  if (spec.evaluation().split() == proto::EvaluationSpec::TEST) {
    result.set_test_bpb(final_eval.bits_per_byte);
  } else {
    result.set_valid_bpb(final_eval.bits_per_byte);
  }
  result.set_eval_bytes(final_eval.scored);
  if (!tr.evals.empty() && !result.has_valid_bpb()) {
    result.set_valid_bpb(tr.evals.back().bits_per_byte);
  }
  for (int64_t m : spec.evaluation().min_context()) {
    ST_ASSIGN_OR_RETURN(auto r, EvaluateSplit(*model, final_split, max_bytes,
                                              eval_batch, static_cast<int>(m)));
    auto* mc_result = result.add_min_context();
    mc_result->set_min_context(m);
    mc_result->set_bpb(r.bits_per_byte);
  }

  // ---- Samples.
  const proto::SamplingSpec& s = spec.sampling();
  const int64_t length = s.length() > 0 ? std::min<int64_t>(s.length(), n) : n;
  for (int k = 0; k < s.num_samples(); ++k) {
    // Streams continue a short real prompt from the validation split (and
    // the sample file holds prompt + continuation); images start from the
    // start byte and are generated whole.
    std::vector<uint8_t> prompt;
    int64_t count = n;
    if (header.is_stream()) {
      const int64_t p = std::min<int64_t>(16, length / 4 + 1);
      const uint8_t* from = valid_split.data.data() + k * p;
      prompt.assign(from, from + p);
      count = length - p;
    } else {
      prompt.push_back(datasets::kStartByte);
    }
    ST_ASSIGN_OR_RETURN(
        std::vector<uint8_t> generated,
        model::SampleBytes(model->model(), prompt, count, s.temperature(),
                           t.seed() * 1000 + k));
    std::vector<uint8_t> bytes =
        header.is_stream() ? prompt : std::vector<uint8_t>();
    bytes.insert(bytes.end(), generated.begin(), generated.end());
    const std::string base = absl::StrCat(run_dir, "/samples/sample_", k);
    const EmbeddingSpec& e = spec.model().embedding();
    if (e.has_image() && static_cast<int64_t>(bytes.size()) == n) {
      ST_RETURN_IF_ERROR(
          eval::WriteImageSample(base + ".png", bytes, e.image().height(),
                                 e.image().width(), e.image().channels()));
    } else if (e.has_audio()) {
      ST_RETURN_IF_ERROR(eval::WriteAudioSample(base + ".wav", bytes,
                                                e.audio().sample_rate_hz()));
    } else {
      ST_RETURN_IF_ERROR(eval::WriteTextSample(base + ".txt", bytes));
    }
  }

  result.set_peak_memory_bytes(PeakRssBytes());
  result.set_wall_seconds(std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - wall_start)
                              .count());
  std::string result_text;
  google::protobuf::TextFormat::PrintToString(result, &result_text);
  ST_RETURN_IF_ERROR(WriteFile(run_dir + "/result.pbtxt", result_text));

  // ---- Report.
  const double ours =
      result.has_test_bpb() ? result.test_bpb() : result.valid_bpb();
  std::string md =
      absl::StrFormat("# %s\n\n%s\n\n", spec.name(), spec.description());
  absl::StrAppendFormat(
      &md,
      "| | |\n|---|---|\n| data | %s (%s) |\n| parameters | %d (plan: %d) |\n"
      "| steps | %d x %d sequences x %d positions |\n| final %s bits per byte "
      "| %.4f over %d bytes |\n| last training bits per byte | %.4f |\n"
      "| tokens/s | %.0f |\n| seconds per iteration | %.3f |\n| peak memory | "
      "%.1f MiB |\n| wall time | %s |\n| device | %s |\n| git commit | %s |\n"
      "| spec hash | %s |\n\n",
      DataSpec::Dataset_Name(spec.data().dataset()), result.data_source(),
      result.params(), plan.params, tr.end_step, tc.batch, n,
      spec.evaluation().split() == proto::EvaluationSpec::TEST ? "test"
                                                               : "valid",
      ours, result.eval_bytes(), result.train_bpb(), result.tokens_per_second(),
      result.seconds_per_iter(), result.peak_memory_bytes() / 1048576.0,
      train::FormatDuration(result.wall_seconds()), result.device(),
      result.git_commit(), result.spec_hash().substr(0, 16));
  const std::string cmp = PaperComparison(spec, ours);
  if (!cmp.empty()) {
    md +=
        "## Beside the paper\n\n| table | row | paper | ours | scale |\n"
        "|---|---|---|---|---|\n" +
        cmp + "\n";
  }
  if (result.min_context_size() > 0) {
    md +=
        "## Minimum context during evaluation\n\n| min context | bits per "
        "byte |\n|---|---|\n";
    for (const auto& r : result.min_context()) {
      absl::StrAppendFormat(&md, "| %d | %.4f |\n", r.min_context(), r.bpb());
    }
    md += "\n";
  }
  md +=
      "![bits per byte](curves.png)\n\nCurves: `metrics.csv`, TensorBoard "
      "events in this folder";
  md += s.num_samples() > 0 ? "; samples in `samples/`.\n" : ".\n";
  ST_RETURN_IF_ERROR(WriteFile(run_dir + "/report.md", md));
  return result;
}

}  // namespace st::experiments

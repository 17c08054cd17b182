#include "eval/report/paper_tables.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "eval/report/format.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "sparse_transformer/core/status.h"

namespace st::report {
namespace {

namespace fs = std::filesystem;
using proto::AttentionSpec;
using proto::DataSpec;
using proto::RunResult;

constexpr char kDash[] = "—";

enum class Section { kUnknown, kCifar10, kEnwik8, kImageNet64, kMusic };

// One row of the paper's Tables 1, 2 and 4 (PAPER.md §5), values as printed.
struct PaperEntry {
  int table;
  Section section;
  const char* label;
  const char* bpb;          // bits per byte (bits per dim for images)
  bool sparse_transformer;  // the paper's own model: runs can land here
  AttentionSpec::Pattern pattern = AttentionSpec::PATTERN_UNSPECIFIED;
  double time_per_iter = 0;  // Table 2, units not stated by the paper
  int64_t params = 0;        // Sparse Transformer rows
  int64_t seq_len = 0;       // Table 4
};

constexpr AttentionSpec::Pattern kDense = AttentionSpec::DENSE;
constexpr AttentionSpec::Pattern kFixed = AttentionSpec::FIXED;
constexpr AttentionSpec::Pattern kStrided = AttentionSpec::STRIDED;
constexpr AttentionSpec::Pattern kAny = AttentionSpec::PATTERN_UNSPECIFIED;

const std::vector<PaperEntry>& PaperEntries() {
  static const std::vector<PaperEntry> kEntries = {
      // Table 1: density modelling summary.
      {1, Section::kCifar10, "PixelCNN (Oord et al., 2016)", "3.03", false},
      {1, Section::kCifar10, "PixelCNN++ (Salimans et al., 2017)", "2.92",
       false},
      {1, Section::kCifar10, "Image Transformer (Parmar et al., 2018)", "2.90",
       false},
      {1, Section::kCifar10, "PixelSNAIL (Chen et al., 2017)", "2.85", false},
      {1, Section::kCifar10, "Sparse Transformer 59M (strided)", "2.80", true,
       kStrided, 0, 59000000},
      {1, Section::kEnwik8, "Deeper Self-Attention (Al-Rfou et al., 2018)",
       "1.06", false},
      {1, Section::kEnwik8, "Transformer-XL 88M (Dai et al., 2018)", "1.03",
       false},
      {1, Section::kEnwik8, "Transformer-XL 277M (Dai et al., 2018)", "0.99",
       false},
      {1, Section::kEnwik8, "Sparse Transformer 95M (fixed)", "0.99", true,
       kFixed, 0, 95000000},
      {1, Section::kImageNet64, "PixelCNN (Oord et al., 2016)", "3.57", false},
      {1, Section::kImageNet64, "Parallel Multiscale (Reed et al., 2017)",
       "3.7", false},
      {1, Section::kImageNet64, "Glow (Kingma & Dhariwal, 2018)", "3.81",
       false},
      {1, Section::kImageNet64, "SPN 150M (Menick & Kalchbrenner, 2018)",
       "3.52", false},
      {1, Section::kImageNet64, "Sparse Transformer 152M (strided)", "3.44",
       true, kStrided, 0, 152000000},
      {1, Section::kMusic, "Sparse Transformer 152M (strided)", "1.97", true,
       kStrided, 0, 152000000},
      // Table 2: dense vs sparse.
      {2, Section::kEnwik8, "Dense Attention", "1.00", true, kDense, 1.31,
       95000000},
      {2, Section::kEnwik8, "Sparse Transformer (Fixed)", "0.99", true, kFixed,
       0.55, 95000000},
      {2, Section::kEnwik8, "Sparse Transformer (Strided)", "1.13", true,
       kStrided, 0.35, 95000000},
      {2, Section::kCifar10, "Dense Attention", "2.82", true, kDense, 0.54,
       59000000},
      {2, Section::kCifar10, "Sparse Transformer (Fixed)", "2.85", true, kFixed,
       0.47, 59000000},
      {2, Section::kCifar10, "Sparse Transformer (Strided)", "2.80", true,
       kStrided, 0.38, 59000000},
      // Table 4: strided Sparse Transformer on classical music.
      {4, Section::kMusic, "65,536", "1.97", true, kAny, 0, 152000000, 65536},
      {4, Section::kMusic, "262,144", "2.17", true, kAny, 0, 25000000, 262144},
      {4, Section::kMusic, "1,048,576", "2.99", true, kAny, 0, 3000000,
       1048576},
  };
  return kEntries;
}

// Table 3: enwik8, minimum context during evaluation (trained at 12,288).
constexpr int64_t kTable3Context = 12288;
struct MinContextEntry {
  int64_t min_context;
  const char* bpb;
};
constexpr MinContextEntry kTable3[] = {
    {6144, "0.9952"},  {9216, "0.9936"},  {10752, "0.9932"},
    {11904, "0.9930"}, {12096, "0.9922"}, {12160, "0.9908"},
};
// Half the closest gap between the paper's fractions m / 12288 (12096 and
// 12160): a reduced run's m / n within this of one of them is that row.
constexpr double kFractionTolerance = 32.0 / kTable3Context;

// Lowercase letters and digits only, so "Sparse Transformer 95M (fixed)"
// and "sparse transformer 95m fixed" compare equal.
std::string Normalize(absl::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c)) out.push_back(static_cast<char>(std::tolower(c)));
  }
  return out;
}

// "Table 2", "table 2", "2" -> 2; 0 when no digit.
int TableNumber(absl::string_view table) {
  for (char c : table) {
    if (c >= '1' && c <= '9') return c - '0';
  }
  return 0;
}

Section RunSection(const RunResult& run) {
  switch (run.spec().data().dataset()) {
    case DataSpec::ENWIK8:
    case DataSpec::TEXT_STANDIN:
      return Section::kEnwik8;
    case DataSpec::CIFAR10:
    case DataSpec::IMAGES32_STANDIN:
      return Section::kCifar10;
    case DataSpec::IMAGENET64:
    case DataSpec::IMAGES64_STANDIN:
      return Section::kImageNet64;
    case DataSpec::MUSIC:
    case DataSpec::AUDIO_STANDIN:
      return Section::kMusic;
    default:
      break;
  }
  const std::string row = Normalize(run.spec().paper().row());
  if (absl::StrContains(row, "cifar")) return Section::kCifar10;
  if (absl::StrContains(row, "enwik")) return Section::kEnwik8;
  if (absl::StrContains(row, "imagenet")) return Section::kImageNet64;
  if (absl::StrContains(row, "music") || absl::StrContains(row, "audio")) {
    return Section::kMusic;
  }
  return Section::kUnknown;
}

AttentionSpec::Pattern RunPattern(const RunResult& run) {
  const AttentionSpec::Pattern pattern =
      run.spec().model().attention().pattern();
  if (pattern != AttentionSpec::PATTERN_UNSPECIFIED) return pattern;
  const std::string row = Normalize(run.spec().paper().row());
  if (absl::StrContains(row, "dense")) return kDense;
  if (absl::StrContains(row, "fixed")) return kFixed;
  if (absl::StrContains(row, "strided")) return kStrided;
  return kAny;
}

// Index of the paper row (Tables 1, 2, 4) the run reproduces, or -1: an
// exact row label in its section first, then by data set and pattern
// (Tables 1, 2) or parameter count / sequence length (Table 4).
int PlaceRun(const RunResult& run) {
  const int table = TableNumber(run.spec().paper().table());
  const Section section = RunSection(run);
  const std::string row = Normalize(run.spec().paper().row());
  const std::vector<PaperEntry>& entries = PaperEntries();
  auto same_section = [&](const PaperEntry& e) {
    return section == Section::kUnknown || section == e.section;
  };
  for (size_t i = 0; i < entries.size(); ++i) {
    const PaperEntry& e = entries[i];
    if (e.table == table && same_section(e) && e.sparse_transformer &&
        !row.empty() && row == Normalize(e.label)) {
      return static_cast<int>(i);
    }
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const PaperEntry& e = entries[i];
    if (e.table != table || !e.sparse_transformer || !same_section(e)) continue;
    switch (table) {
      case 1:
        if (section == e.section) return static_cast<int>(i);
        break;
      case 2:
        if (section == e.section && RunPattern(run) == e.pattern) {
          return static_cast<int>(i);
        }
        break;
      case 4:
        if (run.spec().paper().params() == e.params ||
            run.spec().data().context() == e.seq_len ||
            absl::StrContains(row, Normalize(e.label))) {
          return static_cast<int>(i);
        }
        break;
      default:
        break;
    }
  }
  return -1;
}

std::string Cell(absl::string_view text) { return MarkdownCell(text); }

std::string RunName(const LoadedRun& run) {
  if (!run.result.spec_name().empty()) return run.result.spec_name();
  if (!run.result.spec().name().empty()) return run.result.spec().name();
  return run.source;
}

const char* SplitName(proto::EvaluationSpec::Split split) {
  return split == proto::EvaluationSpec::TEST ? "test" : "valid";
}

// Our final number: the split the spec evaluates on, else whichever exists.
std::string OursBpb(const RunResult& r, int decimals) {
  const bool want_test =
      r.spec().evaluation().split() == proto::EvaluationSpec::TEST;
  if (want_test && r.has_test_bpb()) {
    return absl::StrFormat("%.*f (test)", decimals, r.test_bpb());
  }
  if (r.has_valid_bpb()) {
    return absl::StrFormat("%.*f (valid)", decimals, r.valid_bpb());
  }
  if (r.has_test_bpb()) {
    return absl::StrFormat("%.*f (test)", decimals, r.test_bpb());
  }
  if (r.has_train_bpb()) {
    return absl::StrFormat("%.*f (train)", decimals, r.train_bpb());
  }
  return kDash;
}

std::string DataCell(const RunResult& r) {
  return r.data_source().empty() ? "not recorded" : Cell(r.data_source());
}

// "420k params (0.71% of 59M), 300 steps, context 3072; <scale_note>".
std::string ScaleCell(const RunResult& r, int64_t paper_params) {
  std::vector<std::string> parts;
  if (r.params() > 0) {
    std::string params = absl::StrCat(HumanCount(r.params()), " params");
    if (paper_params > 0) {
      const double percent = 100.0 * r.params() / paper_params;
      absl::StrAppend(&params, " (",
                      percent >= 100 ? absl::StrFormat("%.0f", percent)
                                     : absl::StrFormat("%.3g", percent),
                      "% of ", HumanCount(paper_params), ")");
    }
    parts.push_back(params);
  }
  if (r.steps() > 0) parts.push_back(absl::StrCat(r.steps(), " steps"));
  if (r.spec().data().context() > 0) {
    parts.push_back(absl::StrCat("context ", r.spec().data().context()));
  }
  std::string cell = absl::StrJoin(parts, ", ");
  if (!r.scale_note().empty()) {
    absl::StrAppend(&cell, cell.empty() ? "" : "; ", Cell(r.scale_note()));
  }
  return cell.empty() ? kDash : cell;
}

int64_t PaperParams(const RunResult& r, int64_t fallback) {
  return r.spec().paper().params() > 0 ? r.spec().paper().params() : fallback;
}

std::string RunCell(const LoadedRun& run) {
  return absl::StrCat("`", Cell(RunName(run)), "`");
}

bool ByName(const LoadedRun* a, const LoadedRun* b) {
  return std::tie(a->result.spec_name(), a->source) <
         std::tie(b->result.spec_name(), b->source);
}

// Runs whose times can be compared: same data, shape, batch and device.
auto TimingKey(const RunResult& r) {
  const proto::Experiment& s = r.spec();
  return std::make_tuple(static_cast<int>(s.data().dataset()),
                         s.data().context(), s.model().n_layer(),
                         s.model().d_model(), s.model().n_head(),
                         s.training().batch_size(), r.device());
}

// Our own dense run comparable with `run` (itself if it is dense), or null.
const LoadedRun* DenseReference(const LoadedRun& run,
                                const std::vector<LoadedRun>& all) {
  std::vector<const LoadedRun*> candidates;
  for (const LoadedRun& other : all) {
    if (RunPattern(other.result) == kDense &&
        other.result.seconds_per_iter() > 0 &&
        TimingKey(other.result) == TimingKey(run.result)) {
      candidates.push_back(&other);
    }
  }
  for (const LoadedRun* c : candidates) {
    if (c == &run) return c;
  }
  if (candidates.empty()) return nullptr;
  return *std::min_element(candidates.begin(), candidates.end(), ByName);
}

const char* SectionTitle(int table, Section section) {
  switch (section) {
    case Section::kCifar10:
      return table == 2 ? "CIFAR-10 (3,072 context)" : "CIFAR-10";
    case Section::kEnwik8:
      return table == 2 ? "Enwik8 (12,288 context)" : "Enwik8";
    case Section::kImageNet64:
      return "ImageNet 64x64";
    case Section::kMusic:
      return "Classical music, 5 seconds at 12 kHz";
    default:
      return "";
  }
}

std::string Row(const std::vector<std::string>& cells) {
  return MarkdownRow(cells);
}

std::string Header(const std::vector<std::string>& names) {
  return MarkdownHeader(names);
}

std::string SectionRow(int table, Section section, size_t columns) {
  std::vector<std::string> cells(columns, "");
  cells[0] = absl::StrCat("*", SectionTitle(table, section), "*");
  return Row(cells);
}

// The runs placed on each entry of PaperEntries(), sorted by name.
std::vector<std::vector<const LoadedRun*>> PlaceRuns(
    const std::vector<LoadedRun>& runs, std::set<const LoadedRun*>* placed) {
  std::vector<std::vector<const LoadedRun*>> by_entry(PaperEntries().size());
  for (const LoadedRun& run : runs) {
    const int index = PlaceRun(run.result);
    if (index < 0) continue;
    by_entry[index].push_back(&run);
    placed->insert(&run);
  }
  // Table 1's music row and Table 4's 65,536 row are one model and one
  // number (1.97): a run of either shows in both.
  const std::vector<PaperEntry>& entries = PaperEntries();
  int music1 = -1, music4 = -1;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].section != Section::kMusic) continue;
    if (entries[i].table == 1) music1 = static_cast<int>(i);
    if (entries[i].table == 4 && entries[i].seq_len == 65536) {
      music4 = static_cast<int>(i);
    }
  }
  std::vector<const LoadedRun*> music_runs = by_entry[music1];
  music_runs.insert(music_runs.end(), by_entry[music4].begin(),
                    by_entry[music4].end());
  by_entry[music1] = by_entry[music4] = music_runs;
  for (auto& list : by_entry) std::sort(list.begin(), list.end(), ByName);
  return by_entry;
}

std::string RenderTable1(
    const std::vector<std::vector<const LoadedRun*>>& by_entry) {
  std::string out =
      "## Table 1: density modelling (bits per byte; bits per dim for "
      "images)\n\n";
  const std::vector<std::string> columns = {"Model", "Paper", "Ours",
                                            "Run",   "Data",  "Scale"};
  absl::StrAppend(&out, Header(columns));
  Section section = Section::kUnknown;
  const std::vector<PaperEntry>& entries = PaperEntries();
  for (size_t i = 0; i < entries.size(); ++i) {
    const PaperEntry& e = entries[i];
    if (e.table != 1) continue;
    if (e.section != section) {
      section = e.section;
      absl::StrAppend(&out, SectionRow(1, section, columns.size()));
    }
    if (by_entry[i].empty()) {
      absl::StrAppend(&out, Row({e.label, e.bpb, kDash, "", "", ""}));
    }
    for (const LoadedRun* run : by_entry[i]) {
      const RunResult& r = run->result;
      absl::StrAppend(
          &out, Row({e.label, e.bpb, OursBpb(r, 3), RunCell(*run), DataCell(r),
                     ScaleCell(r, PaperParams(r, e.params))}));
    }
  }
  return out;
}

std::string RenderTable2(
    const std::vector<std::vector<const LoadedRun*>>& by_entry,
    const std::vector<LoadedRun>& all) {
  std::string out =
      "## Table 2: dense vs sparse attention\n\n"
      "Absolute times are not comparable across hardware: \"vs dense\" is "
      "each time divided by the dense row's, the paper's by the paper's and "
      "ours by our own dense run of the same data, shape, batch and device "
      "(\"—\" where there is none).\n\n";
  const std::vector<std::string> columns = {
      "Model",          "Paper bpb",   "Ours bpb",      "Paper Time/Iter",
      "Paper vs dense", "Ours s/iter", "Ours vs dense", "Run",
      "Data",           "Scale"};
  absl::StrAppend(&out, Header(columns));
  const std::vector<PaperEntry>& entries = PaperEntries();
  Section section = Section::kUnknown;
  for (size_t i = 0; i < entries.size(); ++i) {
    const PaperEntry& e = entries[i];
    if (e.table != 2) continue;
    if (e.section != section) {
      section = e.section;
      absl::StrAppend(&out, SectionRow(2, section, columns.size()));
    }
    // The paper's dense time of this section.
    double paper_dense = 0;
    for (const PaperEntry& d : entries) {
      if (d.table == 2 && d.section == e.section && d.pattern == kDense) {
        paper_dense = d.time_per_iter;
      }
    }
    const std::string paper_time = absl::StrFormat("%.2f", e.time_per_iter);
    const std::string paper_ratio =
        absl::StrFormat("%.2f×", e.time_per_iter / paper_dense);
    if (by_entry[i].empty()) {
      absl::StrAppend(&out, Row({e.label, e.bpb, kDash, paper_time, paper_ratio,
                                 kDash, kDash, "", "", ""}));
    }
    for (const LoadedRun* run : by_entry[i]) {
      const RunResult& r = run->result;
      std::string ours_time = kDash, ours_ratio = kDash;
      if (r.seconds_per_iter() > 0) {
        ours_time = absl::StrFormat("%.3g s", r.seconds_per_iter());
        if (const LoadedRun* dense = DenseReference(*run, all)) {
          ours_ratio = absl::StrFormat(
              "%.2f×", r.seconds_per_iter() / dense->result.seconds_per_iter());
        }
      }
      absl::StrAppend(
          &out, Row({e.label, e.bpb, OursBpb(r, 3), paper_time, paper_ratio,
                     ours_time, ours_ratio, RunCell(*run), DataCell(r),
                     ScaleCell(r, PaperParams(r, e.params))}));
    }
  }
  return out;
}

// A Table 3 cell of ours: the bits per byte and the minimum context behind it.
struct MinContextHit {
  const LoadedRun* run;
  double bpb;
  int64_t min_context;  // ours, positions
  bool final_eval;      // the run's final number (no min_context entries)
};

std::string RenderTable3(const std::vector<LoadedRun>& runs,
                         std::set<const LoadedRun*>* placed) {
  std::vector<std::vector<MinContextHit>> hits(std::size(kTable3));
  for (const LoadedRun& run : runs) {
    const RunResult& r = run.result;
    if (TableNumber(r.spec().paper().table()) != 3) continue;
    const int64_t named = r.spec().paper().min_eval_context();
    const int64_t context = r.spec().data().context();
    for (size_t i = 0; i < std::size(kTable3); ++i) {
      const int64_t m = kTable3[i].min_context;
      // A run that evaluated several minimum contexts fills every row its
      // fractions match; one with a single result only the row it names.
      if (named > 0 && named != m && r.min_context_size() <= 1) continue;
      const double paper_fraction = static_cast<double>(m) / kTable3Context;
      const proto::MinContextResult* best = nullptr;
      for (const proto::MinContextResult& mc : r.min_context()) {
        const bool exact = mc.min_context() == m;
        const bool scaled =
            context > 0 && context != kTable3Context &&
            std::abs(static_cast<double>(mc.min_context()) / context -
                     paper_fraction) < kFractionTolerance;
        if (exact || scaled) best = &mc;
        if (exact) break;
      }
      // A spec that names this row and evaluated one minimum context.
      if (best == nullptr && named == m && r.min_context_size() == 1) {
        best = &r.min_context(0);
      }
      if (best != nullptr) {
        hits[i].push_back({&run, best->bpb(), best->min_context(), false});
        placed->insert(&run);
      } else if (named == m && r.min_context_size() == 0 &&
                 (r.has_test_bpb() || r.has_valid_bpb())) {
        hits[i].push_back({&run,
                           r.has_test_bpb() ? r.test_bpb() : r.valid_bpb(),
                           named, true});
        placed->insert(&run);
      }
    }
  }
  std::string out =
      "## Table 3: enwik8, minimum context during evaluation (trained at "
      "12,288)\n\n"
      "Reduced runs evaluate at the same fraction of their own context.\n\n";
  absl::StrAppend(
      &out, Header({"Minimum context", "Paper", "Ours", "Our minimum context",
                    "Run", "Data", "Scale"}));
  for (size_t i = 0; i < std::size(kTable3); ++i) {
    const std::string label =
        absl::StrFormat("%d,%03d tokens", kTable3[i].min_context / 1000,
                        kTable3[i].min_context % 1000);
    if (hits[i].empty()) {
      absl::StrAppend(&out,
                      Row({label, kTable3[i].bpb, kDash, "", "", "", ""}));
    }
    std::sort(hits[i].begin(), hits[i].end(),
              [](const MinContextHit& a, const MinContextHit& b) {
                return ByName(a.run, b.run);
              });
    for (const MinContextHit& hit : hits[i]) {
      const RunResult& r = hit.run->result;
      const std::string ours =
          absl::StrFormat("%.4f (%s)", hit.bpb,
                          hit.final_eval && !r.has_test_bpb()
                              ? "valid"
                              : SplitName(r.spec().evaluation().split()));
      const std::string our_context =
          r.spec().data().context() > 0
              ? absl::StrCat(hit.min_context, " of ", r.spec().data().context())
              : absl::StrCat(hit.min_context);
      absl::StrAppend(&out, Row({label, kTable3[i].bpb, ours, our_context,
                                 RunCell(*hit.run), DataCell(r),
                                 ScaleCell(r, PaperParams(r, 95000000))}));
    }
  }
  return out;
}

std::string RenderTable4(
    const std::vector<std::vector<const LoadedRun*>>& by_entry) {
  std::string out =
      "## Table 4: strided Sparse Transformer on classical music (mu-law, "
      "12 kHz)\n\n";
  absl::StrAppend(&out, Header({"Sequence length", "Parameters", "Paper",
                                "Ours", "Run", "Data", "Scale"}));
  const std::vector<PaperEntry>& entries = PaperEntries();
  for (size_t i = 0; i < entries.size(); ++i) {
    const PaperEntry& e = entries[i];
    if (e.table != 4) continue;
    const std::string params = HumanCount(e.params);
    if (by_entry[i].empty()) {
      absl::StrAppend(&out, Row({e.label, params, e.bpb, kDash, "", "", ""}));
    }
    for (const LoadedRun* run : by_entry[i]) {
      const RunResult& r = run->result;
      absl::StrAppend(
          &out, Row({e.label, params, e.bpb, OursBpb(r, 3), RunCell(*run),
                     DataCell(r), ScaleCell(r, PaperParams(r, e.params))}));
    }
  }
  return out;
}

std::string RunLine(const LoadedRun& run) {
  const RunResult& r = run.result;
  return absl::StrCat("- ", RunCell(run), " (", Cell(run.source), "): ",
                      r.spec().paper().table().empty()
                          ? "no paper row"
                          : absl::StrCat(Cell(r.spec().paper().table()), ", \"",
                                         Cell(r.spec().paper().row()), "\""),
                      "; ours ", OursBpb(r, 3), "; data ", DataCell(r),
                      "; scale ", ScaleCell(r, r.spec().paper().params()),
                      "\n");
}

}  // namespace

absl::StatusOr<RunResult> ReadRunResult(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  const std::string text(std::istreambuf_iterator<char>(in), {});

  // Collects the parser's first error with its position.
  class Collector : public google::protobuf::io::ErrorCollector {
   public:
    void AddError(int line, int column, const std::string& message) override {
      if (first.empty()) {
        first = absl::StrCat(line + 1, ":", column + 1, ": ", message);
      }
    }
    std::string first;
  };
  Collector errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  RunResult result;
  if (!parser.ParseFromString(text, &result)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ":", errors.first.empty() ? "not a RunResult" : errors.first));
  }
  return result;
}

absl::StatusOr<std::vector<std::string>> FindResultFiles(
    const std::vector<std::string>& entries) {
  std::set<std::string> files;
  for (const std::string& entry : entries) {
    if (entry.empty()) continue;
    std::error_code error;
    const fs::path path(entry);
    if (fs::is_regular_file(path, error)) {
      files.insert(fs::weakly_canonical(path, error).string());
      continue;
    }
    if (!fs::is_directory(path, error)) {
      return absl::NotFoundError(
          absl::StrCat("--runs entry ", entry, " does not exist"));
    }
    if (fs::is_regular_file(path / kResultFileName, error)) {
      files.insert(
          fs::weakly_canonical(path / kResultFileName, error).string());
      continue;
    }
    size_t found = 0;
    for (fs::recursive_directory_iterator it(path, error), end;
         !error && it != end; it.increment(error)) {
      const std::string name = it->path().filename().string();
      if (it->is_regular_file(error) &&
          (name == kResultFileName ||
           absl::EndsWith(name, absl::StrCat(".", kResultFileName)))) {
        files.insert(fs::weakly_canonical(it->path(), error).string());
        ++found;
      }
    }
    if (error) {
      return absl::UnavailableError(absl::StrCat("cannot list --runs folder ",
                                                 entry, ": ", error.message()));
    }
    if (found == 0) {
      return absl::NotFoundError(
          absl::StrCat("--runs folder ", entry, " holds no ", kResultFileName,
                       " or *.", kResultFileName, " file"));
    }
  }
  return std::vector<std::string>(files.begin(), files.end());
}

absl::StatusOr<std::vector<LoadedRun>> LoadRuns(
    const std::vector<std::string>& entries) {
  ST_ASSIGN_OR_RETURN(std::vector<std::string> files, FindResultFiles(entries));
  std::vector<LoadedRun> runs;
  for (const std::string& file : files) {
    ST_ASSIGN_OR_RETURN(RunResult result, ReadRunResult(file));
    runs.push_back({file, std::move(result)});
  }
  return runs;
}

std::string RenderPaperTables(const std::vector<LoadedRun>& runs) {
  std::string out =
      "# Paper tables: Sparse Transformers (Child et al. 2019) and our runs\n\n"
      "\"Paper\" is the paper's number as printed; \"Ours\" is the final "
      "evaluation of each run (its split in parentheses). Runs on stand-in "
      "data or at reduced scale are not comparable with the paper in "
      "absolute terms: \"Data\" and \"Scale\" say what each run is. "
      "Paper rows without a run show \"—\".\n\n";
  absl::StrAppend(&out, "Runs read: ", runs.size(), ".\n\n");
  std::set<const LoadedRun*> placed;
  const std::vector<std::vector<const LoadedRun*>> by_entry =
      PlaceRuns(runs, &placed);
  absl::StrAppend(&out, RenderTable1(by_entry), "\n");
  absl::StrAppend(&out, RenderTable2(by_entry, runs), "\n");
  absl::StrAppend(&out, RenderTable3(runs, &placed), "\n");
  absl::StrAppend(&out, RenderTable4(by_entry));

  std::string unplaced, unnamed;
  for (const LoadedRun& run : runs) {
    if (placed.count(&run) > 0) continue;
    const bool names_row = !run.result.spec().paper().table().empty();
    absl::StrAppend(names_row ? &unplaced : &unnamed, RunLine(run));
  }
  if (!unplaced.empty()) {
    absl::StrAppend(
        &out, "\n## Runs that name a paper row not placed above\n\n", unplaced);
  }
  if (!unnamed.empty()) {
    absl::StrAppend(&out, "\n## Runs without a paper row\n\n", unnamed);
  }
  return out;
}

}  // namespace st::report

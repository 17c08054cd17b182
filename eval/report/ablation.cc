#include "eval/report/ablation.h"

#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "eval/report/curves.h"
#include "eval/report/format.h"
#include "eval/report/metrics_log.h"
#include "sparse_transformer/core/status.h"

namespace st::report {
namespace {

constexpr char kDash[] = "—";

std::string Bpb(const proto::RunResult& r) {
  return r.has_valid_bpb() ? absl::StrFormat("%.4f", r.valid_bpb()) : kDash;
}

std::string SecondsPerIter(double seconds) {
  if (seconds <= 0) return kDash;
  if (seconds < 1) return absl::StrFormat("%.3g ms", seconds * 1e3);
  return absl::StrFormat("%.3g s", seconds);
}

std::string Memory(int64_t bytes) {
  if (bytes <= 0) return kDash;
  return absl::StrFormat("%.1f MiB", bytes / (1024.0 * 1024.0));
}

// The values of one property over the variants, in first-seen order.
template <typename Get>
std::vector<std::string> Distinct(const std::vector<AblationVariant>& variants,
                                  Get get) {
  std::vector<std::string> values;
  std::set<std::string> seen;
  for (const AblationVariant& v : variants) {
    const std::string value = get(v.result);
    if (seen.insert(value).second) values.push_back(value);
  }
  return values;
}

}  // namespace

std::string RenderAblationTable(absl::string_view varied_field,
                                const std::vector<AblationVariant>& variants) {
  std::string out =
      absl::StrCat("## Ablation: ", MarkdownCell(varied_field), "\n\n");
  if (variants.empty()) return absl::StrCat(out, "No variants.\n");

  // What the variants share; a differing seed, data set or device makes the
  // comparison unfair, so say so rather than hide it.
  struct Shared {
    const char* name;
    std::string (*get)(const proto::RunResult&);
  };
  const Shared shared[] = {
      {"base spec",
       [](const proto::RunResult& r) {
         return r.spec_name().empty() ? r.spec().name() : r.spec_name();
       }},
      {"seed",
       [](const proto::RunResult& r) { return absl::StrCat(r.seed()); }},
      {"data",
       [](const proto::RunResult& r) {
         return absl::StrCat(r.data_source(), ", context ",
                             r.spec().data().context());
       }},
      {"device", [](const proto::RunResult& r) { return r.device(); }},
      {"steps",
       [](const proto::RunResult& r) { return absl::StrCat(r.steps()); }},
  };
  std::vector<std::string> same, differ;
  for (const Shared& s : shared) {
    const std::vector<std::string> values = Distinct(variants, s.get);
    if (values.size() == 1) {
      same.push_back(absl::StrCat(s.name, " ", MarkdownCell(values[0])));
    } else if (std::string(s.name) != "base spec") {
      differ.push_back(absl::StrCat(
          s.name, " (", MarkdownCell(absl::StrJoin(values, " / ")), ")"));
    }
  }
  absl::StrAppend(&out, "Shared: ", absl::StrJoin(same, "; "), ".\n");
  if (!differ.empty()) {
    absl::StrAppend(&out, "\n**Warning:** the variants differ in ",
                    absl::StrJoin(differ, ", "),
                    "; their numbers are not a controlled comparison.\n");
  }
  absl::StrAppend(&out,
                  "\n\"vs first\" is the time per iteration over the first "
                  "variant's (same machine, same run of the driver).\n\n");

  absl::StrAppend(&out, MarkdownHeader({"Variant", "Valid bpb", "Time/iter",
                                        "vs first", "Peak memory", "Params"}));
  const double first_time = variants[0].result.seconds_per_iter();
  for (const AblationVariant& v : variants) {
    const proto::RunResult& r = v.result;
    std::string ratio = kDash;
    if (first_time > 0 && r.seconds_per_iter() > 0) {
      ratio = absl::StrFormat("%.2f×", r.seconds_per_iter() / first_time);
    }
    absl::StrAppend(
        &out, MarkdownRow({MarkdownCell(v.label), Bpb(r),
                           SecondsPerIter(r.seconds_per_iter()), ratio,
                           Memory(r.peak_memory_bytes()),
                           r.params() > 0 ? HumanCount(r.params()) : kDash}));
  }
  return out;
}

absl::StatusOr<std::vector<PlotSeries>> AblationCurves(
    const std::vector<AblationVariant>& variants, std::string* split_used) {
  std::vector<std::vector<MetricRow>> logs(variants.size());
  bool all_have_valid = true, any_log = false;
  for (size_t i = 0; i < variants.size(); ++i) {
    if (variants[i].metrics_csv.empty()) continue;
    ST_ASSIGN_OR_RETURN(logs[i], ReadMetricsLog(variants[i].metrics_csv));
    any_log = true;
    all_have_valid = all_have_valid &&
                     SelectSeries(logs[i], kSplitValid, kMetricBpb).size() >= 2;
  }
  std::vector<PlotSeries> series;
  if (!any_log) return series;
  *split_used = all_have_valid ? kSplitValid : kSplitTrain;
  for (size_t i = 0; i < variants.size(); ++i) {
    if (variants[i].metrics_csv.empty()) continue;
    std::vector<PlotSeries> one =
        MetricSeries(logs[i], kMetricBpb, {*split_used});
    PlotSeries s;
    s.name = variants[i].label;
    if (!one.empty()) s.points = std::move(one[0].points);
    series.push_back(std::move(s));
  }
  return series;
}

absl::Status WriteAblationReport(const std::string& markdown_path,
                                 const std::string& png_path,
                                 absl::string_view varied_field,
                                 const std::vector<AblationVariant>& variants) {
  if (variants.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ablation of ", varied_field, ": no variants to report"));
  }
  std::string split;
  ST_ASSIGN_OR_RETURN(std::vector<PlotSeries> curves,
                      AblationCurves(variants, &split));
  std::string markdown = RenderAblationTable(varied_field, variants);
  size_t points = 0;
  for (const PlotSeries& s : curves) points += s.points.size();
  if (curves.empty()) {
    absl::StrAppend(&markdown, "\nNo curves: no variant has a metrics log.\n");
  } else if (points == 0) {
    absl::StrAppend(&markdown,
                    "\nNo curves: the metrics logs hold no bits per byte.\n");
  } else {
    PlotOptions options;
    options.title = absl::StrCat(varied_field, ": ", split, " bits per byte");
    ST_RETURN_IF_ERROR(WriteLinePlot(png_path, curves, options));
    absl::StrAppend(&markdown, "\n![", split, " bits per byte per variant](",
                    std::filesystem::path(png_path).filename().string(), ")\n");
  }
  std::ofstream out(markdown_path, std::ios::binary | std::ios::trunc);
  out << markdown;
  out.close();
  if (!out) {
    return absl::UnavailableError(absl::StrCat("cannot write ", markdown_path));
  }
  return absl::OkStatus();
}

}  // namespace st::report

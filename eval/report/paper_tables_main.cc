// Renders the paper's Tables 1-4 with our runs beside them, in Markdown.
//
//   bazel run //eval/report:paper_tables -- --runs=experiments/results,runs
//       [--out=paper_tables.md]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "eval/report/paper_tables.h"
#include "gflags/gflags.h"
#include "sparse_transformer/core/status.h"

DEFINE_string(runs, "",
              "Comma-separated run folders, result files, or folders searched "
              "recursively for result.pbtxt / *.result.pbtxt");
DEFINE_string(out, "", "Markdown output file; empty = standard output");

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "--runs=<folders or result files, comma-separated> [--out=<file.md>]");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  // `bazel run` starts in the runfiles tree; relative paths are the user's.
  if (const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY")) {
    if (chdir(cwd) != 0) {
      st::ExitOnError(absl::UnavailableError(
          absl::StrCat("cannot enter the working directory ", cwd)));
    }
  }
  if (FLAGS_runs.empty()) {
    st::ExitOnError(absl::InvalidArgumentError(
        "--runs is required: run folders, result files or folders of them"));
  }
  const std::vector<std::string> entries =
      absl::StrSplit(FLAGS_runs, ',', absl::SkipWhitespace());
  absl::StatusOr<std::vector<st::report::LoadedRun>> runs =
      st::report::LoadRuns(entries);
  st::ExitOnError(runs.status());
  const std::string markdown = st::report::RenderPaperTables(*runs);
  if (FLAGS_out.empty()) {
    std::fputs(markdown.c_str(), stdout);
    return 0;
  }
  std::ofstream out(FLAGS_out, std::ios::binary | std::ios::trunc);
  out << markdown;
  out.close();
  if (!out) {
    st::ExitOnError(
        absl::UnavailableError(absl::StrCat("cannot write ", FLAGS_out)));
  }
  std::fprintf(stderr, "wrote %s (%zu runs)\n", FLAGS_out.c_str(),
               runs->size());
  return 0;
}

// The paper's Tables 1-4 rendered in Markdown with our runs beside them: the
// paper's value and ours in adjacent columns, the data set each run used (real
// or stand-in) and its scale relative to the paper's model.
//
// Runs are matched to paper rows through RunResult.spec.paper (table and row)
// and the spec itself (data set, attention pattern, parameter count,
// evaluation minimum context), so reduced runs ("*_small", "*_cpu_tiny") land
// beside the row they scale down. Paper rows without a run show "—".
#ifndef SPARSE_TRANSFORMER_EVAL_REPORT_PAPER_TABLES_H_
#define SPARSE_TRANSFORMER_EVAL_REPORT_PAPER_TABLES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sparse_transformer/proto/result.pb.h"

namespace st::report {

// File name of a run's result inside its run folder.
inline constexpr char kResultFileName[] = "result.pbtxt";

struct LoadedRun {
  std::string source;  // the result file it was read from
  proto::RunResult result;
};

// Reads one text-format st.proto.RunResult. Errors name the file and, for a
// parse error, the line.
absl::StatusOr<proto::RunResult> ReadRunResult(const std::string& path);

// Expands --runs entries into result files, sorted and without duplicates:
//   a file                    -> itself;
//   a folder with result.pbtxt -> that file (a run folder);
//   any other folder          -> searched recursively for files named
//                                result.pbtxt or *.result.pbtxt.
// Errors: an entry that does not exist, a folder without any result file.
absl::StatusOr<std::vector<std::string>> FindResultFiles(
    const std::vector<std::string>& entries);

// FindResultFiles, each file read with ReadRunResult.
absl::StatusOr<std::vector<LoadedRun>> LoadRuns(
    const std::vector<std::string>& entries);

// The whole Markdown document: Tables 1-4, then runs that name a paper row we
// could not place and runs that name none.
std::string RenderPaperTables(const std::vector<LoadedRun>& runs);

}  // namespace st::report

#endif  // SPARSE_TRANSFORMER_EVAL_REPORT_PAPER_TABLES_H_

// Prints the scalars of TensorBoard event files as text, one line per value
// (step, wall time, tag, value), after checking every record's CRCs; a way to
// read a run's events without TensorBoard.
//
//   bazel run //eval/report:dump_events -- runs/<run>/events.out.tfevents.*
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "eval/report/tfevents.h"
#include "sparse_transformer/core/status.h"

int main(int argc, char** argv) {
  if (const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY")) {
    if (chdir(cwd) != 0) {
      st::ExitOnError(absl::UnavailableError(
          absl::StrCat("cannot enter the working directory ", cwd)));
    }
  }
  if (argc < 2) {
    st::ExitOnError(absl::InvalidArgumentError(
        "usage: dump_events <events.out.tfevents.* file>..."));
  }
  for (int i = 1; i < argc; ++i) {
    auto events = st::report::ReadEvents(argv[i]);
    st::ExitOnError(events.status());
    std::printf("# %s: %zu records\n", argv[i], events->size());
    for (const st::tfevents::Event& event : *events) {
      if (event.has_file_version()) {
        std::printf("file_version %s wall_time %.3f\n",
                    event.file_version().c_str(), event.wall_time());
      }
      for (const auto& value : event.summary().value()) {
        std::printf("step %lld wall_time %.3f %s %.9g\n",
                    static_cast<long long>(event.step()), event.wall_time(),
                    value.tag().c_str(), value.simple_value());
      }
    }
  }
  return 0;
}

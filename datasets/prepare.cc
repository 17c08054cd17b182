// Builds prepared data files (prepared.h) from the real distributions or
// builds the offline stand-ins. Stand-ins (sources fetched first with
// datasets/fetch_sources.sh; --nofetch uses the cache only):
//
//   bazel run -c opt //datasets:prepare -- --dataset=text
//   bazel run -c opt //datasets:prepare -- --dataset=images
//   bazel run -c opt //datasets:prepare -- --dataset=audio
//
// The paper's data sets as distributed:
//
//   ... --dataset=enwik8 --input=enwik8.zip
//   ... --dataset=cifar10 --input=cifar-10-batches-bin
//   ... --dataset=imagenet64 --train=train_data_batch_1.npz,...
//           --valid=val_data.npz          (or folders of 64x64 PNGs)
//   ... --dataset=music --input=<folder of .wav/.ogg>
//
// Output goes to <workspace>/data/<dataset>/ unless --out is given.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "datasets/audio.h"
#include "datasets/cifar10.h"
#include "datasets/enwik8.h"
#include "datasets/file_util.h"
#include "datasets/imagenet64.h"
#include "datasets/prepared.h"
#include "datasets/standins.h"
#include "datasets/tool_paths.h"
#include "gflags/gflags.h"
#include "sparse_transformer/core/status.h"

DEFINE_string(dataset, "",
              "text, images or audio (stand-ins); enwik8, cifar10, imagenet64 "
              "or music (real data)");
DEFINE_string(input, "",
              "enwik8: the file or enwik8.zip; cifar10: the "
              "cifar-10-batches-bin folder; music: a folder of .wav/.ogg");
DEFINE_string(train, "",
              "imagenet64: comma-separated .npz batches or PNG folders");
DEFINE_string(valid, "",
              "imagenet64: comma-separated .npz batches or PNG folders");
DEFINE_string(out, "", "output folder (default <workspace>/data/<dataset>)");
DEFINE_string(cache, "",
              "source package cache (default $ST_DATA_DIR or "
              "<workspace>/data/cache)");
DEFINE_uint64(seed, 1, "seed of the document/tile/track shuffles");
DEFINE_bool(fetch, true,
            "stand-ins: first run datasets/fetch_sources.sh for the set "
            "(idempotent; offline once the cache holds the packages)");

namespace st {
namespace datasets {
namespace {

std::vector<std::string> PathList(const std::string& flag) {
  std::vector<std::string> out;
  for (absl::string_view p : absl::StrSplit(flag, ',', absl::SkipEmpty())) {
    out.push_back(UserPath(std::string(p)));
  }
  return out;
}

absl::Status RequireFlag(const std::string& value, const char* name) {
  if (!value.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("--dataset=", FLAGS_dataset, " needs --", name));
}

// Downloads (apt-get download) and unpacks the stand-in's source packages into
// the cache, so that one command builds a stand-in on a fresh machine.
absl::Status FetchSources(const std::string& set, const std::string& cache) {
  const std::string script = WorkspaceDir() + "/datasets/fetch_sources.sh";
  if (access(script.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(
        script,
        ": not found (run from the workspace with bazel run, or pass "
        "--nofetch to use --cache as it is)"));
  }
  const std::string cmd = absl::StrCat("ST_DATA_DIR='", cache, "' '", script,
                                       "' --sources-only ", set, " 1>&2");
  if (std::system(cmd.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat(
        script, " --sources-only ", set, " failed (see its output above)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Build(const std::string& out_dir) {
  const std::string& d = FLAGS_dataset;
  StandinOptions standin;
  standin.cache =
      FLAGS_cache.empty() ? DefaultCacheDir() : UserPath(FLAGS_cache);
  standin.out_dir = out_dir;
  standin.seed = FLAGS_seed;
  if (FLAGS_fetch && (d == "text" || d == "images" || d == "audio")) {
    ST_RETURN_IF_ERROR(FetchSources(d, standin.cache));
  }
  if (d == "text") return BuildTextStandin(standin);
  if (d == "images") return BuildImageStandins(standin);
  if (d == "audio") return BuildAudioStandin(standin);
  ST_RETURN_IF_ERROR(MakeDirs(out_dir));
  if (d == "enwik8") {
    ST_RETURN_IF_ERROR(RequireFlag(FLAGS_input, "input"));
    const std::string out = JoinPath(out_dir, "enwik8.stp");
    ST_RETURN_IF_ERROR(PrepareEnwik8(UserPath(FLAGS_input), out));
    return std::vector<std::string>{out};
  }
  if (d == "cifar10") {
    ST_RETURN_IF_ERROR(RequireFlag(FLAGS_input, "input"));
    const std::string out = JoinPath(out_dir, "cifar10.stp");
    ST_RETURN_IF_ERROR(PrepareCifar10(UserPath(FLAGS_input), out));
    return std::vector<std::string>{out};
  }
  if (d == "imagenet64") {
    ST_RETURN_IF_ERROR(RequireFlag(FLAGS_train, "train"));
    ST_RETURN_IF_ERROR(RequireFlag(FLAGS_valid, "valid"));
    const std::string out = JoinPath(out_dir, "imagenet64.stp");
    ST_RETURN_IF_ERROR(
        PrepareImagenet64(PathList(FLAGS_train), PathList(FLAGS_valid), out));
    return std::vector<std::string>{out};
  }
  if (d == "music") {
    ST_RETURN_IF_ERROR(RequireFlag(FLAGS_input, "input"));
    ST_ASSIGN_OR_RETURN(const std::vector<std::string> tracks,
                        ListAudioFiles(UserPath(FLAGS_input)));
    const std::string out = JoinPath(out_dir, "music.stp");
    ST_RETURN_IF_ERROR(PrepareAudioTracks(
        tracks, out, FLAGS_seed,
        absl::StrCat("dataset: music from ", UserPath(FLAGS_input), "\n")));
    return std::vector<std::string>{out};
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown --dataset='", d,
      "' (want text, images, audio, enwik8, cifar10, imagenet64 or music)"));
}

}  // namespace
}  // namespace datasets
}  // namespace st

int main(int argc, char** argv) {
  gflags::SetUsageMessage("builds prepared data files; see datasets/README.md");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  using namespace st::datasets;
  const std::string out_dir = FLAGS_out.empty()
                                  ? WorkspaceDir() + "/data/" + FLAGS_dataset
                                  : UserPath(FLAGS_out);
  const auto start = std::chrono::steady_clock::now();
  auto files = Build(out_dir);
  st::ExitOnError(files.status());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  for (const std::string& path : *files) {
    auto header = ReadPreparedHeader(path);
    st::ExitOnError(header.status());
    std::printf(
        "%s: %s, %lld payload bytes, train/valid/test %lld/%lld/%lld, "
        "payload crc32 %08x\n",
        path.c_str(), KindName(header->kind),
        static_cast<long long>(header->payload_bytes),
        static_cast<long long>(header->split_examples[0]),
        static_cast<long long>(header->split_examples[1]),
        static_cast<long long>(header->split_examples[2]),
        header->payload_crc32);
  }
  std::printf("built in %.1f s\n", seconds);
  return 0;
}

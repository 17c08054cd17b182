// Real (not synthetic) stand-ins for the paper's data sets, built offline
// from Debian packages that datasets/fetch_sources.sh unpacks into a cache
// (see /work/shared/DATA.md for the sources and why each was chosen):
//  - text: an enwik8-shaped corpus of exactly 100,000,000 bytes of XML markup
//    (GNOME Mallard help pages in many languages) and English prose (GCIDE
//    dictionary, Python documentation sources); documents are shuffled with a
//    fixed seed before cutting, then split 90M / 5M / 5M;
//  - images: 32x32x3 and 64x64x3 tiles cut from photographs at several
//    scales, split 8:1:1 by source photo;
//  - audio: orchestral music (Wesnoth soundtrack), 12 kHz μ-law, split by
//    track.
// Outputs are byte-identical on rebuild: sorted inputs, portable shuffles,
// deterministic decoders, no time stamps in the provenance.
#ifndef SPARSE_TRANSFORMER_DATASETS_STANDINS_H_
#define SPARSE_TRANSFORMER_DATASETS_STANDINS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datasets/prepared.h"

namespace st {
namespace datasets {

struct StandinOptions {
  std::string cache;    // fetch_sources.sh cache (has root/ and versions.txt)
  std::string out_dir;  // where the prepared files go
  uint64_t seed = 1;
};

inline constexpr int64_t kTextStandinBytes = 100000000;

// Builds <out_dir>/text.stp. Returns the files written.
absl::StatusOr<std::vector<std::string>> BuildTextStandin(
    const StandinOptions& options);
// Builds <out_dir>/images32.stp and <out_dir>/images64.stp.
absl::StatusOr<std::vector<std::string>> BuildImageStandins(
    const StandinOptions& options);
// Builds <out_dir>/audio.stp.
absl::StatusOr<std::vector<std::string>> BuildAudioStandin(
    const StandinOptions& options);

// --- Building blocks, exposed for tests -------------------------------------

// Splits dictd text into entries (an entry starts at a non-indented line
// after a blank line) and groups `per_document` consecutive entries into one
// document. The documents concatenate back to `text`.
std::vector<std::string> GroupDictEntries(const std::string& text,
                                          int per_document);

// Shuffles documents with `seed`, concatenates them and cuts the result to
// exactly `total` bytes; fails if the documents are too short.
absl::StatusOr<std::string> CutCorpus(std::vector<std::string> documents,
                                      uint64_t seed, int64_t total);

// The split of a photo or track by a stable hash of its file name: 8 of 10
// buckets train, 1 valid, 1 test.
Split SplitByName(const std::string& file_name);

// "<package> <version> <deb sha256>" lines of versions.txt for `packages`;
// fails naming any package that was not fetched.
absl::StatusOr<std::string> PackageVersions(
    const std::string& cache, const std::vector<std::string>& packages);

}  // namespace datasets
}  // namespace st

#endif  // SPARSE_TRANSFORMER_DATASETS_STANDINS_H_

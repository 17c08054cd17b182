#include "datasets/standins.h"

#include <zlib.h>

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "datasets/audio.h"
#include "datasets/file_util.h"
#include "datasets/photo.h"
#include "datasets/shuffle.h"
#include "sparse_transformer/core/status.h"

namespace st {
namespace datasets {
namespace {

// Text sources (relative to the cache's root/).
constexpr char kHelpDir[] = "usr/share/help";  // gnome-user-docs, -devel-docs
constexpr char kGcide[] = "usr/share/dictd/gcide.dict.dz";
constexpr char kPythonDocs[] = "usr/share/doc/python3.11/html/_sources";
constexpr int kGcideEntriesPerDocument = 200;

// Photographs: explicit lists, so an updated package cannot silently add
// artwork; the lomiri art pieces (umang, Infinite-Sea, Fossa,
// Painting-Colors) and OpenCV's drawings, charts and gray calibration shots
// are left out.
constexpr const char* kPhotos[] = {
    // lomiri-wallpapers-16.04 and -20.04
    "usr/share/backgrounds/Bridge_by_Sander_Klootwijk.jpg",
    "usr/share/backgrounds/Dragonfly_by_Bolly.jpg",
    "usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg",
    "usr/share/backgrounds/Picture_0B_by_freespace.jpg",
    "usr/share/backgrounds/Picture_1A_by_freespace.jpg",
    "usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg",
    "usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg",
    "usr/share/backgrounds/analogpattern_by_Peter_Nerlich.jpg",
    "usr/share/backgrounds/free_by_Peter_Nerlich.jpg",
    "usr/share/backgrounds/friends_by_Aitzol_Berasategi.jpg",
    "usr/share/backgrounds/greentock_by_Peter_Nerlich.jpg",
    "usr/share/backgrounds/life_by_Aitzol_Berasategi.jpg",
    "usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg",
    "usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg",
    "usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg",
    // mate-backgrounds
    "usr/share/backgrounds/mate/nature/Aqua.jpg",
    "usr/share/backgrounds/mate/nature/Blinds.jpg",
    "usr/share/backgrounds/mate/nature/Dune.jpg",
    "usr/share/backgrounds/mate/nature/FreshFlower.jpg",
    "usr/share/backgrounds/mate/nature/Garden.jpg",
    "usr/share/backgrounds/mate/nature/GreenMeadow.jpg",
    "usr/share/backgrounds/mate/nature/LadyBird.jpg",
    "usr/share/backgrounds/mate/nature/RainDrops.jpg",
    "usr/share/backgrounds/mate/nature/Storm.jpg",
    "usr/share/backgrounds/mate/nature/TwoWings.jpg",
    "usr/share/backgrounds/mate/nature/Wood.jpg",
    "usr/share/backgrounds/mate/nature/YellowFlower.jpg",
    // tuxpaint-data
    "usr/share/tuxpaint/templates/burnt_bark.jpg",
    "usr/share/tuxpaint/templates/cliff.jpg",
    "usr/share/tuxpaint/templates/corn_maze.jpg",
    "usr/share/tuxpaint/templates/jellyfish.jpg",
    "usr/share/tuxpaint/templates/lighthouse.jpg",
    "usr/share/tuxpaint/templates/mossy_bark.jpg",
    "usr/share/tuxpaint/templates/mossy_log.jpg",
    "usr/share/tuxpaint/templates/mudstone.jpg",
    "usr/share/tuxpaint/templates/ocean_splash.jpg",
    "usr/share/tuxpaint/templates/ocean_waves.jpg",
    "usr/share/tuxpaint/templates/redwoods_above.jpg",
    "usr/share/tuxpaint/templates/rocks.jpg",
    "usr/share/tuxpaint/templates/sheep.jpg",
    "usr/share/tuxpaint/templates/spiders_web.jpg",
    "usr/share/tuxpaint/templates/sun_behind_clouds.jpg",
    "usr/share/tuxpaint/templates/sun_behind_leaves.jpg",
    "usr/share/tuxpaint/templates/trees_above.jpg",
    "usr/share/tuxpaint/templates/trees_at_dusk.jpg",
    "usr/share/tuxpaint/templates/wool_mill_machine.jpg",
    // palapeli-data
    "usr/share/palapeli/collection/castle-maintenon.jpg",
    "usr/share/palapeli/collection/cincinnati-bridge.jpg",
    "usr/share/palapeli/collection/citrus-fruits.jpg",
    "usr/share/palapeli/collection/european-honey-bee.jpg",
    "usr/share/palapeli/collection/panther-chameleon-female.jpg",
    // opencv-doc: colour photographs only
    "usr/share/doc/opencv-doc/examples/data/aero1.jpg",
    "usr/share/doc/opencv-doc/examples/data/aero3.jpg",
    "usr/share/doc/opencv-doc/examples/data/aloeL.jpg",
    "usr/share/doc/opencv-doc/examples/data/apple.jpg",
    "usr/share/doc/opencv-doc/examples/data/baboon.jpg",
    "usr/share/doc/opencv-doc/examples/data/board.jpg",
    "usr/share/doc/opencv-doc/examples/data/building.jpg",
    "usr/share/doc/opencv-doc/examples/data/butterfly.jpg",
    "usr/share/doc/opencv-doc/examples/data/ela_original.jpg",
    "usr/share/doc/opencv-doc/examples/data/fruits.jpg",
    "usr/share/doc/opencv-doc/examples/data/home.jpg",
    "usr/share/doc/opencv-doc/examples/data/leuvenA.jpg",
    "usr/share/doc/opencv-doc/examples/data/leuvenB.jpg",
    "usr/share/doc/opencv-doc/examples/data/messi5.jpg",
    "usr/share/doc/opencv-doc/examples/data/orange.jpg",
    "usr/share/doc/opencv-doc/examples/data/smarties.png",
    "usr/share/doc/opencv-doc/examples/data/squirrel_cls.jpg",
    "usr/share/doc/opencv-doc/examples/data/stuff.jpg",
    // python3-skimage, python3-sklearn
    "usr/lib/python3/dist-packages/skimage/data/astronaut.png",
    "usr/lib/python3/dist-packages/skimage/data/chelsea.png",
    "usr/lib/python3/dist-packages/skimage/data/coffee.png",
    "usr/lib/python3/dist-packages/skimage/data/motorcycle_left.png",
    "usr/lib/python3/dist-packages/skimage/data/rocket.jpg",
    "usr/lib/python3/dist-packages/sklearn/datasets/images/china.jpg",
    "usr/lib/python3/dist-packages/sklearn/datasets/images/flower.jpg",
};
constexpr int kScales[] = {64, 128, 256, 512};  // short side, px
constexpr double kMinTileStd = 4.0;

constexpr char kMusicDir[] = "usr/share/games/wesnoth/1.16/data/core/music";

const std::vector<std::string>& TextPackages() {
  static const auto* p = new std::vector<std::string>{
      "dict-gcide", "gnome-devel-docs", "gnome-user-docs", "python3.11-doc"};
  return *p;
}
const std::vector<std::string>& ImagePackages() {
  static const auto* p = new std::vector<std::string>{
      "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04",
      "mate-backgrounds",        "opencv-doc",
      "palapeli-data",           "python3-skimage",
      "python3-sklearn",         "tuxpaint-data"};
  return *p;
}

std::string Root(const StandinOptions& o) { return JoinPath(o.cache, "root"); }

absl::StatusOr<std::string> ReadGzip(const std::string& path) {
  ST_ASSIGN_OR_RETURN(const int64_t size, FileSize(path));
  (void)size;
  gzFile gz = gzopen(path.c_str(), "rb");
  if (gz == nullptr) return absl::NotFoundError(path + ": cannot open");
  std::string out;
  std::vector<char> buffer(1 << 20);
  int n;
  while ((n = gzread(gz, buffer.data(), buffer.size())) > 0) {
    out.append(buffer.data(), n);
  }
  int error = Z_OK;
  const std::string message = gzerror(gz, &error);
  gzclose(gz);
  if (n < 0 || (error != Z_OK && error != Z_STREAM_END)) {
    return absl::DataLossError(absl::StrCat(
        path, ": gzip stream corrupt or truncated (", message, ")"));
  }
  return out;
}

absl::Status CheckOut(const StandinOptions& o) {
  if (o.cache.empty() || o.out_dir.empty()) {
    return absl::InvalidArgumentError(
        "stand-in: cache and out_dir must be set");
  }
  return MakeDirs(o.out_dir);
}

}  // namespace

std::vector<std::string> GroupDictEntries(const std::string& text,
                                          int per_document) {
  std::vector<std::string> docs;
  size_t doc_start = 0;
  int entries = 0;
  // An entry starts after "\n\n" at a character that is not a space.
  for (size_t at = text.find("\n\n"); at != std::string::npos;
       at = text.find("\n\n", at + 1)) {
    const size_t start = at + 2;
    if (start >= text.size() || text[start] == ' ' || text[start] == '\n' ||
        text[start] == '\t') {
      continue;
    }
    if (++entries == per_document) {
      docs.push_back(text.substr(doc_start, start - doc_start));
      doc_start = start;
      entries = 0;
    }
  }
  if (doc_start < text.size()) docs.push_back(text.substr(doc_start));
  return docs;
}

absl::StatusOr<std::string> CutCorpus(std::vector<std::string> documents,
                                      uint64_t seed, int64_t total) {
  Shuffle(seed, &documents);
  std::string out;
  out.reserve(static_cast<size_t>(total));
  for (const std::string& d : documents) {
    if (static_cast<int64_t>(out.size()) >= total) break;
    out.append(d, 0, std::min<size_t>(d.size(), total - out.size()));
  }
  if (static_cast<int64_t>(out.size()) < total) {
    return absl::FailedPreconditionError(
        absl::StrCat("text stand-in: the sources hold only ", out.size(),
                     " bytes, need ", total));
  }
  return out;
}

Split SplitByName(const std::string& file_name) {
  const uint64_t bucket = Fnv1a64(file_name) % 10;
  return bucket < 8 ? Split::kTrain
                    : (bucket == 8 ? Split::kValid : Split::kTest);
}

absl::StatusOr<std::string> PackageVersions(
    const std::string& cache, const std::vector<std::string>& packages) {
  const std::string path = JoinPath(cache, "versions.txt");
  auto text = ReadFile(path);
  if (!text.ok()) {
    return absl::NotFoundError(
        absl::StrCat(path, ": missing; run datasets/fetch_sources.sh first"));
  }
  std::string out;
  for (const std::string& p : packages) {
    bool found = false;
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      if (absl::StartsWith(line, p + " ")) {
        absl::StrAppend(&out, "package: ", line, "\n");
        found = true;
      }
    }
    if (!found) {
      return absl::NotFoundError(
          absl::StrCat(path, ": package ", p,
                       " was not fetched; run datasets/fetch_sources.sh"));
    }
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> BuildTextStandin(
    const StandinOptions& o) {
  ST_RETURN_IF_ERROR(CheckOut(o));
  ST_ASSIGN_OR_RETURN(const std::string versions,
                      PackageVersions(o.cache, TextPackages()));
  const std::string root = Root(o);
  std::vector<std::string> docs;
  ST_ASSIGN_OR_RETURN(const std::vector<std::string> pages,
                      ListFilesRecursive(JoinPath(root, kHelpDir), {".page"}));
  int64_t page_bytes = 0;
  for (const std::string& p : pages) {
    ST_ASSIGN_OR_RETURN(std::string d, ReadFile(p));
    page_bytes += d.size();
    docs.push_back(std::move(d));
  }
  ST_ASSIGN_OR_RETURN(const std::string gcide,
                      ReadGzip(JoinPath(root, kGcide)));
  std::vector<std::string> entries =
      GroupDictEntries(gcide, kGcideEntriesPerDocument);
  const size_t gcide_docs = entries.size();
  for (std::string& e : entries) docs.push_back(std::move(e));
  ST_ASSIGN_OR_RETURN(
      const std::vector<std::string> rst,
      ListFilesRecursive(JoinPath(root, kPythonDocs), {".rst.txt"}));
  int64_t rst_bytes = 0;
  for (const std::string& p : rst) {
    ST_ASSIGN_OR_RETURN(std::string d, ReadFile(p));
    rst_bytes += d.size();
    docs.push_back(std::move(d));
  }
  const size_t num_docs = docs.size();
  ST_ASSIGN_OR_RETURN(const std::string corpus,
                      CutCorpus(std::move(docs), o.seed, kTextStandinBytes));
  const int64_t valid = kTextStandinBytes / 20;
  const int64_t train = kTextStandinBytes - 2 * valid;
  const std::string provenance = absl::StrCat(
      "dataset: text stand-in (enwik8-shaped)\n", versions,
      "source: ", pages.size(), " Mallard .page files (", page_bytes,
      " bytes) under /", kHelpDir, "\nsource: /", kGcide, " (", gcide.size(),
      " bytes) in ", gcide_docs, " documents of ", kGcideEntriesPerDocument,
      " entries\nsource: ", rst.size(), " .rst.txt files (", rst_bytes,
      " bytes) under /", kPythonDocs, "\nshuffle: ", num_docs,
      " documents, seed ", o.seed, "\nsplit: ", train, " train, ", valid,
      " valid, ", valid, " test bytes\n");
  const std::string out = JoinPath(o.out_dir, "text.stp");
  const absl::Span<const uint8_t> all(
      reinterpret_cast<const uint8_t*>(corpus.data()), corpus.size());
  ST_RETURN_IF_ERROR(WritePrepared(
      out, Kind::kText, {1}, provenance, all.subspan(0, train),
      all.subspan(train, valid), all.subspan(train + valid, valid)));
  return std::vector<std::string>{out};
}

absl::StatusOr<std::vector<std::string>> BuildImageStandins(
    const StandinOptions& o) {
  ST_RETURN_IF_ERROR(CheckOut(o));
  ST_ASSIGN_OR_RETURN(const std::string versions,
                      PackageVersions(o.cache, ImagePackages()));
  const std::string root = Root(o);
  constexpr int kSides[2] = {32, 64};
  // tiles[side][split]: [n, side, side, 3]
  std::vector<uint8_t> tiles[2][kNumSplits];
  std::string photo_lines;
  for (const char* rel : kPhotos) {
    const std::string path = JoinPath(root, rel);
    ST_ASSIGN_OR_RETURN(const Image photo, LoadPhotoRgb(path));
    const Split split = SplitByName(Basename(rel));
    int64_t kept[2] = {0, 0};
    for (int scale : kScales) {
      if (scale > std::min(photo.width, photo.height)) continue;
      ST_ASSIGN_OR_RETURN(const Image scaled, ResizeShortSide(photo, scale));
      for (int s = 0; s < 2; ++s) {
        kept[s] += CutTiles(scaled, kSides[s], kMinTileStd,
                            &tiles[s][static_cast<int>(split)]);
      }
    }
    absl::StrAppend(&photo_lines, "photo ", SplitName(split), " /", rel, " ",
                    photo.width, "x", photo.height, " tiles32 ", kept[0],
                    " tiles64 ", kept[1], "\n");
  }
  std::vector<std::string> written;
  for (int s = 0; s < 2; ++s) {
    const int side = kSides[s];
    const int64_t tile_bytes = int64_t{side} * side * 3;
    const std::string out =
        JoinPath(o.out_dir, absl::StrCat("images", side, ".stp"));
    const std::string provenance = absl::StrCat(
        "dataset: image stand-in, ", side, "x", side,
        "x3 tiles of photographs\n", versions,
        "scales: short side 64, 128, "
        "256, 512 px (never upsampled), Catmull-Rom in linear light "
        "(stb_image_resize)\ntiles: non-overlapping from the top-left, "
        "dropped when byte std < ",
        kMinTileStd,
        "\nsplit: by FNV-1a 64 of the photo's file name mod 10 (0-7 train, "
        "8 valid, 9 test); tiles within a split shuffled with seed ",
        o.seed, "\n", photo_lines);
    ST_ASSIGN_OR_RETURN(
        auto writer,
        PreparedWriter::Create(out, Kind::kImage, {side, side, 3}, provenance));
    for (int split = 0; split < kNumSplits; ++split) {
      // Shuffle whole tiles so neighbouring tiles of one photo are apart.
      const std::vector<uint8_t>& px = tiles[s][split];
      std::vector<int64_t> order(px.size() / tile_bytes);
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      Shuffle(o.seed + split, &order);
      std::vector<uint8_t> shuffled(px.size());
      for (size_t i = 0; i < order.size(); ++i) {
        std::copy(px.begin() + order[i] * tile_bytes,
                  px.begin() + (order[i] + 1) * tile_bytes,
                  shuffled.begin() + i * tile_bytes);
      }
      ST_RETURN_IF_ERROR(writer->Append(static_cast<Split>(split), shuffled));
    }
    ST_RETURN_IF_ERROR(writer->Finish());
    written.push_back(out);
  }
  return written;
}

absl::StatusOr<std::vector<std::string>> BuildAudioStandin(
    const StandinOptions& o) {
  ST_RETURN_IF_ERROR(CheckOut(o));
  ST_ASSIGN_OR_RETURN(const std::string versions,
                      PackageVersions(o.cache, {"wesnoth-1.16-music"}));
  ST_ASSIGN_OR_RETURN(const std::vector<std::string> all,
                      ListAudioFiles(JoinPath(Root(o), kMusicDir)));
  // silence.ogg is 10 s of digital silence, not music.
  std::vector<std::string> tracks;
  for (const std::string& t : all) {
    if (Basename(t) != "silence.ogg") tracks.push_back(t);
  }
  const std::string out = JoinPath(o.out_dir, "audio.stp");
  ST_RETURN_IF_ERROR(PrepareAudioTracks(
      tracks, out, o.seed,
      absl::StrCat("dataset: audio stand-in, orchestral music (Wesnoth 1.16 "
                   "soundtrack, Ogg Vorbis)\n",
                   versions, "tracks: the .ogg files in /", kMusicDir,
                   " except silence.ogg\nsplit: by track (tracks shuffled "
                   "with the seed; 80% train, 10% valid, 10% test)\n")));
  return std::vector<std::string>{out};
}

}  // namespace datasets
}  // namespace st

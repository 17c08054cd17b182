#include "eval/report/paper_tables.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "sparse_transformer/core/test_files.h"

namespace st::report {
namespace {

using ::st::test::FreshTempDir;

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

void WriteText(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

proto::RunResult Parse(const std::string& text) {
  proto::RunResult result;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &result))
      << text;
  return result;
}

void WriteResult(const std::string& path, const std::string& text) {
  Parse(text);  // fails the test on a typo in the test's own text
  WriteText(path, text);
}

// The one line of `markdown` that contains every needle, or "".
std::string LineWith(const std::string& markdown,
                     const std::vector<std::string>& needles) {
  std::string found;
  for (absl::string_view line : absl::StrSplit(markdown, '\n')) {
    bool all = true;
    for (const std::string& needle : needles) {
      all = all && line.find(needle) != absl::string_view::npos;
    }
    if (all) {
      EXPECT_TRUE(found.empty())
          << "two lines match: " << found << " / " << line;
      found = std::string(line);
    }
  }
  return found;
}

constexpr char kCifarTable1[] = R"pb(
  spec_name: "cifar10_strided_small"
  data_source: "stand-in: procedural 32x32 images"
  scale_note: "2 layers, d 64"
  params: 590000
  steps: 100
  valid_bpb: 3.5
  seconds_per_iter: 0.25
  spec {
    name: "cifar10_strided_small"
    paper {
      table: "Table 1"
      row: "Sparse Transformer 59M (strided)"
      params: 59000000
    }
    model { attention { pattern: STRIDED } }
    data { dataset: IMAGES32_STANDIN context: 3072 }
  }
)pb";

constexpr char kEnwikDense[] = R"pb(
  spec_name: "enwik8_dense_cpu_tiny"
  data_source: "stand-in: text"
  device: "cpu: 2 cores"
  params: 20000
  steps: 30
  valid_bpb: 4.0
  test_bpb: 4.25
  seconds_per_iter: 2.0
  spec {
    paper { table: "Table 2" row: "Enwik8: Dense Attention" params: 95000000 }
    model {
      n_layer: 2
      d_model: 32
      n_head: 2
      attention { pattern: DENSE }
    }
    data { dataset: TEXT_STANDIN context: 512 }
    training { batch_size: 2 }
    evaluation { split: TEST }
  }
)pb";

constexpr char kEnwikFixed[] = R"pb(
  spec_name: "enwik8_fixed_cpu_tiny"
  data_source: "stand-in: text"
  device: "cpu: 2 cores"
  params: 20000
  steps: 30
  valid_bpb: 3.9
  seconds_per_iter: 0.5
  spec {
    paper { table: "Table 2" row: "Enwik8: Sparse Transformer (Fixed)" }
    model {
      n_layer: 2
      d_model: 32
      n_head: 2
      attention { pattern: FIXED }
    }
    data { dataset: TEXT_STANDIN context: 512 }
    training { batch_size: 2 }
  }
)pb";

// Same shape as the dense run, but another device: no dense reference.
constexpr char kEnwikStridedOtherDevice[] = R"pb(
  spec_name: "enwik8_strided_gpu"
  data_source: "stand-in: text"
  device: "NVIDIA H200"
  valid_bpb: 4.5
  seconds_per_iter: 0.01
  spec {
    paper { table: "Table 2" row: "Enwik8: Sparse Transformer (Strided)" }
    model {
      n_layer: 2
      d_model: 32
      n_head: 2
      attention { pattern: STRIDED }
    }
    data { dataset: TEXT_STANDIN context: 512 }
    training { batch_size: 2 }
  }
)pb";

// A reduced Table 3 run: context 1024, minimum contexts at the paper's
// fractions 6144/12288 = 512/1024 and 12096/12288 = 1008/1024, plus 1013
// (12160/12288 = 0.98958; 1013/1024 = 0.98926).
constexpr char kMinContextReduced[] = R"pb(
  spec_name: "enwik8_mincontext_small"
  data_source: "stand-in: text"
  params: 100000
  spec {
    paper { table: "Table 3" row: "Minimum context" params: 95000000 }
    data { dataset: TEXT_STANDIN context: 1024 }
    evaluation { split: TEST }
  }
  min_context { min_context: 512 bpb: 2.5 }
  min_context { min_context: 1008 bpb: 2.25 }
  min_context { min_context: 1013 bpb: 2.125 }
)pb";

// A full-scale Table 3 row spec naming its row.
constexpr char kMinContextNamed[] = R"pb(
  spec_name: "enwik8_mincontext_9216"
  data_source: "real"
  spec {
    paper {
      table: "Table 3"
      row: "Minimum context 9,216 tokens"
      min_eval_context: 9216
    }
    data { dataset: ENWIK8 context: 12288 }
    evaluation { split: TEST min_context: 9216 }
  }
  min_context { min_context: 9216 bpb: 1.0125 }
)pb";

constexpr char kMusic25M[] = R"pb(
  spec_name: "music_262144_small"
  data_source: "stand-in: synthetic audio"
  params: 250000
  steps: 10
  valid_bpb: 5.0
  spec {
    paper {
      table: "Table 4"
      row: "Sequence length 262,144, 25M parameters"
      params: 25000000
    }
    data { dataset: AUDIO_STANDIN context: 4096 }
  }
)pb";

constexpr char kMusicTable1[] = R"pb(
  spec_name: "music_65536_152m"
  data_source: "real"
  params: 152000000
  valid_bpb: 6.0
  spec {
    paper {
      table: "Table 1"
      row: "Classical music, 5 seconds at 12 kHz: Sparse Transformer 152M (strided)"
      params: 152000000
    }
    data { dataset: MUSIC context: 65536 }
  }
)pb";

constexpr char kUnplaced[] = R"pb(
  spec_name: "mystery"
  valid_bpb: 1.5
  spec { paper { table: "Table 2" row: "Something else" } }
)pb";

constexpr char kNoPaper[] = R"pb(
  spec_name: "scratch" valid_bpb: 7.0
)pb";

class PaperTablesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = FreshTempDir("paper_tables");
    WriteResult(root_ + "/runs/cifar-1/result.pbtxt", kCifarTable1);
    WriteResult(root_ + "/runs/dense-1/result.pbtxt", kEnwikDense);
    WriteResult(root_ + "/runs/fixed-1/result.pbtxt", kEnwikFixed);
    WriteResult(root_ + "/results/strided_gpu.result.pbtxt",
                kEnwikStridedOtherDevice);
    WriteResult(root_ + "/results/mincontext_small.result.pbtxt",
                kMinContextReduced);
    WriteResult(root_ + "/results/deep/mincontext_9216.result.pbtxt",
                kMinContextNamed);
    WriteResult(root_ + "/results/music.result.pbtxt", kMusic25M);
    WriteResult(root_ + "/results/music152.result.pbtxt", kMusicTable1);
    WriteResult(root_ + "/other/mystery.result.pbtxt", kUnplaced);
    WriteResult(root_ + "/other/scratch.result.pbtxt", kNoPaper);
    WriteText(root_ + "/results/notes.txt", "not a result");
    WriteText(root_ + "/results/spec.pbtxt", "name: \"not a result\"\n");
  }
  std::string root_;
};

TEST_F(PaperTablesTest, FindsResultFilesInEveryKindOfEntry) {
  // A result file given by name may be called anything.
  WriteResult(root_ + "/explicit/any_name.pbtxt", kNoPaper);
  auto files = FindResultFiles({root_ + "/runs/cifar-1", root_ + "/results",
                                root_ + "/explicit/any_name.pbtxt",
                                root_ + "/runs/cifar-1/result.pbtxt"});
  ASSERT_TRUE(files.ok()) << files.status();
  // A folder is searched for result.pbtxt and *.result.pbtxt only, and the
  // run folder given twice is read once.
  EXPECT_THAT(*files,
              ElementsAre(root_ + "/explicit/any_name.pbtxt",
                          root_ + "/results/deep/mincontext_9216.result.pbtxt",
                          root_ + "/results/mincontext_small.result.pbtxt",
                          root_ + "/results/music.result.pbtxt",
                          root_ + "/results/music152.result.pbtxt",
                          root_ + "/results/strided_gpu.result.pbtxt",
                          root_ + "/runs/cifar-1/result.pbtxt"));
}

TEST_F(PaperTablesTest, BadEntriesAreErrors) {
  auto missing = FindResultFiles({root_ + "/nope"});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("/nope does not exist"));

  FreshTempDir("paper_tables_empty");
  auto empty = FindResultFiles(
      {(fs::path(::testing::TempDir()) / "paper_tables_empty").string()});
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(), HasSubstr("holds no result.pbtxt"));

  WriteText(root_ + "/bad/result.pbtxt", "spec_name: \"x\"\nvalid_bpb: oops\n");
  auto bad = LoadRuns({root_ + "/bad"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("bad/result.pbtxt:2:"));
}

TEST_F(PaperTablesTest, RendersEveryTableWithOursBesideThePaper) {
  auto runs = LoadRuns({root_});
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 10u);
  const std::string md = RenderPaperTables(*runs);

  EXPECT_THAT(md, HasSubstr("Runs read: 10."));
  EXPECT_THAT(md, HasSubstr("## Table 1"));
  EXPECT_THAT(md, HasSubstr("## Table 2"));
  EXPECT_THAT(md, HasSubstr("## Table 3"));
  EXPECT_THAT(md, HasSubstr("## Table 4"));

  // Table 1: the paper's other models appear with no run of ours.
  EXPECT_EQ(LineWith(md, {"Glow (Kingma & Dhariwal, 2018)"}),
            "| Glow (Kingma & Dhariwal, 2018) | 3.81 | — |  |  |  |");
  EXPECT_EQ(
      LineWith(md, {"Sparse Transformer 59M (strided)"}),
      "| Sparse Transformer 59M (strided) | 2.80 | 3.500 (valid) | "
      "`cifar10_strided_small` | stand-in: procedural 32x32 images | "
      "590k params (1% of 59M), 100 steps, context 3072; 2 layers, d 64 |");
  // The enwik8 Table 1 row has no run.
  EXPECT_EQ(LineWith(md, {"Sparse Transformer 95M (fixed)"}),
            "| Sparse Transformer 95M (fixed) | 0.99 | — |  |  |  |");

  // Table 2: the dense run is its own reference (1.00x); the fixed run takes
  // 0.5 / 2.0 = 0.25 of it; the paper's fixed row 0.55 / 1.31 = 0.42.
  EXPECT_EQ(LineWith(md, {"Dense Attention", "enwik8_dense_cpu_tiny"}),
            "| Dense Attention | 1.00 | 4.250 (test) | 1.31 | 1.00× | 2 s | "
            "1.00× | `enwik8_dense_cpu_tiny` | stand-in: text | 20k params "
            "(0.0211% of 95M), 30 steps, context 512 |");
  EXPECT_EQ(
      LineWith(md, {"Sparse Transformer (Fixed)", "enwik8_fixed"}),
      "| Sparse Transformer (Fixed) | 0.99 | 3.900 (valid) | 0.55 | "
      "0.42× | 0.5 s | 0.25× | `enwik8_fixed_cpu_tiny` | stand-in: text | "
      "20k params (0.0211% of 95M), 30 steps, context 512 |");
  // Another device: no comparable dense run.
  EXPECT_THAT(
      LineWith(md, {"enwik8_strided_gpu"}),
      HasSubstr("| 1.13 | 4.500 (valid) | 0.35 | 0.27× | 0.01 s | — |"));
  // CIFAR-10 rows of Table 2 have no runs; the paper's ratios are still shown.
  EXPECT_THAT(md, HasSubstr("| Sparse Transformer (Strided) | 2.80 | — | "
                            "0.38 | 0.70× | — | — |  |  |  |"));

  // Table 3: the reduced run lands on three rows by fraction of its context;
  // the named full-scale run on its own row.
  EXPECT_THAT(LineWith(md, {"6,144 tokens", "mincontext_small"}),
              HasSubstr("| 0.9952 | 2.5000 (test) | 512 of 1024 |"));
  EXPECT_THAT(LineWith(md, {"12,096 tokens", "mincontext_small"}),
              HasSubstr("| 0.9922 | 2.2500 (test) | 1008 of 1024 |"));
  EXPECT_THAT(LineWith(md, {"12,160 tokens", "mincontext_small"}),
              HasSubstr("| 0.9908 | 2.1250 (test) | 1013 of 1024 |"));
  EXPECT_THAT(LineWith(md, {"9,216 tokens"}),
              HasSubstr("| 0.9936 | 1.0125 (test) | 9216 of 12288 | "
                        "`enwik8_mincontext_9216` | real |"));
  EXPECT_EQ(LineWith(md, {"10,752 tokens"}),
            "| 10,752 tokens | 0.9932 | — |  |  |  |  |");

  // Table 4: placed by the paper's parameter count.
  EXPECT_THAT(LineWith(md, {"| 262,144 |"}),
              HasSubstr("| 262,144 | 25M | 2.17 | 5.000 (valid) | "
                        "`music_262144_small` | stand-in: synthetic audio | "
                        "250k params (1% of 25M), 10 steps, context 4096 |"));
  // The Table 1 music run also fills Table 4's 65,536 row (same model).
  EXPECT_THAT(LineWith(md, {"| 65,536 |"}),
              HasSubstr("| 65,536 | 152M | 1.97 | 6.000 (valid) | "
                        "`music_65536_152m` | real | 152M params (100% of "
                        "152M), context 65536 |"));
  EXPECT_THAT(
      LineWith(md, {"Sparse Transformer 152M (strided)", "music_65536_152m"}),
      HasSubstr("| 1.97 | 6.000 (valid) |"));
  // The ImageNet row of the same name has no run.
  EXPECT_EQ(LineWith(md, {"Sparse Transformer 152M (strided) | 3.44"}),
            "| Sparse Transformer 152M (strided) | 3.44 | — |  |  |  |");

  // Runs that do not fit a row are listed, not dropped.
  EXPECT_THAT(md, HasSubstr("## Runs that name a paper row not placed above"));
  EXPECT_THAT(LineWith(md, {"`mystery`"}),
              HasSubstr("Table 2, \"Something else\"; ours 1.500 (valid)"));
  EXPECT_THAT(md, HasSubstr("## Runs without a paper row"));
  EXPECT_THAT(LineWith(md, {"`scratch`"}),
              HasSubstr("no paper row; ours 7.000 (valid)"));
}

TEST_F(PaperTablesTest, WithoutRunsEveryPaperRowShowsADash) {
  const std::string md = RenderPaperTables({});
  EXPECT_THAT(md, HasSubstr("Runs read: 0."));
  // 15 Table 1 rows + 6 Table 2 + 6 Table 3 + 3 Table 4, each with ours "—".
  int dashes = 0;
  for (absl::string_view line : absl::StrSplit(md, '\n')) {
    dashes += absl::StartsWith(line, "| ") &&
              line.find(" | — |") != absl::string_view::npos;
  }
  EXPECT_EQ(dashes, 30);
  EXPECT_THAT(md, Not(HasSubstr("## Runs without a paper row")));
}

TEST(PaperTablesPipeTest, CellsEscapeMarkdownPipes) {
  LoadedRun run{"x.pbtxt", Parse(R"pb(
                  spec_name: "a|b"
                  valid_bpb: 1
                  data_source: "stand-in: x|y"
                )pb")};
  const std::string md = RenderPaperTables({run});
  EXPECT_THAT(md, HasSubstr("`a\\|b`"));
  EXPECT_THAT(md, HasSubstr("stand-in: x\\|y"));
}

}  // namespace
}  // namespace st::report

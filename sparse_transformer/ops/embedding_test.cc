#include "sparse_transformer/ops/embedding.h"

#include <vector>

#include "gtest/gtest.h"
#include "sparse_transformer/ops/grad_check.h"

namespace st::ops {
namespace {

TEST(PositionStructureTest, TextRowsAndColumnsOfStrideWideMatrix) {
  auto s = MakePositionStructure(EmbeddingKind::kText, 10, 4, {});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->rows, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(s->index[0], (std::vector<int32_t>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2}));
  EXPECT_EQ(s->index[1], (std::vector<int32_t>{0, 1, 2, 3, 0, 1, 2, 3, 0, 1}));
}

TEST(PositionStructureTest, ImageRowColumnChannelHwc) {
  auto s =
      MakePositionStructure(EmbeddingKind::kImage, 2 * 3 * 3, 0, {2, 3, 3});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->rows, (std::vector<int64_t>{2, 3, 3}));
  // Position 13 = row 1, column 1, channel 1 (13 = 1*9 + 1*3 + 1).
  EXPECT_EQ(s->index[0][13], 1);
  EXPECT_EQ(s->index[1][13], 1);
  EXPECT_EQ(s->index[2][13], 1);
  EXPECT_EQ(s->index[0][8], 0);
  EXPECT_EQ(s->index[1][8], 2);
  EXPECT_EQ(s->index[2][8], 2);
}

TEST(PositionStructureTest, BadInputIsAnErrorNamingTheValue) {
  auto a = MakePositionStructure(EmbeddingKind::kImage, 10, 0, {2, 3, 3});
  EXPECT_FALSE(a.ok());
  EXPECT_NE(std::string(a.status().message()).find("2x3x3"), std::string::npos);
  auto b = MakePositionStructure(EmbeddingKind::kAudio, 10, 0, {});
  EXPECT_FALSE(b.ok());
  EXPECT_NE(std::string(b.status().message()).find("stride"),
            std::string::npos);
}

TEST(EmbeddingTest, HandComputedSumOfLookups) {
  // D = 1, N = 2, stride 1 -> row table has 2 rows, column table 1 row.
  std::vector<double> wtok(256, 0.0);
  wtok[7] = 100;
  wtok[9] = 200;
  const std::vector<double> rows = {1, 2}, cols = {10};
  const double* tables[2] = {rows.data(), cols.data()};
  const std::vector<int32_t> ri = {0, 1}, ci = {0, 0};
  const int32_t* index[2] = {ri.data(), ci.data()};
  const uint8_t tok[2] = {9, 7};
  std::vector<double> out(2);
  EmbeddingForward<double>(1, 2, 1, tok, wtok.data(), 2, tables, index,
                           out.data());
  EXPECT_EQ(out, (std::vector<double>{211, 112}));
  std::vector<double> dw(256, 0.0), dr(2, 0.0), dc(1, 0.0);
  double* dt[2] = {dr.data(), dc.data()};
  const std::vector<double> dout = {1.5, -1};
  EmbeddingBackward<double>(1, 2, 1, tok, 2, index, dout.data(), dw.data(), dt);
  EXPECT_EQ(dw[9], 1.5);
  EXPECT_EQ(dw[7], -1);
  EXPECT_EQ(dr, (std::vector<double>{1.5, -1}));
  EXPECT_EQ(dc[0], 0.5);
}

TEST(EmbeddingTest, GradientMatchesFiniteDifferences) {
  const int b = 2, n = 6, d = 3;
  auto s = MakePositionStructure(EmbeddingKind::kText, n, 4, {});
  ASSERT_TRUE(s.ok());
  auto wtok = RandomVector(256 * d, 1);
  auto wr = RandomVector(s->rows[0] * d, 2),
       wc = RandomVector(s->rows[1] * d, 3);
  const uint8_t tok[b * n] = {1, 2, 3, 1, 1, 250, 0, 2, 2, 9, 1, 3};
  auto w = RandomVector(b * n * d, 4);
  const int32_t* index[2] = {s->index[0].data(), s->index[1].data()};
  auto loss = [&]() {
    const double* tables[2] = {wr.data(), wc.data()};
    std::vector<double> out(b * n * d);
    EmbeddingForward<double>(b, n, d, tok, wtok.data(), 2, tables, index,
                             out.data());
    return Dot(w, out.data());
  };
  std::vector<double> dtok(256 * d, 0.0), dr(wr.size(), 0.0),
      dc(wc.size(), 0.0);
  double* dt[2] = {dr.data(), dc.data()};
  EmbeddingBackward<double>(b, n, d, tok, 2, index, w.data(), dtok.data(), dt);
  EXPECT_LT(GradError(dtok, NumericalGradient(loss, wtok.data(), 256 * d)),
            1e-9);
  EXPECT_LT(GradError(dr, NumericalGradient(loss, wr.data(), wr.size())), 1e-9);
  EXPECT_LT(GradError(dc, NumericalGradient(loss, wc.data(), wc.size())), 1e-9);
}

}  // namespace
}  // namespace st::ops

#include "datasets/mulaw.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace st {
namespace datasets {
namespace {

TEST(MuLawTest, HandComputedCodes) {
  EXPECT_EQ(MuLawEncode(-1.0f), 0);
  EXPECT_EQ(MuLawEncode(1.0f), 255);
  EXPECT_EQ(MuLawEncode(0.0f), 128);  // (0 + 1) / 2 * 255 = 127.5 rounds up
  // x = 15/255: y = ln(16)/ln(256) = 0.5, code = round(0.75 * 255 = 191.25).
  EXPECT_EQ(MuLawEncode(15.0f / 255.0f), 191);
  // x = -15/255: y = -0.5, code = round(0.25 * 255 = 63.75) = 64.
  EXPECT_EQ(MuLawEncode(-15.0f / 255.0f), 64);
  // x = 1/255: y = ln 2 / ln 256 = 1/8, code = round(0.5625 * 255) = 143.
  EXPECT_EQ(MuLawEncode(1.0f / 255.0f), 143);
}

TEST(MuLawTest, HandComputedDecode) {
  EXPECT_FLOAT_EQ(MuLawDecode(0), -1.0f);
  EXPECT_FLOAT_EQ(MuLawDecode(255), 1.0f);
  // code 128: y = 1/255, x = (256^(1/255) - 1) / 255.
  EXPECT_NEAR(MuLawDecode(128), (std::pow(256.0, 1.0 / 255.0) - 1.0) / 255.0,
              1e-9);
  // 255 - c mirrors the sign: code c and 255 - c decode to opposite values.
  for (int c = 0; c < 256; ++c) {
    EXPECT_FLOAT_EQ(MuLawDecode(static_cast<uint8_t>(c)),
                    -MuLawDecode(static_cast<uint8_t>(255 - c)));
  }
}

TEST(MuLawTest, RoundTripIsExactOnEveryCode) {
  for (int c = 0; c < 256; ++c) {
    EXPECT_EQ(MuLawEncode(MuLawDecode(static_cast<uint8_t>(c))), c) << c;
  }
}

TEST(MuLawTest, CodesAreOrderedByAmplitude) {
  int previous = 0;
  for (int i = -10000; i <= 10000; ++i) {
    const int code = MuLawEncode(i / 10000.0f);
    EXPECT_GE(code, previous) << i;
    previous = code;
  }
  for (int c = 1; c < 256; ++c) {
    EXPECT_LT(MuLawDecode(static_cast<uint8_t>(c - 1)),
              MuLawDecode(static_cast<uint8_t>(c)));
  }
}

TEST(MuLawTest, SampleRoundTripErrorIsWithinHalfAStep) {
  // Decode(Encode(x)) lies in the same companded interval as x: the error in
  // the companded domain is at most half a code step, 1/255.
  const double scale = std::log1p(255.0);
  for (int i = -1000; i <= 1000; ++i) {
    const float x = i / 1000.0f;
    const float back = MuLawDecode(MuLawEncode(x));
    const double yx = std::copysign(std::log1p(255.0 * std::fabs(x)), x);
    const double yb = std::copysign(std::log1p(255.0 * std::fabs(back)), back);
    EXPECT_LE(std::fabs(yx - yb) / scale, 1.0 / 255.0 + 1e-9) << x;
  }
}

TEST(MuLawTest, ClampsAndHandlesNaN) {
  EXPECT_EQ(MuLawEncode(-7.0f), 0);
  EXPECT_EQ(MuLawEncode(3.0f), 255);
  EXPECT_EQ(MuLawEncode(std::numeric_limits<float>::quiet_NaN()), 128);
  const float in[3] = {-1.0f, 0.0f, 1.0f};
  uint8_t out[3];
  MuLawEncode(in, 3, out);
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(out[1], 128);
  EXPECT_EQ(out[2], 255);
}

}  // namespace
}  // namespace datasets
}  // namespace st

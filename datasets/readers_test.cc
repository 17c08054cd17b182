// Format fixtures for every reader, written by the test in the exact layout
// of the real distributions (sizes shrunk where the reader takes a size).
#include <sndfile.h>
#include <zip.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "datasets/audio.h"
#include "datasets/cifar10.h"
#include "datasets/enwik8.h"
#include "datasets/file_util.h"
#include "datasets/imagenet64.h"
#include "datasets/mulaw.h"
#include "datasets/prepared.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sparse_transformer/core/png.h"

namespace st {
namespace datasets {
namespace {

using ::testing::HasSubstr;

std::string Tmp(const std::string& name) {
  const std::string dir = std::string(getenv("TEST_TMPDIR"));
  return JoinPath(dir, name);
}

void Write(const std::string& path, const std::string& bytes) {
  ASSERT_TRUE(WriteFile(path, bytes).ok()) << path;
}

// Writes a zip archive; members are stored or deflated.
void WriteZip(const std::string& path,
              const std::vector<std::pair<std::string, std::string>>& members,
              bool deflate) {
  int error = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  ASSERT_NE(z, nullptr);
  for (const auto& [name, bytes] : members) {
    zip_source_t* src = zip_source_buffer(z, bytes.data(), bytes.size(), 0);
    const zip_int64_t i = zip_file_add(z, name.c_str(), src, ZIP_FL_OVERWRITE);
    ASSERT_GE(i, 0);
    zip_set_file_compression(z, i, deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 9);
  }
  ASSERT_EQ(zip_close(z), 0);  // writes while `members` is alive
}

// --- enwik8 ---------------------------------------------------------------

std::string Enwik8Like(int64_t n) {
  std::string s;
  while (static_cast<int64_t>(s.size()) < n) {
    s += "<page><title>Anarchism</title><text>Anarchism is a political ";
  }
  return s.substr(0, n);
}

TEST(Enwik8Test, RawAndZipGiveTheSameSplits) {
  const std::string text = Enwik8Like(1000);
  Write(Tmp("enwik8"), text);
  WriteZip(Tmp("enwik8.zip"), {{"enwik8", text}}, /*deflate=*/true);
  for (const std::string& input : {Tmp("enwik8"), Tmp("enwik8.zip")}) {
    auto bytes = ReadEnwik8(input, 1000);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    EXPECT_EQ(*bytes, text);
    const std::string out = input + ".stp";
    ASSERT_TRUE(PrepareEnwik8(input, out, 1000).ok());
    auto file = PreparedFile::Open(out);
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_EQ((*file)->header().kind, Kind::kText);
    // 90% / 5% / 5% as the paper's 90M / 5M / 5M.
    EXPECT_EQ((*file)->header().split_examples,
              (std::array<int64_t, 3>{900, 50, 50}));
    const auto valid = (*file)->data(Split::kValid);
    EXPECT_EQ(std::string(valid.begin(), valid.end()), text.substr(900, 50));
    const auto test = (*file)->data(Split::kTest);
    EXPECT_EQ(std::string(test.begin(), test.end()), text.substr(950, 50));
  }
}

TEST(Enwik8Test, RefusesMissingAndWronglySizedFiles) {
  auto missing = ReadEnwik8(Tmp("no-enwik8"));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("no-enwik8: cannot open"));
  Write(Tmp("enwik8.short"), Enwik8Like(999));
  EXPECT_EQ(
      ReadEnwik8(Tmp("enwik8.short"), 1000).status().message(),
      Tmp("enwik8.short") + ": truncated: expected 1000 bytes, found 999");
  // The real size is the default: 10^8.
  EXPECT_EQ(
      ReadEnwik8(Tmp("enwik8.short")).status().message(),
      Tmp("enwik8.short") + ": truncated: expected 100000000 bytes, found 999");
  WriteZip(Tmp("long.zip"), {{"enwik8", Enwik8Like(1001)}}, true);
  EXPECT_EQ(
      ReadEnwik8(Tmp("long.zip"), 1000).status().message(),
      Tmp("long.zip") + ":enwik8: wrong size: expected 1000 bytes, found 1001");
  WriteZip(Tmp("other.zip"), {{"enwik9", Enwik8Like(1000)}}, true);
  EXPECT_THAT(ReadEnwik8(Tmp("other.zip"), 1000).status().message(),
              HasSubstr("no member 'enwik8' (has: enwik9)"));
  // A cut archive is refused, not read partially.
  auto zip = ReadFile(Tmp("enwik8.zip"));
  ASSERT_TRUE(zip.ok());
  Write(Tmp("cut.zip"), zip->substr(0, zip->size() / 2));
  EXPECT_FALSE(ReadEnwik8(Tmp("cut.zip"), 1000).ok());
}

// --- CIFAR-10 ---------------------------------------------------------------

// The byte of pixel (y, x) channel c of image r of batch b.
uint8_t CifarValue(int b, int r, int y, int x, int c) {
  return static_cast<uint8_t>(b * 31 + r * 7 + y * 5 + x * 3 + c * 101);
}

// A batch in the distributed layout: label byte, then R, G, B planes.
std::string CifarBatch(int b, int records) {
  std::string s;
  for (int r = 0; r < records; ++r) {
    s.push_back(static_cast<char>((b + r) % 10));
    for (int c = 0; c < 3; ++c) {
      for (int y = 0; y < 32; ++y) {
        for (int x = 0; x < 32; ++x) s.push_back(CifarValue(b, r, y, x, c));
      }
    }
  }
  return s;
}

TEST(Cifar10Test, BatchIsReadInRasterOrder) {
  Write(Tmp("data_batch_1.bin"), CifarBatch(1, 4));
  auto batch = ReadCifar10Batch(Tmp("data_batch_1.bin"), 4);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->size(), 4);
  EXPECT_EQ(batch->labels, (std::vector<int>{1, 2, 3, 4}));
  for (int r = 0; r < 4; ++r) {
    for (int y : {0, 13, 31}) {
      for (int x : {0, 7, 31}) {
        for (int c = 0; c < 3; ++c) {
          EXPECT_EQ(batch->pixels[((r * 32 + y) * 32 + x) * 3 + c],
                    CifarValue(1, r, y, x, c));
        }
      }
    }
  }
}

TEST(Cifar10Test, PreparedSplitHoldsOutTheLastTrainingImages) {
  const std::string dir = Tmp("cifar-10-batches-bin");
  ASSERT_TRUE(MakeDirs(dir).ok());
  for (int b = 1; b <= 5; ++b) {
    Write(JoinPath(dir, absl::StrCat("data_batch_", b, ".bin")),
          CifarBatch(b, 3));
  }
  Write(JoinPath(dir, "test_batch.bin"), CifarBatch(9, 3));
  // 15 training images: 11 train, 4 valid (as 48,000 / 2,000 of 50,000).
  {
    const absl::Status st = PrepareCifar10(dir, Tmp("cifar.stp"), 3, 4);
    ASSERT_TRUE(st.ok()) << st;
  }
  auto file = PreparedFile::Open(Tmp("cifar.stp"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->header().example_shape, (std::vector<int64_t>{32, 32, 3}));
  EXPECT_EQ((*file)->header().split_examples,
            (std::array<int64_t, 3>{11, 4, 3}));
  // valid[0] is image 2 of batch 4 (the 12th training image); test[2] is
  // image 2 of test_batch. Check pixel (5, 6), green.
  const auto valid = (*file)->data(Split::kValid);
  EXPECT_EQ(valid[(5 * 32 + 6) * 3 + 1], CifarValue(4, 2, 5, 6, 1));
  const auto test = (*file)->data(Split::kTest);
  EXPECT_EQ(test[2 * 3072 + (5 * 32 + 6) * 3 + 2], CifarValue(9, 2, 5, 6, 2));
}

TEST(Cifar10Test, RefusesBadBatches) {
  Write(Tmp("cut_batch.bin"), CifarBatch(1, 2).substr(0, 5000));
  EXPECT_EQ(
      ReadCifar10Batch(Tmp("cut_batch.bin"), 2).status().message(),
      Tmp("cut_batch.bin") + ": truncated: expected 6146 bytes, found 5000");
  EXPECT_EQ(ReadCifar10Batch(Tmp("cut_batch.bin")).status().message(),
            Tmp("cut_batch.bin") +
                ": truncated: expected 30730000 bytes, found 5000");
  std::string bad = CifarBatch(1, 2);
  bad[3073] = 10;  // label of record 1
  Write(Tmp("bad_label.bin"), bad);
  EXPECT_THAT(ReadCifar10Batch(Tmp("bad_label.bin"), 2).status().message(),
              HasSubstr("record 1 has label 10"));
  const std::string dir = Tmp("cifar-missing");
  ASSERT_TRUE(MakeDirs(dir).ok());
  const absl::Status s = PrepareCifar10(dir, Tmp("never.stp"), 3, 4);
  EXPECT_THAT(s.message(), HasSubstr("data_batch_1.bin: cannot open"));
  EXPECT_FALSE(FileSize(Tmp("never.stp")).ok());
}

// --- ImageNet 64x64 -----------------------------------------------------

uint8_t ImagenetValue(int i, int y, int x, int c) {
  return static_cast<uint8_t>(i * 17 + y * 3 + x * 5 + c * 71);
}

std::string NpyHeader(const std::string& descr, const std::string& shape) {
  std::string dict = "{'descr': '" + descr +
                     "', 'fortran_order': False, 'shape': " + shape + ", }";
  // numpy pads the header with spaces to a multiple of 64, ending in '\n'.
  while ((10 + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>(dict.size() >> 8);
  return out + dict;
}

// `n` images as numpy's uint8 [n, 12288] rows of R, G, B planes.
std::string ImagenetNpy(int n) {
  std::string s = NpyHeader("|u1", absl::StrCat("(", n, ", 12288)"));
  for (int i = 0; i < n; ++i) {
    for (int c = 0; c < 3; ++c) {
      for (int y = 0; y < 64; ++y) {
        for (int x = 0; x < 64; ++x) s.push_back(ImagenetValue(i, y, x, c));
      }
    }
  }
  return s;
}

std::string LabelsNpy(const std::vector<int64_t>& labels) {
  std::string s = NpyHeader("<i8", absl::StrCat("(", labels.size(), ",)"));
  s.append(reinterpret_cast<const char*>(labels.data()), labels.size() * 8);
  return s;
}

void ExpectImagenetPixels(const std::vector<uint8_t>& px, int first, int n) {
  ASSERT_EQ(px.size(), static_cast<size_t>(n) * 12288);
  for (int i = 0; i < n; ++i) {
    for (int y : {0, 31, 63}) {
      for (int x : {0, 40, 63}) {
        for (int c = 0; c < 3; ++c) {
          EXPECT_EQ(px[i * 12288 + (y * 64 + x) * 3 + c],
                    ImagenetValue(first + i, y, x, c));
        }
      }
    }
  }
}

TEST(Imagenet64Test, NpzBatchesStoredOrDeflated) {
  const std::string data = ImagenetNpy(3);
  const std::string labels = LabelsNpy({5, 1000, 7});
  WriteZip(Tmp("train_data_batch_1.npz"),
           {{"data.npy", data}, {"labels.npy", labels}},
           /*deflate=*/false);
  WriteZip(Tmp("val_data.npz"), {{"data.npy", data}, {"labels.npy", labels}},
           /*deflate=*/true);
  for (const std::string& path :
       {Tmp("train_data_batch_1.npz"), Tmp("val_data.npz")}) {
    auto images = ReadImagenet64Npz(path);
    ASSERT_TRUE(images.ok()) << images.status();
    EXPECT_EQ(images->size(), 3);
    EXPECT_EQ(images->labels, (std::vector<int>{5, 1000, 7}));
    ExpectImagenetPixels(images->pixels, 0, 3);
  }
  ASSERT_TRUE(PrepareImagenet64({Tmp("train_data_batch_1.npz"),
                                 Tmp("train_data_batch_1.npz")},
                                {Tmp("val_data.npz")}, Tmp("imagenet.stp"))
                  .ok());
  auto file = PreparedFile::Open(Tmp("imagenet.stp"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->header().split_examples,
            (std::array<int64_t, 3>{6, 3, 0}));
  EXPECT_EQ((*file)->header().example_shape, (std::vector<int64_t>{64, 64, 3}));
}

TEST(Imagenet64Test, NpyHeaderAndSizeChecks) {
  auto parsed = ParseNpy("x.npy", LabelsNpy({1, 2}));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->dtype, "<i8");
  EXPECT_EQ(parsed->shape, (std::vector<int64_t>{2}));
  std::string cut = ImagenetNpy(2);
  cut.resize(cut.size() - 100);
  EXPECT_EQ(ParseNpy("cut.npy", cut).status().message(),
            "cut.npy: truncated: npy data of shape (2, 12288) needs 24576 "
            "bytes, found 24476");
  EXPECT_THAT(ParseNpy("bad.npy", "NUMPY!!!!!!!").status().message(),
              HasSubstr("wrong magic"));
  // The wrong row size or dtype is refused by the ImageNet reader.
  WriteZip(
      Tmp("gray.npz"),
      {{"data.npy", NpyHeader("|u1", "(1, 4096)") + std::string(4096, 'a')}},
      true);
  EXPECT_THAT(ReadImagenet64Npz(Tmp("gray.npz")).status().message(),
              HasSubstr("expected uint8 (|u1) rows of 12288"));
  EXPECT_THAT(ReadImagenet64Npz(Tmp("nothing.npz")).status().message(),
              HasSubstr("nothing.npz: cannot open"));
}

TEST(Imagenet64Test, PngFolder) {
  const std::string dir = Tmp("valid_64x64");
  ASSERT_TRUE(MakeDirs(dir).ok());
  for (int i = 0; i < 2; ++i) {
    Image image;
    image.width = image.height = 64;
    image.channels = 3;
    for (int y = 0; y < 64; ++y) {
      for (int x = 0; x < 64; ++x) {
        for (int c = 0; c < 3; ++c)
          image.pixels.push_back(ImagenetValue(i, y, x, c));
      }
    }
    ASSERT_TRUE(
        WritePng(JoinPath(dir, absl::StrCat("0000", i, ".png")), image).ok());
  }
  auto images = ReadImagenet64PngFolder(dir);
  ASSERT_TRUE(images.ok()) << images.status();
  ExpectImagenetPixels(images->pixels, 0, 2);
  // A folder for train and the npz batch for valid.
  WriteZip(Tmp("val.npz"), {{"data.npy", ImagenetNpy(1)}}, true);
  {
    const absl::Status st =
        PrepareImagenet64({dir}, {Tmp("val.npz")}, Tmp("png.stp"));
    ASSERT_TRUE(st.ok()) << st;
  }
  auto file = PreparedFile::Open(Tmp("png.stp"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->header().split_examples,
            (std::array<int64_t, 3>{2, 1, 0}));
  const auto train = (*file)->data(Split::kTrain);
  ExpectImagenetPixels(std::vector<uint8_t>(train.begin(), train.end()), 0, 2);

  Image small;
  small.width = small.height = 32;
  small.channels = 3;
  small.pixels.resize(32 * 32 * 3);
  ASSERT_TRUE(WritePng(JoinPath(dir, "00002.png"), small).ok());
  EXPECT_EQ(ReadImagenet64PngFolder(dir).status().message(),
            JoinPath(dir, "00002.png") +
                ": expected a 64x64 RGB image, found 32x32 with 3 channels");
}

// --- Audio ------------------------------------------------------------------

// Writes `frames` frames of `channels` interleaved samples with libsndfile.
void WriteSound(const std::string& path, int format, int rate, int channels,
                const std::vector<float>& interleaved) {
  SF_INFO info;
  std::memset(&info, 0, sizeof(info));
  info.samplerate = rate;
  info.channels = channels;
  info.format = format;
  SNDFILE* sf = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(sf, nullptr) << sf_strerror(nullptr);
  const sf_count_t frames = interleaved.size() / channels;
  ASSERT_EQ(sf_writef_float(sf, interleaved.data(), frames), frames);
  sf_close(sf);
}

std::vector<float> Sine(double hz, int rate, double seconds, double amp) {
  std::vector<float> s(static_cast<size_t>(rate * seconds));
  for (size_t i = 0; i < s.size(); ++i) {
    s[i] = static_cast<float>(amp * std::sin(2 * M_PI * hz * i / rate));
  }
  return s;
}

int SignChanges(const std::vector<uint8_t>& codes) {
  int changes = 0;
  for (size_t i = 1; i < codes.size(); ++i) {
    changes += (codes[i - 1] >= 128) != (codes[i] >= 128);
  }
  return changes;
}

TEST(AudioTest, WavStereoSixteenBitAtTwelveKilohertzIsExact) {
  // L = 0.5, R = -0.25 in 16-bit PCM: mono 0.125, no resampling at 12 kHz.
  std::vector<float> frames;
  for (int i = 0; i < 100; ++i) {
    frames.push_back(0.5f);
    frames.push_back(-0.25f);
  }
  WriteSound(Tmp("stereo.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_16, 12000, 2,
             frames);
  auto decoded = DecodeAudio(Tmp("stereo.wav"));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->sample_rate, 12000);
  EXPECT_EQ(decoded->channels, 2);
  ASSERT_EQ(decoded->mono.size(), 100u);
  EXPECT_FLOAT_EQ(decoded->mono[50], 0.125f);
  auto codes = LoadMuLaw12k(Tmp("stereo.wav"));
  ASSERT_TRUE(codes.ok());
  // y = ln(1 + 31.875) / ln 256 = 0.62962, code = round(207.78) = 208.
  EXPECT_EQ(MuLawEncode(0.125f), 208);
  EXPECT_EQ(*codes, std::vector<uint8_t>(100, 208));
}

TEST(AudioTest, WavDepthsAndRatesResampleToTwelveKilohertz) {
  // A 1 kHz tone for 0.5 s at 48 kHz: 6000 samples at 12 kHz with 1000 sign
  // changes, whatever the sample format.
  const std::vector<float> tone = Sine(1000.0, 48000, 0.5, 0.5);
  for (int subtype : {SF_FORMAT_PCM_U8, SF_FORMAT_PCM_16, SF_FORMAT_PCM_24,
                      SF_FORMAT_PCM_32, SF_FORMAT_FLOAT}) {
    const std::string path = Tmp(absl::StrCat("tone_", subtype, ".wav"));
    WriteSound(path, SF_FORMAT_WAV | subtype, 48000, 1, tone);
    auto codes = LoadMuLaw12k(path);
    ASSERT_TRUE(codes.ok()) << codes.status();
    EXPECT_NEAR(static_cast<double>(codes->size()), 6000, 2) << subtype;
    EXPECT_NEAR(SignChanges(*codes), 1000, 6) << subtype;
    // Peak 0.5: code of 0.5 is 240; the resampled peak is within a code.
    const uint8_t peak = *std::max_element(codes->begin(), codes->end());
    EXPECT_NEAR(peak, MuLawEncode(0.5f), 1) << subtype;
  }
}

TEST(AudioTest, OggVorbisDecodesDeterministically) {
  const std::vector<float> tone = Sine(440.0, 44100, 1.0, 0.4);
  WriteSound(Tmp("tone.ogg"), SF_FORMAT_OGG | SF_FORMAT_VORBIS, 44100, 1, tone);
  auto a = LoadMuLaw12k(Tmp("tone.ogg"));
  auto b = LoadMuLaw12k(Tmp("tone.ogg"));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NEAR(static_cast<double>(a->size()), 12000, 3);
  EXPECT_NEAR(SignChanges(*a), 880, 10);
}

TEST(AudioTest, RefusesTruncatedAndMissingFiles) {
  WriteSound(Tmp("full.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1,
             Sine(300, 8000, 0.25, 0.3));
  auto wav = ReadFile(Tmp("full.wav"));
  ASSERT_TRUE(wav.ok());
  Write(Tmp("cut.wav"), wav->substr(0, wav->size() - 1000));
  EXPECT_EQ(DecodeAudio(Tmp("cut.wav")).status().message(),
            absl::StrCat(Tmp("cut.wav"), ": truncated: expected ", wav->size(),
                         " bytes, found ", wav->size() - 1000));

  auto ogg = ReadFile(Tmp("tone.ogg"));
  if (!ogg.ok()) {
    WriteSound(Tmp("tone.ogg"), SF_FORMAT_OGG | SF_FORMAT_VORBIS, 44100, 1,
               Sine(440.0, 44100, 1.0, 0.4));
    ogg = ReadFile(Tmp("tone.ogg"));
  }
  ASSERT_TRUE(ogg.ok());
  Write(Tmp("cut.ogg"), ogg->substr(0, ogg->size() * 2 / 3));
  const absl::Status s = DecodeAudio(Tmp("cut.ogg")).status();
  EXPECT_THAT(std::string(s.message()),
              HasSubstr(Tmp("cut.ogg") + ": truncated"));

  EXPECT_THAT(DecodeAudio(Tmp("none.wav")).status().message(),
              HasSubstr("none.wav: cannot open"));
  Write(Tmp("noise.wav"), "this is not audio");
  EXPECT_THAT(DecodeAudio(Tmp("noise.wav")).status().message(),
              HasSubstr("noise.wav: cannot decode audio"));
}

TEST(AudioTest, TracksAreSplitWhole) {
  const std::string dir = Tmp("music");
  ASSERT_TRUE(MakeDirs(dir).ok());
  std::vector<std::string> tracks;
  for (int t = 0; t < 5; ++t) {
    const std::string path = JoinPath(dir, absl::StrCat("track", t, ".wav"));
    // Track t is 100 * (t + 1) samples long at 12 kHz.
    WriteSound(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 12000, 1,
               std::vector<float>(100 * (t + 1), 0.01f * t));
    tracks.push_back(path);
  }
  auto listed = ListAudioFiles(dir);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(*listed, tracks);
  ASSERT_TRUE(PrepareAudioTracks(tracks, Tmp("music.stp"), 3, "test\n").ok());
  auto file = PreparedFile::Open(Tmp("music.stp"));
  ASSERT_TRUE(file.ok()) << file.status();
  const auto& h = (*file)->header();
  EXPECT_EQ(h.kind, Kind::kAudio);
  // 5 tracks: 3 train, 1 valid, 1 test; every split is whole tracks, each of
  // one constant code, so its size is a sum of track lengths.
  int64_t total = 0;
  for (int s = 0; s < 3; ++s) {
    const auto data = (*file)->data(static_cast<Split>(s));
    total += data.size();
    EXPECT_EQ(data.size() % 100, 0u);
  }
  EXPECT_EQ(total, 1500);
  EXPECT_THAT(h.provenance, HasSubstr("track valid"));
  // Rebuilding gives the same bytes.
  ASSERT_TRUE(PrepareAudioTracks(tracks, Tmp("music2.stp"), 3, "test\n").ok());
  EXPECT_EQ(*ReadFile(Tmp("music.stp")), *ReadFile(Tmp("music2.stp")));
}

}  // namespace
}  // namespace datasets
}  // namespace st

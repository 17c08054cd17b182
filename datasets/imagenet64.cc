#include "datasets/imagenet64.h"

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "datasets/file_util.h"
#include "datasets/prepared.h"
#include "datasets/zip_reader.h"
#include "sparse_transformer/core/png.h"
#include "sparse_transformer/core/status.h"

namespace st {
namespace datasets {
namespace {

// The value text after `'key':` in a numpy header dict, up to its end.
absl::StatusOr<std::string> HeaderField(const std::string& name,
                                        const std::string& header,
                                        const std::string& key) {
  const std::string quoted = absl::StrCat("'", key, "':");
  const size_t at = header.find(quoted);
  if (at == std::string::npos) {
    return absl::DataLossError(
        absl::StrCat(name, ": npy header has no '", key, "': ", header));
  }
  std::string rest = header.substr(at + quoted.size());
  absl::StripLeadingAsciiWhitespace(&rest);
  size_t end;
  if (!rest.empty() && rest[0] == '(') {
    end = rest.find(')') + 1;
  } else if (!rest.empty() && rest[0] == '\'') {
    end = rest.find('\'', 1) + 1;
  } else {
    end = rest.find_first_of(",}");
  }
  if (end == std::string::npos || end == 0) {
    return absl::DataLossError(
        absl::StrCat(name, ": malformed npy header field '", key, "'"));
  }
  return rest.substr(0, end);
}

int64_t ItemSize(const std::string& dtype) {
  int64_t size = 0;
  if (dtype.size() < 3 || !absl::SimpleAtoi(dtype.substr(2), &size)) return 0;
  return size;
}

}  // namespace

absl::StatusOr<NpyArray> ParseNpy(const std::string& name,
                                  const std::string& bytes) {
  static const char kMagic[] = "\x93NUMPY";
  if (bytes.size() < 10 || bytes.compare(0, 6, kMagic, 6) != 0) {
    return absl::DataLossError(
        absl::StrCat(name, ": not an npy array (wrong magic)"));
  }
  const int major = static_cast<uint8_t>(bytes[6]);
  size_t header_len, header_at;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) |
                 (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
    header_at = 10;
  } else if ((major == 2 || major == 3) && bytes.size() >= 12) {
    uint32_t len;
    std::memcpy(&len, bytes.data() + 8, 4);
    header_len = len;
    header_at = 12;
  } else {
    return absl::DataLossError(
        absl::StrCat(name, ": unsupported npy version ", major));
  }
  if (header_at + header_len > bytes.size()) {
    return SizeError(name, header_at + header_len, bytes.size());
  }
  const std::string header = bytes.substr(header_at, header_len);
  NpyArray out;
  const absl::StatusOr<std::string> descr = HeaderField(name, header, "descr");
  if (!descr.ok()) return descr.status();
  // The quotes are part of the field text: 'u1' -> u1.
  out.dtype = descr->size() >= 2 ? descr->substr(1, descr->size() - 2) : "";
  ST_ASSIGN_OR_RETURN(const std::string fortran,
                      HeaderField(name, header, "fortran_order"));
  out.fortran_order = fortran == "True";
  const absl::StatusOr<std::string> shape_field =
      HeaderField(name, header, "shape");
  if (!shape_field.ok()) return shape_field.status();
  // "(2, 12288)" -> "2, 12288"
  const std::string shape =
      shape_field->size() >= 2 ? shape_field->substr(1, shape_field->size() - 2)
                               : "";
  int64_t count = 1;
  for (absl::string_view dim :
       absl::StrSplit(shape, ',', absl::SkipWhitespace())) {
    int64_t d;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(dim), &d) || d < 0) {
      return absl::DataLossError(
          absl::StrCat(name, ": bad npy shape (", shape, ")"));
    }
    out.shape.push_back(d);
    count *= d;
  }
  const int64_t item = ItemSize(out.dtype);
  if (item <= 0) {
    return absl::DataLossError(
        absl::StrCat(name, ": unsupported npy dtype '", out.dtype, "'"));
  }
  const int64_t expected = count * item;
  const int64_t found =
      static_cast<int64_t>(bytes.size() - header_at - header_len);
  if (found != expected) {
    return absl::DataLossError(
        absl::StrCat(name, found < expected ? ": truncated" : ": wrong size",
                     ": npy data of shape (", shape, ") needs ", expected,
                     " bytes, found ", found));
  }
  out.data = bytes.substr(header_at + header_len);
  return out;
}

absl::StatusOr<NpyArray> ReadNpzArray(const std::string& npz_path,
                                      const std::string& array) {
  const std::string member = array + ".npy";
  ST_ASSIGN_OR_RETURN(const std::string bytes, ReadZipMember(npz_path, member));
  return ParseNpy(absl::StrCat(npz_path, ":", member), bytes);
}

absl::StatusOr<LabeledImages> ReadImagenet64Npz(const std::string& path) {
  ST_ASSIGN_OR_RETURN(const NpyArray data, ReadNpzArray(path, "data"));
  const std::string name = path + ":data.npy";
  if (data.dtype != "|u1" || data.fortran_order || data.shape.size() != 2 ||
      data.shape[1] != kImagenetRowBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": expected uint8 (|u1) rows of ", kImagenetRowBytes,
                     " in C order, found dtype ", data.dtype, " shape (",
                     absl::StrJoin(data.shape, ", "), ")",
                     data.fortran_order ? " in Fortran order" : ""));
  }
  LabeledImages out;
  out.height = out.width = kImagenetSide;
  out.channels = 3;
  const int64_t n = data.shape[0];
  out.pixels.resize(n * kImagenetRowBytes);
  const auto* in = reinterpret_cast<const uint8_t*>(data.data.data());
  for (int64_t i = 0; i < n; ++i) {
    PlanarToInterleaved(in + i * kImagenetRowBytes, kImagenetSide,
                        kImagenetSide, 3,
                        out.pixels.data() + i * kImagenetRowBytes);
  }
  // Labels are optional for generative modelling; read them when present.
  auto labels = ReadNpzArray(path, "labels");
  if (labels.ok() && labels->shape.size() == 1 && labels->shape[0] == n) {
    const int64_t item = ItemSize(labels->dtype);
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = 0;
      std::memcpy(&v, labels->data.data() + i * item,
                  std::min<int64_t>(item, 8));
      out.labels.push_back(static_cast<int>(v));
    }
  }
  return out;
}

absl::StatusOr<LabeledImages> ReadImagenet64PngFiles(
    const std::vector<std::string>& files) {
  LabeledImages out;
  out.height = out.width = kImagenetSide;
  out.channels = 3;
  out.pixels.reserve(files.size() * kImagenetRowBytes);
  for (const std::string& file : files) {
    ST_ASSIGN_OR_RETURN(const Image image, ReadPng(file));
    if (image.width != kImagenetSide || image.height != kImagenetSide ||
        image.channels != 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          file, ": expected a 64x64 RGB image, found ", image.width, "x",
          image.height, " with ", image.channels, " channels"));
    }
    out.pixels.insert(out.pixels.end(), image.pixels.begin(),
                      image.pixels.end());
  }
  return out;
}

absl::StatusOr<LabeledImages> ReadImagenet64PngFolder(const std::string& dir) {
  ST_ASSIGN_OR_RETURN(const std::vector<std::string> files,
                      ListFiles(dir, {".png"}));
  if (files.empty()) {
    return absl::NotFoundError(absl::StrCat(dir, ": no .png files"));
  }
  return ReadImagenet64PngFiles(files);
}

absl::Status PrepareImagenet64(const std::vector<std::string>& train,
                               const std::vector<std::string>& valid,
                               const std::string& out) {
  if (train.empty() || valid.empty()) {
    return absl::InvalidArgumentError(
        "imagenet64: needs at least one train and one valid source");
  }
  // Check that every source exists before the long conversion starts.
  for (const auto* list : {&train, &valid}) {
    for (const std::string& source : *list) {
      if (!absl::EndsWith(source, ".npz")) continue;
      ST_ASSIGN_OR_RETURN(const int64_t size, FileSize(source));
      (void)size;
    }
  }
  const std::string provenance = absl::StrCat(
      "dataset: imagenet64 (downsampled ImageNet 64x64)\ntrain: ",
      absl::StrJoin(train, ", "), "\nvalid: ", absl::StrJoin(valid, ", "),
      "\ntest: none (the paper evaluates on valid)\n"
      "layout: raster order [64, 64, 3]\n");
  ST_ASSIGN_OR_RETURN(
      auto writer,
      PreparedWriter::Create(out, Kind::kImage, {64, 64, 3}, provenance));
  for (const Split split : {Split::kTrain, Split::kValid}) {
    for (const std::string& source : split == Split::kTrain ? train : valid) {
      if (absl::EndsWith(source, ".npz")) {
        ST_ASSIGN_OR_RETURN(const LabeledImages images,
                            ReadImagenet64Npz(source));
        ST_RETURN_IF_ERROR(writer->Append(split, images.pixels));
        continue;
      }
      // A PNG folder (1.28M files for train) is read in chunks.
      ST_ASSIGN_OR_RETURN(const std::vector<std::string> files,
                          ListFiles(source, {".png"}));
      if (files.empty()) {
        return absl::NotFoundError(absl::StrCat(source, ": no .png files"));
      }
      constexpr size_t kChunk = 10000;
      for (size_t i = 0; i < files.size(); i += kChunk) {
        const std::vector<std::string> chunk(
            files.begin() + i,
            files.begin() + std::min(files.size(), i + kChunk));
        ST_ASSIGN_OR_RETURN(const LabeledImages images,
                            ReadImagenet64PngFiles(chunk));
        ST_RETURN_IF_ERROR(writer->Append(split, images.pixels));
      }
    }
  }
  return writer->Finish();
}

}  // namespace datasets
}  // namespace st

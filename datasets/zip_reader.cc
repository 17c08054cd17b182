#include "datasets/zip_reader.h"

#include <zip.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace st {
namespace datasets {
namespace {

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
using Zip = std::unique_ptr<zip_t, ZipCloser>;

absl::StatusOr<Zip> OpenZip(const std::string& path) {
  int error = 0;
  // ZIP_CHECKCONS: also check the central directory against the file size,
  // which catches truncated archives up front.
  zip_t* z = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &error);
  if (z == nullptr) {
    zip_error_t e;
    zip_error_init_with_code(&e, error);
    const std::string what = zip_error_strerror(&e);
    zip_error_fini(&e);
    if (error == ZIP_ER_NOENT || error == ZIP_ER_OPEN) {
      return absl::NotFoundError(
          absl::StrCat(path, ": cannot open (", what, ")"));
    }
    return absl::DataLossError(
        absl::StrCat(path, ": not a readable zip archive (", what, ")"));
  }
  return Zip(z);
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ListZipMembers(
    const std::string& zip_path) {
  auto z = OpenZip(zip_path);
  if (!z.ok()) return z.status();
  const zip_int64_t n = zip_get_num_entries(z->get(), 0);
  std::vector<std::string> names;
  for (zip_int64_t i = 0; i < n; ++i) {
    names.push_back(zip_get_name(z->get(), i, 0));
  }
  return names;
}

absl::StatusOr<std::string> ReadZipMember(const std::string& zip_path,
                                          const std::string& member) {
  auto z = OpenZip(zip_path);
  if (!z.ok()) return z.status();
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat(z->get(), member.c_str(), 0, &st) != 0 ||
      !(st.valid & ZIP_STAT_SIZE)) {
    std::vector<std::string> names;
    const zip_int64_t n = zip_get_num_entries(z->get(), 0);
    for (zip_int64_t i = 0; i < n && i < 20; ++i) {
      names.push_back(zip_get_name(z->get(), i, 0));
    }
    return absl::NotFoundError(
        absl::StrCat(zip_path, ": no member '", member,
                     "' (has: ", absl::StrJoin(names, ", "), ")"));
  }
  zip_file_t* f = zip_fopen(z->get(), member.c_str(), 0);
  if (f == nullptr) {
    return absl::DataLossError(absl::StrCat(zip_path, ": cannot read member '",
                                            member, "' (",
                                            zip_strerror(z->get()), ")"));
  }
  std::string bytes(static_cast<size_t>(st.size), '\0');
  zip_uint64_t done = 0;
  while (done < st.size) {
    const zip_int64_t r = zip_fread(f, bytes.data() + done, st.size - done);
    if (r <= 0) break;
    done += static_cast<zip_uint64_t>(r);
  }
  // One more read checks the CRC at the end of the member.
  char extra;
  const zip_int64_t tail = done == st.size ? zip_fread(f, &extra, 1) : -1;
  const std::string error = zip_file_strerror(f);
  zip_fclose(f);
  if (done != st.size || tail != 0) {
    return absl::DataLossError(absl::StrCat(
        zip_path, ": member '", member, "' truncated or corrupt: expected ",
        st.size, " bytes, read ", done, " (", error, ")"));
  }
  return bytes;
}

}  // namespace datasets
}  // namespace st

#include "datasets/file_util.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace st {
namespace datasets {

absl::Status SizeError(const std::string& path, int64_t expected,
                       int64_t found) {
  return absl::DataLossError(
      absl::StrCat(path, found < expected ? ": truncated" : ": wrong size",
                   ": expected ", expected, " bytes, found ", found));
}

absl::StatusOr<int64_t> FileSize(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open (", std::strerror(errno), ")"));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file"));
  }
  return static_cast<int64_t>(st.st_size);
}

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     int64_t expected_size) {
  auto size = FileSize(path);
  if (!size.ok()) return size.status();
  if (expected_size >= 0 && *size != expected_size) {
    return SizeError(path, expected_size, *size);
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open (", std::strerror(errno), ")"));
  }
  std::string bytes(static_cast<size_t>(*size), '\0');
  const size_t got = std::fread(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  if (got != bytes.size()) return SizeError(path, *size, got);
  return bytes;
}

absl::Status WriteFile(const std::string& path, const std::string& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open for writing (",
                                            std::strerror(errno), ")"));
  }
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  if (std::fclose(f) != 0 || !ok) {
    return absl::InternalError(absl::StrCat(path, ": write failed"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ListFiles(
    const std::string& dir, const std::vector<std::string>& suffixes) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return absl::NotFoundError(absl::StrCat(dir, ": cannot open directory (",
                                            std::strerror(errno), ")"));
  }
  std::vector<std::string> out;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    const std::string lower = absl::AsciiStrToLower(name);
    bool match = false;
    for (const std::string& s : suffixes) {
      match |= absl::EndsWith(lower, absl::AsciiStrToLower(s));
    }
    if (!match) continue;
    const std::string path = JoinPath(dir, name);
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      out.push_back(path);
    }
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::vector<std::string>> ListFilesRecursive(
    const std::string& dir, const std::vector<std::string>& suffixes) {
  std::vector<std::string> out;
  std::vector<std::string> pending = {dir};
  while (!pending.empty()) {
    const std::string current = pending.back();
    pending.pop_back();
    DIR* d = opendir(current.c_str());
    if (d == nullptr) {
      return absl::NotFoundError(absl::StrCat(
          current, ": cannot open directory (", std::strerror(errno), ")"));
    }
    while (const dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      const std::string path = JoinPath(current, name);
      struct stat st;
      if (stat(path.c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        pending.push_back(path);
        continue;
      }
      const std::string lower = absl::AsciiStrToLower(name);
      for (const std::string& s : suffixes) {
        if (S_ISREG(st.st_mode) &&
            absl::EndsWith(lower, absl::AsciiStrToLower(s))) {
          out.push_back(path);
          break;
        }
      }
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status MakeDirs(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      const std::string prefix = dir.substr(0, i);
      if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
        return absl::InternalError(absl::StrCat(
            prefix, ": cannot create directory (", std::strerror(errno), ")"));
      }
    }
  }
  return absl::OkStatus();
}

std::string Basename(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string JoinPath(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  return a.back() == '/' ? a + b : a + "/" + b;
}

uint64_t Fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace datasets
}  // namespace st

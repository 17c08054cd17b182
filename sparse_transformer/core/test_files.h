// Files in tests: paths under the test's temporary folder (TEST_TMPDIR under
// Bazel) and whole-file reads. Test-only.
#ifndef SPARSE_TRANSFORMER_CORE_TEST_FILES_H_
#define SPARSE_TRANSFORMER_CORE_TEST_FILES_H_

#include <string>

namespace st::test {

// `name` under the test's temporary folder (nothing is created or removed).
std::string TempPath(const std::string& name);

// An empty directory `name` under the test's temporary folder (removed and
// created again).
std::string FreshTempDir(const std::string& name);

// The whole file as bytes; "" if it cannot be read.
std::string ReadFile(const std::string& path);

}  // namespace st::test

#endif  // SPARSE_TRANSFORMER_CORE_TEST_FILES_H_

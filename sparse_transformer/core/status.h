// Error handling shared by every library of the project.
//
// Library code returns absl::Status / absl::StatusOr and never exits; binaries
// print one line for bad input and exit non-zero (see ExitOnError).
#ifndef SPARSE_TRANSFORMER_CORE_STATUS_H_
#define SPARSE_TRANSFORMER_CORE_STATUS_H_

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define ST_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status st_status_ = (expr);      \
    if (!st_status_.ok()) return st_status_; \
  } while (0)

#define ST_CONCAT_INNER_(a, b) a##b
#define ST_CONCAT_(a, b) ST_CONCAT_INNER_(a, b)

// `ST_ASSIGN_OR_RETURN(auto x, MakeX());` assigns the value of an
// absl::StatusOr or returns its error from the enclosing function.
#define ST_ASSIGN_OR_RETURN(lhs, expr)                             \
  auto ST_CONCAT_(st_statusor_, __LINE__) = (expr);                \
  if (!ST_CONCAT_(st_statusor_, __LINE__).ok())                    \
    return std::move(ST_CONCAT_(st_statusor_, __LINE__)).status(); \
  lhs = std::move(ST_CONCAT_(st_statusor_, __LINE__)).value()

namespace st {

// For binaries only: prints "error: <message>" on one line and exits 1.
inline void ExitOnError(const absl::Status& status) {
  if (status.ok()) return;
  std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
  std::exit(1);
}

}  // namespace st

#endif  // SPARSE_TRANSFORMER_CORE_STATUS_H_

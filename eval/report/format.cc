#include "eval/report/format.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace st::report {

std::string HumanCount(int64_t n) {
  const double v = static_cast<double>(n);
  // Thresholds just below each unit, so 999,999 reads "1M", not "1e+03k".
  if (v >= 999.5e6) return absl::StrFormat("%.3gB", v / 1e9);
  if (v >= 999.5e3) return absl::StrFormat("%.3gM", v / 1e6);
  if (v >= 999.5) return absl::StrFormat("%.3gk", v / 1e3);
  return absl::StrCat(n);
}

std::string MarkdownCell(absl::string_view text) {
  return absl::StrReplaceAll(text, {{"|", "\\|"}, {"\n", " "}, {"\r", ""}});
}

std::string MarkdownRow(const std::vector<std::string>& cells) {
  return absl::StrCat("| ", absl::StrJoin(cells, " | "), " |\n");
}

std::string MarkdownHeader(const std::vector<std::string>& names) {
  return absl::StrCat(MarkdownRow(names), MarkdownRow(std::vector<std::string>(
                                              names.size(), "---")));
}

}  // namespace st::report

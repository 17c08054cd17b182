// Small text helpers shared by the Markdown reports.
#ifndef SPARSE_TRANSFORMER_EVAL_REPORT_FORMAT_H_
#define SPARSE_TRANSFORMER_EVAL_REPORT_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace st::report {

// Three significant digits with a unit: 590000 -> "590k", 59000000 -> "59M",
// 1234567 -> "1.23M", 999999 -> "1M", 42 -> "42".
std::string HumanCount(int64_t n);

// `text` safe inside a Markdown table cell: '|' escaped, line breaks spaces.
std::string MarkdownCell(absl::string_view text);

// "| a | b |\n".
std::string MarkdownRow(const std::vector<std::string>& cells);

// The header row and its "| --- |" rule.
std::string MarkdownHeader(const std::vector<std::string>& names);

}  // namespace st::report

#endif  // SPARSE_TRANSFORMER_EVAL_REPORT_FORMAT_H_

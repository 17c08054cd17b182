// CRC-32C (Castagnoli) and the masked form that TFRecord framing stores.
#ifndef SPARSE_TRANSFORMER_EVAL_REPORT_CRC32C_H_
#define SPARSE_TRANSFORMER_EVAL_REPORT_CRC32C_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace st::report {

// CRC-32C of `data` (reflected polynomial 0x82F63B78, initial value and final
// xor 0xFFFFFFFF): Crc32c("123456789") == 0xE3069283.
uint32_t Crc32c(absl::string_view data);

// Continues a CRC: Crc32cExtend(Crc32c(a), b) == Crc32c(a + b).
uint32_t Crc32cExtend(uint32_t crc, absl::string_view data);

// TFRecord stores CRCs masked, because a CRC of bytes that themselves hold a
// CRC is weak: rotate right by 15 and add 0xa282ead8 (mod 2^32).
uint32_t MaskCrc(uint32_t crc);
uint32_t UnmaskCrc(uint32_t masked);

}  // namespace st::report

#endif  // SPARSE_TRANSFORMER_EVAL_REPORT_CRC32C_H_

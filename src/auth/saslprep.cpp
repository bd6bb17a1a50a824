// SASLprep subset for SCRAM passwords: UTF-8 decoding, RFC 3454 mapping and prohibition tables.
#include "pgfunnel/auth/saslprep.hpp"

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

namespace pgfunnel::auth {
namespace {

struct range {
  char32_t first;
  char32_t last;
};

// RFC 3454 C.1.2, non-ASCII space characters (mapped to U+0020). U+200B is in both C.1.2 and B.1;
// PostgreSQL checks this table first, so U+200B becomes a space, and so it does here.
constexpr range non_ascii_space[] = {
    {0x00A0, 0x00A0}, {0x1680, 0x1680}, {0x2000, 0x200B},
    {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000},
};

// RFC 3454 B.1, commonly mapped to nothing.
constexpr range mapped_to_nothing[] = {
    {0x00AD, 0x00AD}, {0x034F, 0x034F}, {0x1806, 0x1806}, {0x180B, 0x180D},
    {0x200B, 0x200D}, {0x2060, 0x2060}, {0xFE00, 0xFE0F}, {0xFEFF, 0xFEFF},
};

// RFC 3454 C.2.1 - C.9 (C.1.2 is mapped away before this check, C.1.1 is U+0020 itself, allowed).
constexpr range prohibited[] = {
    {0x0000, 0x001F}, {0x007F, 0x009F},                                       // C.2.1, C.2.2
    {0x0340, 0x0341},                                                         // C.8
    {0x06DD, 0x06DD}, {0x070F, 0x070F}, {0x180E, 0x180E}, {0x200C, 0x200D},  // C.2.2
    {0x200E, 0x200F}, {0x202A, 0x202E},                                       // C.8
    {0x2028, 0x2029}, {0x2060, 0x2063},                                       // C.2.2
    {0x206A, 0x206F},                                                         // C.2.2, C.8
    {0x2FF0, 0x2FFB},                                                         // C.7
    {0xD800, 0xDFFF},                                                         // C.5
    {0xE000, 0xF8FF},                                                         // C.3
    {0xFDD0, 0xFDEF},                                                         // C.4
    {0xFEFF, 0xFEFF},                                                         // C.2.2
    {0xFFF9, 0xFFFC}, {0xFFFD, 0xFFFD}, {0xFFFE, 0xFFFF},                     // C.2.2, C.6, C.4
    {0x1D173, 0x1D17A},                                                       // C.2.2
    {0xE0001, 0xE0001}, {0xE0020, 0xE007F},                                   // C.9
    {0xF0000, 0xFFFFD}, {0x100000, 0x10FFFD},                                 // C.3
};

bool in_table(char32_t c, std::span<const range> table) noexcept {
  return std::any_of(table.begin(), table.end(), [c](const range& r) { return c >= r.first && c <= r.last; });
}

// C.4 also lists the last two code points of every plane (U+nFFFE, U+nFFFF).
bool is_prohibited(char32_t c) noexcept { return in_table(c, prohibited) || (c & 0xFFFE) == 0xFFFE; }

// Strict UTF-8 decoding: rejects overlong forms, surrogates and values above U+10FFFF.
bool decode_utf8(std::string_view in, std::vector<char32_t>& out) {
  std::size_t i = 0;
  while (i < in.size()) {
    const auto b0 = static_cast<unsigned char>(in[i]);
    std::size_t len = 0;
    char32_t c = 0;
    char32_t min = 0;
    if (b0 < 0x80) {
      len = 1, c = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2, c = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3, c = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4, c = b0 & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (in.size() - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(in[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      c = (c << 6) | (b & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
    out.push_back(c);
    i += len;
  }
  return true;
}

void encode_utf8(char32_t c, std::string& out) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

}  // namespace

std::string saslprep(std::string_view password) {
  // PostgreSQL's fast path: an ASCII string needs no processing (even with control characters,
  // which SASLprep would prohibit, and the raw-bytes fallback would then give the same bytes).
  if (std::all_of(password.begin(), password.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return std::string(password);
  }
  std::vector<char32_t> chars;
  chars.reserve(password.size());
  if (!decode_utf8(password, chars)) return std::string(password);

  std::string out;
  out.reserve(password.size());
  for (const char32_t c : chars) {
    if (in_table(c, non_ascii_space)) {
      out += ' ';
    } else if (in_table(c, mapped_to_nothing)) {
      continue;
    } else if (is_prohibited(c)) {
      return std::string(password);
    } else {
      encode_utf8(c, out);
    }
  }
  // PostgreSQL treats a password that maps to nothing as prohibited, hence raw bytes.
  if (out.empty()) return std::string(password);
  return out;
}

}  // namespace pgfunnel::auth

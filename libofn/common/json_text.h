// Small helpers for writing JSON text without a JSON library in the header.
#ifndef LIBOFN_COMMON_JSON_TEXT_H_
#define LIBOFN_COMMON_JSON_TEXT_H_

#include <string>
#include <string_view>

namespace ofn {

// `s` as a JSON string literal, quotes included; control characters escaped.
std::string JsonQuote(std::string_view s);
// The same, appended to `out`.
void AppendJsonQuoted(std::string* out, std::string_view s);

// True when `text` is one JSON object written as libofn writes canonical
// JSON: compact (no whitespace), every object's keys unique and in byte
// order, strings without escapes or control characters, numbers integers
// of at most 18 digits, nesting at most 64 deep. Parsing such text and
// writing it back with sorted keys gives the same bytes, so it may be
// copied into a larger document as it is. False for anything else,
// including text that is valid JSON but written otherwise.
bool IsCanonicalJsonObject(std::string_view text);

}  // namespace ofn

#endif  // LIBOFN_COMMON_JSON_TEXT_H_

// Small helpers for writing JSON text without a JSON library in the header.
#ifndef LIBOFN_COMMON_JSON_TEXT_H_
#define LIBOFN_COMMON_JSON_TEXT_H_

#include <string>
#include <string_view>

namespace ofn {

// `s` as a JSON string literal, quotes included; control characters escaped.
std::string JsonQuote(std::string_view s);

}  // namespace ofn

#endif  // LIBOFN_COMMON_JSON_TEXT_H_

// Null-tolerant accessors for walking boost::json trees: each returns null or
// a fallback when a step is missing or has another type. Internal.
#ifndef LIBOFN_COMMON_INTERNAL_JSON_ACCESS_H_
#define LIBOFN_COMMON_INTERNAL_JSON_ACCESS_H_

#include <boost/json.hpp>
#include <string>
#include <string_view>

namespace ofn::internal {

inline const boost::json::object* Obj(const boost::json::value* v) {
  return v && v->is_object() ? &v->as_object() : nullptr;
}
inline const boost::json::array* Arr(const boost::json::value* v) {
  return v && v->is_array() ? &v->as_array() : nullptr;
}
inline const boost::json::value* At(const boost::json::object* o, std::string_view key) {
  return o ? o->if_contains(key) : nullptr;
}
inline std::string Str(const boost::json::object* o, std::string_view key, std::string_view fallback = {}) {
  const boost::json::value* v = At(o, key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string(fallback);
}

// Parses JSON text that should hold an object; an empty object when it does
// not (stored JSON is written by libofn, so this is for robustness only).
inline boost::json::value ParseObjectOrEmpty(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return boost::json::object();
  return v;
}

}  // namespace ofn::internal

#endif  // LIBOFN_COMMON_INTERNAL_JSON_ACCESS_H_

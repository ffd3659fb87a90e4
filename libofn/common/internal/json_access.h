// The one vocabulary for walking boost::json trees, null-tolerant: each
// accessor returns null or a fallback when a step is missing or has another
// type. One step: Obj, Arr, At, Str (a copy). A path: ObjectAt, ValueAt,
// StringOr (a view into the tree). Building: EnsureObject. Internal.
#ifndef LIBOFN_COMMON_INTERNAL_JSON_ACCESS_H_
#define LIBOFN_COMMON_INTERNAL_JSON_ACCESS_H_

#include <boost/json.hpp>
#include <initializer_list>
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

// The object at `path` below `root`, or null.
inline boost::json::object* ObjectAt(boost::json::object& root, std::initializer_list<std::string_view> path) {
  boost::json::object* cur = &root;
  for (std::string_view key : path) {
    boost::json::value* v = cur->if_contains(key);
    if (!v || !v->is_object()) return nullptr;
    cur = &v->as_object();
  }
  return cur;
}
inline const boost::json::object* ObjectAt(const boost::json::object& root,
                                           std::initializer_list<std::string_view> path) {
  return ObjectAt(const_cast<boost::json::object&>(root), path);
}
// The value at `path` below `root` (any type), or null.
inline const boost::json::value* ValueAt(const boost::json::object& root, std::initializer_list<std::string_view> path) {
  const boost::json::object* cur = &root;
  const boost::json::value* v = nullptr;
  size_t i = 0;
  for (std::string_view key : path) {
    if (!cur) return nullptr;
    v = cur->if_contains(key);
    if (!v) return nullptr;
    cur = (++i < path.size() && v->is_object()) ? &v->as_object() : nullptr;
  }
  return v;
}
// The string at `key` as a view into the tree, or `fallback`.
inline std::string_view StringOr(const boost::json::object* obj, std::string_view key, std::string_view fallback) {
  if (!obj) return fallback;
  const boost::json::value* v = obj->if_contains(key);
  return v && v->is_string() ? std::string_view(v->as_string()) : fallback;
}
// The object at `key`, made (replacing anything else there) when missing.
inline boost::json::object& EnsureObject(boost::json::object& parent, std::string_view key) {
  boost::json::value& v = parent[key];
  if (!v.is_object()) v = boost::json::object();
  return v.as_object();
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

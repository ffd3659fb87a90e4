#include "libofn/common/regex.h"
#include "libofn/spec/internal/emit.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <vector>

#include "libofn/common/json_text.h"

namespace ofn::spec::internal {
namespace json = boost::json;
namespace {

std::vector<const json::key_value_pair*> SortedMembers(const json::object& obj) {
  std::vector<const json::key_value_pair*> out;
  out.reserve(obj.size());
  for (const auto& kv : obj) out.push_back(&kv);
  std::sort(out.begin(), out.end(),
            [](auto* a, auto* b) { return a->key() < b->key(); });
  return out;
}

// True when `s` can be written as a plain YAML scalar and read back as the
// same string by a YAML 1.1 or 1.2 reader.
bool PlainSafe(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  static const auto kSafe = Regex::MustCompile("^[A-Za-z0-9_/][A-Za-z0-9_./=+@()~$^ -]*$");
  if (!kSafe->FullMatch(s)) return false;
  if (s.back() == ' ') return false;
  // Anything that a reader would resolve to null, bool or a number.
  static const auto kSpecial = Regex::MustCompile(
      "^(~|null|Null|NULL|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|"
      "on|On|ON|off|Off|OFF)$");
  if (kSpecial->FullMatch(s)) return false;
  static const auto kNumeric = Regex::MustCompile("^[-+]?[0-9._]*[0-9][0-9._eExXa-fA-FoObB:+-]*$");
  if (kNumeric->FullMatch(s)) return false;
  return true;
}

std::string Number(const json::value& v) {
  if (v.is_int64()) return std::to_string(v.as_int64());
  if (v.is_uint64()) return std::to_string(v.as_uint64());
  double d = v.as_double();
  if (std::isnan(d)) return ".nan";
  if (std::isinf(d)) return d < 0 ? "-.inf" : ".inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  // Shortest text that reads back the same.
  for (int prec = 1; prec <= 17; ++prec) {
    char probe[64];
    std::snprintf(probe, sizeof probe, "%.*g", prec, d);
    if (std::strtod(probe, nullptr) == d) {
      std::snprintf(buf, sizeof buf, "%s", probe);
      break;
    }
  }
  std::string out = buf;
  // YAML 1.1 floats need a '.', and a signed exponent.
  size_t e = out.find_first_of("eE");
  std::string mant = e == std::string::npos ? out : out.substr(0, e);
  std::string exp = e == std::string::npos ? "" : out.substr(e + 1);
  if (mant.find('.') == std::string::npos) mant += ".0";
  if (!exp.empty() && exp[0] != '-' && exp[0] != '+') exp = "+" + exp;
  return exp.empty() ? mant : mant + "e" + exp;
}

std::string Scalar(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return v.as_bool() ? "true" : "false";
    case json::kind::string: {
      std::string s(v.as_string());
      return PlainSafe(s) ? s : JsonQuote(s);
    }
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return Number(v);
    default: return "";
  }
}

bool IsEmptyCollection(const json::value& v) {
  return (v.is_object() && v.as_object().empty()) || (v.is_array() && v.as_array().empty());
}

std::string Key(std::string_view k) { return PlainSafe(std::string(k)) ? std::string(k) : JsonQuote(k); }

void Emit(const json::value& v, int indent, std::string* out);

void EmitObjectBody(const json::object& obj, int indent, bool first_inline, std::string* out) {
  bool first = true;
  for (const auto* kv : SortedMembers(obj)) {
    if (!(first && first_inline)) out->append(indent, ' ');
    first = false;
    *out += Key(kv->key());
    *out += ':';
    const json::value& val = kv->value();
    if (val.is_object() && !val.as_object().empty()) {
      *out += '\n';
      EmitObjectBody(val.as_object(), indent + 2, false, out);
    } else if (val.is_array() && !val.as_array().empty()) {
      *out += '\n';
      Emit(val, indent, out);  // kubectl style: "- " at the key's indent
    } else {
      *out += ' ';
      *out += IsEmptyCollection(val) ? (val.is_object() ? "{}" : "[]") : Scalar(val);
      *out += '\n';
    }
  }
}

void Emit(const json::value& v, int indent, std::string* out) {
  if (v.is_object()) {
    if (v.as_object().empty()) {
      out->append(indent, ' ');
      *out += "{}\n";
      return;
    }
    EmitObjectBody(v.as_object(), indent, false, out);
  } else if (v.is_array()) {
    if (v.as_array().empty()) {
      out->append(indent, ' ');
      *out += "[]\n";
      return;
    }
    for (const json::value& item : v.as_array()) {
      out->append(indent, ' ');
      *out += "- ";
      if (item.is_object() && !item.as_object().empty()) {
        EmitObjectBody(item.as_object(), indent + 2, true, out);
      } else if (item.is_array() && !item.as_array().empty()) {
        *out += '\n';
        Emit(item, indent + 2, out);
      } else {
        *out += IsEmptyCollection(item) ? (item.is_object() ? "{}" : "[]") : Scalar(item);
        *out += '\n';
      }
    }
  } else {
    out->append(indent, ' ');
    *out += Scalar(v);
    *out += '\n';
  }
}

void EmitJsonTo(const json::value& v, bool pretty, int indent, std::string* out) {
  auto newline = [&](int ind) {
    if (pretty) {
      *out += '\n';
      out->append(ind, ' ');
    }
  };
  if (v.is_object()) {
    const json::object& obj = v.as_object();
    if (obj.empty()) {
      *out += "{}";
      return;
    }
    *out += '{';
    bool first = true;
    for (const auto* kv : SortedMembers(obj)) {
      if (!first) *out += ',';
      first = false;
      newline(indent + 2);
      *out += JsonQuote(kv->key());
      *out += pretty ? ": " : ":";
      EmitJsonTo(kv->value(), pretty, indent + 2, out);
    }
    newline(indent);
    *out += '}';
  } else if (v.is_array()) {
    const json::array& arr = v.as_array();
    if (arr.empty()) {
      *out += "[]";
      return;
    }
    *out += '[';
    for (size_t i = 0; i < arr.size(); ++i) {
      if (i) *out += ',';
      newline(indent + 2);
      EmitJsonTo(arr[i], pretty, indent + 2, out);
    }
    newline(indent);
    *out += ']';
  } else {
    *out += json::serialize(v);
  }
}

}  // namespace

std::string EmitYaml(const json::value& v) {
  std::string out;
  Emit(v, 0, &out);
  return out;
}

std::string EmitJson(const json::value& v, bool pretty) {
  std::string out;
  EmitJsonTo(v, pretty, 0, &out);
  return out;
}

json::value Canonical(const json::value& v) {
  if (v.is_object()) {
    json::object out;
    for (const auto* kv : SortedMembers(v.as_object())) out.emplace(kv->key(), Canonical(kv->value()));
    return out;
  }
  if (v.is_array()) {
    json::array out;
    for (const json::value& item : v.as_array()) out.push_back(Canonical(item));
    return out;
  }
  return v;
}

}  // namespace ofn::spec::internal

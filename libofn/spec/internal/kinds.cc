#include "libofn/spec/internal/kinds.h"

#include <boost/json.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <regex>

namespace ofn::spec::internal {

const std::vector<KindRules>& AllKinds() {
  static const std::vector<KindRules>* kinds = [] {
    auto* v = new std::vector<KindRules>();
    v->push_back(FunctionRules());
    v->push_back(GatewayRules());
    for (KindRules& k : EventsRules()) v->push_back(std::move(k));
    return v;
  }();
  return *kinds;
}

const KindRules* FindKind(std::string_view group, std::string_view kind) {
  for (const KindRules& k : AllKinds()) {
    if (k.group == group && k.kind == kind) return &k;
  }
  return nullptr;
}

json::object* ObjectAt(json::object& root, std::initializer_list<std::string_view> path) {
  json::object* cur = &root;
  for (std::string_view key : path) {
    json::value* v = cur->if_contains(key);
    if (!v || !v->is_object()) return nullptr;
    cur = &v->as_object();
  }
  return cur;
}

const json::object* ObjectAt(const json::object& root,
                             std::initializer_list<std::string_view> path) {
  return ObjectAt(const_cast<json::object&>(root), path);
}

json::object& EnsureObject(json::object& parent, std::string_view key) {
  json::value& v = parent[key];
  if (!v.is_object()) v = json::object();
  return v.as_object();
}

const json::value* ValueAt(const json::object& root, std::initializer_list<std::string_view> path) {
  const json::object* cur = &root;
  const json::value* v = nullptr;
  size_t i = 0;
  for (std::string_view key : path) {
    if (!cur) return nullptr;
    v = cur->if_contains(key);
    if (!v) return nullptr;
    cur = (++i < path.size() && v->is_object()) ? &v->as_object() : nullptr;
  }
  return v;
}

std::string_view StringOr(const json::object* obj, std::string_view key, std::string_view fallback) {
  if (!obj) return fallback;
  const json::value* v = obj->if_contains(key);
  return v && v->is_string() ? std::string_view(v->as_string()) : fallback;
}

bool IsDns1123Label(std::string_view s) {
  static const std::regex re("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
  return !s.empty() && s.size() <= 63 && std::regex_match(s.begin(), s.end(), re);
}

bool IsDns1123Subdomain(std::string_view s) {
  static const std::regex re("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");
  return !s.empty() && s.size() <= 253 && std::regex_match(s.begin(), s.end(), re);
}

bool ParseQuantity(std::string_view text, double* value) {
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  std::string_view digits = text.substr(0, i), suffix = text.substr(i);
  if (digits.empty() || digits == "." || std::count(digits.begin(), digits.end(), '.') > 1) return false;
  double number = std::strtod(std::string(digits).c_str(), nullptr);
  static const std::pair<std::string_view, double> kSuffixes[] = {
      {"", 1},     {"n", 1e-9},        {"u", 1e-6},        {"m", 1e-3},           {"k", 1e3},
      {"M", 1e6},  {"G", 1e9},         {"T", 1e12},        {"P", 1e15},           {"E", 1e18},
      {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
      {"Pi", 1125899906842624.0}, {"Ei", 1152921504606846976.0}};
  for (const auto& [s, mult] : kSuffixes) {
    if (suffix == s) {
      *value = number * mult;
      return true;
    }
  }
  // Decimal exponent: "1e3", "12E-1".
  if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    std::string_view exp = suffix.substr(1);
    if (exp[0] == '+' || exp[0] == '-') exp.remove_prefix(1);
    if (exp.empty() || !std::all_of(exp.begin(), exp.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    *value = number * std::pow(10.0, std::atof(std::string(suffix.substr(1)).c_str()));
    return true;
  }
  return false;
}

bool ParseGoDuration(std::string_view text, double* seconds) {
  std::string_view s = text;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") {
    *seconds = 0;
    return true;
  }
  if (s.empty()) return false;
  double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == 0) return false;
    std::string num(s.substr(0, i));
    if (num == "." ) return false;
    s.remove_prefix(i);
    size_t j = 0;
    while (j < s.size() && !std::isdigit(static_cast<unsigned char>(s[j])) && s[j] != '.') ++j;
    std::string_view unit = s.substr(0, j);
    s.remove_prefix(j);
    double mult;
    if (unit == "ns") mult = 1e-9;
    else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") mult = 1e-6;
    else if (unit == "ms") mult = 1e-3;
    else if (unit == "s") mult = 1;
    else if (unit == "m") mult = 60;
    else if (unit == "h") mult = 3600;
    else return false;
    total += std::strtod(num.c_str(), nullptr) * mult;
  }
  *seconds = neg ? -total : total;
  return true;
}

}  // namespace ofn::spec::internal

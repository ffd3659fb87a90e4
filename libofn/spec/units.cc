#include "libofn/spec/units.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>

namespace ofn::spec {

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

int64_t QuantityBytes(std::string_view text) {
  double bytes = 0;
  return ParseQuantity(text, &bytes) ? static_cast<int64_t>(std::ceil(bytes)) : -1;
}

int64_t QuantityMillis(std::string_view text) {
  double units = 0;
  return ParseQuantity(text, &units) ? static_cast<int64_t>(std::ceil(units * 1000)) : -1;
}

}  // namespace ofn::spec

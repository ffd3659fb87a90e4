#include "libofn/common/json_text.h"

#include <cstdio>

namespace ofn {

void AppendJsonQuoted(std::string* out, std::string_view s) {
  *out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      case '\b': *out += "\\b"; break;
      case '\f': *out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else {
          *out += static_cast<char>(c);
        }
    }
  }
  *out += '"';
}

std::string JsonQuote(std::string_view s) {
  std::string out;
  AppendJsonQuoted(&out, s);
  return out;
}

namespace {

// A recursive-descent check of canonical text; `p` moves past what it read.
class CanonicalScan {
 public:
  explicit CanonicalScan(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}
  bool Object(int depth) {
    if (depth > 64 || !Eat('{')) return false;
    if (Eat('}')) return true;
    std::string_view previous;
    for (bool first = true;; first = false) {
      std::string_view key;
      if (!String(&key)) return false;
      if (!first && !(previous < key)) return false;  // out of order, or twice
      previous = key;
      if (!Eat(':') || !Value(depth)) return false;
      if (Eat('}')) return true;
      if (!Eat(',')) return false;
    }
  }
  bool AtEnd() const { return p_ == end_; }

 private:
  bool Eat(char c) {
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) return false;
    p_ += word.size();
    return true;
  }
  bool String(std::string_view* out) {
    if (!Eat('"')) return false;
    const char* start = p_;
    while (p_ != end_ && *p_ != '"') {
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '\\' || c < 0x20) return false;
      ++p_;
    }
    if (p_ == end_) return false;
    *out = std::string_view(start, static_cast<size_t>(p_ - start));
    ++p_;
    return true;
  }
  bool Number() {
    const bool negative = Eat('-');
    const char* start = p_;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    const size_t digits = static_cast<size_t>(p_ - start);
    if (digits == 0 || digits > 18) return false;
    if (*start == '0' && (digits > 1 || negative)) return false;  // "01", "-0"
    return p_ == end_ || (*p_ != '.' && *p_ != 'e' && *p_ != 'E');
  }
  bool Value(int depth) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '{': return Object(depth + 1);
      case '[': {
        ++p_;
        if (Eat(']')) return true;
        for (;;) {
          if (!Value(depth + 1)) return false;
          if (Eat(']')) return true;
          if (!Eat(',')) return false;
        }
      }
      case '"': {
        std::string_view ignored;
        return String(&ignored);
      }
      case 't': return Literal("true");
      case 'f': return Literal("false");
      case 'n': return Literal("null");
      default: return Number();
    }
  }
  const char* p_;
  const char* end_;
};

}  // namespace

bool IsCanonicalJsonObject(std::string_view text) {
  CanonicalScan scan(text);
  return scan.Object(0) && scan.AtEnd();
}

}  // namespace ofn

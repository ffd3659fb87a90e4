#include "libofn/common/regex.h"
#include "libofn/spec/internal/tree.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

namespace ofn::spec::internal {
namespace {

bool IsIdentifierKey(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

Mark ToMark(const YAML::Mark& m) {
  if (m.line < 0 || m.column < 0) return {};
  return {m.line + 1, m.column + 1};
}

std::string StripUnderscores(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != '_') out += c;
  }
  return out;
}

// YAML 1.1 plain-scalar resolution, as PyYAML's resolver does it.
json::value ResolvePlain(const std::string& s) {
  static const auto kNull = Regex::MustCompile("^(~|null|Null|NULL|)$");
  static const auto kTrue = Regex::MustCompile("^(yes|Yes|YES|true|True|TRUE|on|On|ON)$");
  static const auto kFalse = Regex::MustCompile("^(no|No|NO|false|False|FALSE|off|Off|OFF)$");
  static const auto kDec = Regex::MustCompile("^[-+]?(0|[1-9][0-9_]*)$");
  static const auto kHex = Regex::MustCompile("^[-+]?0x[0-9a-fA-F_]+$");
  static const auto kOct = Regex::MustCompile("^[-+]?0[0-7_]+$");
  static const auto kBin = Regex::MustCompile("^[-+]?0b[01_]+$");
  static const auto kFloat = Regex::MustCompile(
      "^([-+]?[0-9][0-9_]*\\.[0-9_]*([eE][-+][0-9]+)?|[-+]?\\.[0-9_]+([eE][-+][0-9]+)?)$");
  static const auto kInf = Regex::MustCompile("^[-+]?\\.(inf|Inf|INF)$");
  static const auto kNan = Regex::MustCompile("^\\.(nan|NaN|NAN)$");
  if (kNull->FullMatch(s)) return nullptr;
  if (kTrue->FullMatch(s)) return true;
  if (kFalse->FullMatch(s)) return false;
  auto parse_int = [&](int base, size_t skip) -> json::value {
    std::string digits = StripUnderscores(s);
    bool neg = false;
    size_t i = 0;
    if (digits[0] == '+' || digits[0] == '-') {
      neg = digits[0] == '-';
      i = 1;
    }
    i += skip;
    errno = 0;
    unsigned long long u = std::strtoull(digits.c_str() + i, nullptr, base);
    if (errno == ERANGE) return std::strtod(s.c_str(), nullptr);
    if (neg) {
      if (u > static_cast<unsigned long long>(std::numeric_limits<int64_t>::max()) + 1) {
        return -static_cast<double>(u);
      }
      return static_cast<int64_t>(0 - u);
    }
    if (u > static_cast<unsigned long long>(std::numeric_limits<int64_t>::max())) {
      return static_cast<uint64_t>(u);
    }
    return static_cast<int64_t>(u);
  };
  if (kDec->FullMatch(s)) return parse_int(10, 0);
  if (kHex->FullMatch(s)) return parse_int(16, 2);
  if (kBin->FullMatch(s)) return parse_int(2, 2);
  if (kOct->FullMatch(s)) return parse_int(8, 1);
  if (kFloat->FullMatch(s)) return std::strtod(StripUnderscores(s).c_str(), nullptr);
  if (kInf->FullMatch(s)) {
    return s[0] == '-' ? -std::numeric_limits<double>::infinity()
                       : std::numeric_limits<double>::infinity();
  }
  if (kNan->FullMatch(s)) return std::numeric_limits<double>::quiet_NaN();
  return json::string(s);
}

json::value ResolveScalar(const YAML::Node& n, const std::string& path, Reporter* rep) {
  const std::string& tag = n.Tag();
  const std::string& s = n.Scalar();
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return json::string(s);
  if (tag == "?" || tag.empty()) return ResolvePlain(s);
  // Explicit core tags: resolve and check they agree.
  json::value v = ResolvePlain(s);
  auto want = [&](bool ok, const char* what) -> json::value {
    if (!ok) rep->Error(path, "value " + s + " is not a valid " + what);
    return v;
  };
  if (tag == "tag:yaml.org,2002:int") return want(v.is_int64() || v.is_uint64(), "!!int");
  if (tag == "tag:yaml.org,2002:float") {
    if (v.is_int64()) return static_cast<double>(v.as_int64());
    return want(v.is_double(), "!!float");
  }
  if (tag == "tag:yaml.org,2002:bool") return want(v.is_bool(), "!!bool");
  if (tag == "tag:yaml.org,2002:null") return want(v.is_null(), "!!null");
  rep->Error(path, "unsupported YAML tag " + tag);
  return json::string(s);
}

json::value Convert(const YAML::Node& n, const std::string& path, SourceMap* marks,
                    Reporter* rep) {
  marks->SetValue(path, ToMark(n.Mark()));
  switch (n.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return nullptr;
    case YAML::NodeType::Scalar:
      return ResolveScalar(n, path, rep);
    case YAML::NodeType::Sequence: {
      json::array arr;
      arr.reserve(n.size());
      size_t i = 0;
      for (const auto& item : n) {
        arr.push_back(Convert(item, IndexPath(path, i), marks, rep));
        ++i;
      }
      return arr;
    }
    case YAML::NodeType::Map: {
      json::object obj;
      for (auto it = n.begin(); it != n.end(); ++it) {
        // Copies: `it->` yields a temporary whose members die with it.
        const YAML::Node k = it->first;
        const YAML::Node v = it->second;
        if (!k.IsScalar()) {
          rep->ErrorAt(ToMark(k.Mark()), path, "mapping keys must be scalars");
          continue;
        }
        const std::string& key = k.Scalar();
        std::string child = JoinPath(path, key);
        if (obj.contains(key)) {
          rep->ErrorAt(ToMark(k.Mark()), child, "duplicate key \"" + key + "\"");
          continue;
        }
        marks->SetKey(child, ToMark(k.Mark()));
        obj.emplace(key, Convert(v, child, marks, rep));
      }
      return obj;
    }
  }
  return nullptr;
}

}  // namespace

Mark SourceMap::Find(std::string_view path) const {
  std::string p(path);
  while (true) {
    auto it = value_.find(p);
    if (it != value_.end() && it->second.line > 0) return it->second;
    auto kt = key_.find(p);
    if (kt != key_.end() && kt->second.line > 0) return kt->second;
    if (p.empty()) return {};
    p = ParentPath(p);
  }
}

Mark SourceMap::FindKey(std::string_view path) const {
  auto kt = key_.find(std::string(path));
  if (kt != key_.end() && kt->second.line > 0) return kt->second;
  return Find(path);
}

SourceMap SourceMap::Sub(const std::string& prefix) const {
  SourceMap out;
  auto rebase = [&](const std::unordered_map<std::string, Mark>& in,
                    std::unordered_map<std::string, Mark>* dst) {
    for (const auto& [k, m] : in) {
      if (k == prefix) {
        (*dst)[""] = m;
      } else if (k.size() > prefix.size() && k.compare(0, prefix.size(), prefix) == 0) {
        char c = k[prefix.size()];
        if (c == '.') (*dst)[k.substr(prefix.size() + 1)] = m;
        else if (c == '[') (*dst)[k.substr(prefix.size())] = m;
      }
    }
  };
  rebase(value_, &out.value_);
  rebase(key_, &out.key_);
  return out;
}

std::string JoinPath(std::string_view parent, std::string_view key) {
  std::string out(parent);
  if (IsIdentifierKey(key)) {
    if (!out.empty()) out += '.';
    out += key;
  } else {
    out += '[';
    out += key;
    out += ']';
  }
  return out;
}

std::string IndexPath(std::string_view parent, size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

std::string ParentPath(std::string_view path) {
  if (path.empty()) return "";
  if (path.back() == ']') {
    size_t open = path.rfind('[');
    return std::string(path.substr(0, open == std::string_view::npos ? 0 : open));
  }
  size_t dot = path.rfind('.');
  size_t bracket = path.rfind(']');
  if (dot == std::string_view::npos) return "";
  if (bracket != std::string_view::npos && bracket > dot) return std::string(path.substr(0, bracket + 1));
  return std::string(path.substr(0, dot));
}

void Reporter::Add(Severity s, Mark m, const std::string& path, std::string message) {
  if (s == Severity::kError) ++errors_;
  out_->push_back(Diagnostic{s, file_, m.line, m.column, path, std::move(message)});
}

void Reporter::Error(const std::string& path, std::string message) {
  Add(Severity::kError, marks_ ? marks_->Find(path) : Mark{}, path, std::move(message));
}

void Reporter::ErrorAtKey(const std::string& path, std::string message) {
  Add(Severity::kError, marks_ ? marks_->FindKey(path) : Mark{}, path, std::move(message));
}

void Reporter::Warning(const std::string& path, std::string message) {
  Add(Severity::kWarning, marks_ ? marks_->FindKey(path) : Mark{}, path, std::move(message));
}

void Reporter::ErrorAt(Mark m, const std::string& path, std::string message) {
  Add(Severity::kError, m, path, std::move(message));
}

namespace {

// Counts documents without building them: yaml-cpp 0.7 loops for ever
// (making empty documents until memory runs out) on a stray flow entry such
// as a lone ",", so every text is walked with a bound first.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { last_start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
  YAML::Mark last_start = YAML::Mark::null_mark();
};

// Throws YAML::ParserException when the parser stops making progress.
void CheckTerminates(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentCounter counter;
  // A document takes at least one byte of text (or is the one empty one).
  for (size_t documents = 0; parser.HandleNextDocument(counter);) {
    if (++documents > text.size() + 1) {
      throw YAML::ParserException(counter.last_start,
                                  "the parser makes no progress here (a ',' or closing bracket outside a flow "
                                  "collection?)");
    }
  }
}

}  // namespace

std::vector<Document> ParseYaml(std::string_view text, const std::string& file,
                                std::vector<Diagnostic>* diags) {
  std::vector<Document> docs;
  std::vector<YAML::Node> nodes;
  try {
    std::string copy(text);
    CheckTerminates(copy);
    nodes = YAML::LoadAll(copy);
  } catch (const YAML::Exception& e) {
    Mark m = ToMark(e.mark);
    diags->push_back(Diagnostic{Severity::kError, file, m.line, m.column, "",
                                "invalid YAML: " + e.msg});
    return docs;
  }
  for (const YAML::Node& n : nodes) {
    Document doc;
    doc.start = ToMark(n.Mark());
    Reporter rep(file, &doc.marks, diags);
    doc.root = Convert(n, "", &doc.marks, &rep);
    if (rep.errors() == 0) docs.push_back(std::move(doc));
  }
  return docs;
}

std::string TypeName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "boolean";
    case json::kind::int64:
    case json::kind::uint64: return "integer";
    case json::kind::double_: return "number";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
  }
  return "value";
}

std::string Describe(const json::value& v) {
  if (v.is_object() || v.is_array() || v.is_null()) return TypeName(v);
  std::string text;
  if (v.is_double()) {
    std::ostringstream os;
    os << v.as_double();
    text = os.str();
  } else {
    text = json::serialize(v);
  }
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return TypeName(v) + " " + text;
}

}  // namespace ofn::spec::internal

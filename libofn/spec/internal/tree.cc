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
#include <map>
#include <optional>
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
  // Every word below has at most five characters, and a number only these:
  // anything longer with another character is a string (most names,
  // images and hosts), without trying each pattern.
  if (s.size() > 5 && s.find_first_not_of("0123456789abcdefABCDEFxX_.+-") != std::string::npos) {
    return json::string(s);
  }
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

json::value ResolveScalar(const std::string& tag, const std::string& s, const std::string& path, Reporter* rep) {
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

void SourceMap::Graft(const std::string& from, const std::string& to) {
  if (from == to) return;
  // A path under `from`, re-rooted at `to`; nullopt when it is not under it
  // (`from` itself is not: its own marks stay where they are).
  auto rebase = [&](const std::string& k) -> std::optional<std::string> {
    if (k == from) return std::nullopt;
    std::string_view rest;
    if (from.empty()) {
      rest = k;
      if (rest.front() == '[') return to + std::string(rest);
      return to.empty() ? k : to + "." + k;
    }
    if (k.size() <= from.size() || k.compare(0, from.size(), from) != 0) return std::nullopt;
    const char c = k[from.size()];
    if (c != '.' && c != '[') return std::nullopt;
    rest = std::string_view(k).substr(from.size());
    if (c == '.' && to.empty()) rest.remove_prefix(1);
    return to + std::string(rest);
  };
  for (auto* m : {&value_, &key_}) {
    std::vector<std::pair<std::string, Mark>> add;
    for (const auto& [k, mark] : *m) {
      if (auto moved = rebase(k)) add.emplace_back(std::move(*moved), mark);
    }
    for (auto& [k, mark] : add) (*m)[k] = mark;
  }
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

// Builds each document's tree, with its source marks, from the parser's
// events in one pass. Documents are counted as they start: yaml-cpp 0.7
// loops for ever (making empty documents until memory runs out) on a stray
// flow entry such as a lone ",", so a text that yields more documents than
// it has bytes stops with an error.
class TreeBuilder : public YAML::EventHandler {
 public:
  TreeBuilder(const std::string& file, size_t text_size, std::vector<Document>* docs, std::vector<Diagnostic>* diags)
      : file_(file), limit_(text_size + 1), docs_(docs), diags_(diags) {}

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ > limit_) {
      throw YAML::ParserException(mark, "the parser makes no progress here (a ',' or closing bracket outside a flow "
                                        "collection?)");
    }
    doc_ = Document{};
    rep_.emplace(file_, &doc_.marks, diags_);
    frames_.clear();
    anchors_.clear();
  }
  void OnDocumentEnd() override {
    if (rep_->errors() == 0) docs_->push_back(std::move(doc_));
    rep_.reset();
  }
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Slot slot = Begin(mark);
    Complete(slot, nullptr, anchor, mark, nullptr);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    const Anchored* a = it == anchors_.end() ? nullptr : &it->second;
    if (a && a->scalar && !frames_.empty() && Role() == kKey) {
      Key(a->text, mark);  // an alias of a scalar is that scalar, as a key too
      return;
    }
    Slot slot = Begin(mark, a ? a->mark : ToMark(mark));
    if (a && !a->scalar && !slot.discarded) doc_.marks.Graft(a->path, slot.path);
    Complete(slot, a ? a->value : json::value(nullptr), 0, mark, nullptr);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    if (!frames_.empty() && Role() == kKey) {
      if (anchor) anchors_[anchor] = Anchored{json::string(value), ToMark(mark), true, value, ""};
      Key(value, mark);
      return;
    }
    Slot slot = Begin(mark);
    json::value v = slot.discarded ? json::value(nullptr) : ResolveScalar(tag, value, slot.path, &*rep_);
    Complete(slot, std::move(v), anchor, mark, &value);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, anchor, false);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(mark, anchor, true);
  }
  void OnMapEnd() override { Close(); }

 private:
  // Where a node goes in its parent.
  enum NodeRole { kRoot, kItem, kKey, kValue, kInner };  // kInner: inside a discarded node
  struct Slot {
    NodeRole role;
    std::string path;
    bool discarded;
  };
  struct Frame {
    bool map = false;
    bool discarded = false;
    Slot slot;
    json::value value;  // an object or an array
    YAML::anchor_t anchor = 0;
    Mark mark;
    // Maps: a key is wanted next; the key read and its path; its value is
    // dropped (the key was a duplicate or not a scalar).
    bool want_key = true;
    std::string key, child;
    bool skip_value = false;
  };
  struct Anchored {
    json::value value;
    Mark mark;
    bool scalar = false;
    std::string text;
    std::string path;  // where it was read: its marks are there
  };

  NodeRole Role() const {
    if (frames_.empty()) return kRoot;
    const Frame& f = frames_.back();
    if (f.discarded) return kInner;
    if (!f.map) return kItem;
    return f.want_key ? kKey : kValue;
  }
  // The node that starts at `mark`: its role and path; its value's mark is
  // noted (`at`: where its content is, for an alias the anchor's node).
  Slot Begin(const YAML::Mark& mark, Mark at = {}) {
    const Mark m = at.line > 0 ? at : ToMark(mark);
    Slot slot{Role(), "", false};
    switch (slot.role) {
      case kRoot:
        doc_.start = m;
        break;
      case kItem: {
        const Frame& f = frames_.back();
        slot.path = IndexPath(f.slot.path, f.value.as_array().size());
        break;
      }
      case kKey: {
        // Only a scalar is a key (Key); anything else is reported and
        // dropped with the value that follows it.
        Frame& f = frames_.back();
        rep_->ErrorAt(ToMark(mark), f.slot.path, "mapping keys must be scalars");
        slot.discarded = true;
        return slot;
      }
      case kValue: {
        const Frame& f = frames_.back();
        slot.path = f.child;
        slot.discarded = f.skip_value;
        break;
      }
      case kInner:
        slot.discarded = true;
        return slot;
    }
    if (!slot.discarded) doc_.marks.SetValue(slot.path, m);
    return slot;
  }
  void Key(const std::string& key, const YAML::Mark& mark) {
    Frame& f = frames_.back();
    f.want_key = false;
    f.key = key;
    f.child = JoinPath(f.slot.path, key);
    f.skip_value = f.value.as_object().contains(key);
    if (f.skip_value) {
      rep_->ErrorAt(ToMark(mark), f.child, "duplicate key \"" + key + "\"");
    } else {
      doc_.marks.SetKey(f.child, ToMark(mark));
    }
  }
  // A node that ended: into its parent (or the document), under its anchor.
  void Complete(const Slot& slot, json::value v, YAML::anchor_t anchor, const YAML::Mark& mark,
                const std::string* scalar) {
    if (anchor && !slot.discarded) {
      anchors_[anchor] = Anchored{v, ToMark(mark), scalar != nullptr, scalar ? *scalar : std::string(), slot.path};
    }
    switch (slot.role) {
      case kRoot:
        doc_.root = std::move(v);
        break;
      case kItem:
        frames_.back().value.as_array().push_back(std::move(v));
        break;
      case kKey: {
        Frame& f = frames_.back();
        f.want_key = false;
        f.skip_value = true;
        break;
      }
      case kValue: {
        Frame& f = frames_.back();
        if (!f.skip_value) f.value.as_object().emplace(f.key, std::move(v));
        f.want_key = true;
        f.skip_value = false;
        break;
      }
      case kInner:
        break;
    }
  }
  void Open(const YAML::Mark& mark, YAML::anchor_t anchor, bool map) {
    Frame f;
    f.slot = Begin(mark);
    f.discarded = f.slot.discarded;
    f.map = map;
    f.anchor = anchor;
    f.mark = ToMark(mark);
    if (map) {
      f.value = json::object();
    } else {
      f.value = json::array();
    }
    frames_.push_back(std::move(f));
  }
  void Close() {
    Frame f = std::move(frames_.back());
    frames_.pop_back();
    if (f.anchor && !f.discarded) anchors_[f.anchor] = Anchored{f.value, f.mark, false, "", f.slot.path};
    Complete(f.slot, std::move(f.value), 0, YAML::Mark::null_mark(), nullptr);
  }

  const std::string& file_;
  const size_t limit_;
  size_t documents_ = 0;
  std::vector<Document>* docs_;
  std::vector<Diagnostic>* diags_;
  Document doc_;
  std::optional<Reporter> rep_;
  std::vector<Frame> frames_;
  std::map<YAML::anchor_t, Anchored> anchors_;
};

}  // namespace

std::vector<Document> ParseYaml(std::string_view text, const std::string& file,
                                std::vector<Diagnostic>* diags) {
  std::vector<Document> docs;
  // What the documents report is kept only when the whole text parses: a
  // syntax error is the one thing said about a text that has one.
  std::vector<Diagnostic> found;
  try {
    std::string copy(text);
    std::istringstream in(copy);
    YAML::Parser parser(in);
    TreeBuilder builder(file, copy.size(), &docs, &found);
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const YAML::Exception& e) {
    Mark m = ToMark(e.mark);
    diags->push_back(Diagnostic{Severity::kError, file, m.line, m.column, "", "invalid YAML: " + e.msg});
    return {};
  }
  diags->insert(diags->end(), std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
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

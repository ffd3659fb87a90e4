#include "libofn/common/regex.h"

#include <re2/re2.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace ofn {

struct Regex::Impl {
  explicit Impl(std::string_view pattern) : re(re2::StringPiece(pattern.data(), pattern.size()), Options()) {}
  static RE2::Options Options() {
    RE2::Options o;
    o.set_log_errors(false);
    o.set_max_mem(8 << 20);  // a bound on the automaton of any one pattern
    return o;
  }
  RE2 re;
};

Regex::Regex(std::string pattern, std::unique_ptr<Impl> impl) : pattern_(std::move(pattern)), impl_(std::move(impl)) {}
Regex::~Regex() = default;

Result<std::shared_ptr<const Regex>> Regex::Compile(std::string_view pattern) {
  auto impl = std::make_unique<Impl>(pattern);
  if (!impl->re.ok()) {
    return Status(StatusCode::kInvalidArgument, impl->re.error());
  }
  return std::shared_ptr<const Regex>(new Regex(std::string(pattern), std::move(impl)));
}

std::shared_ptr<const Regex> Regex::MustCompile(std::string_view pattern) {
  auto r = Compile(pattern);
  if (!r.ok()) {
    std::fprintf(stderr, "libofn: built-in regular expression \"%.*s\" does not compile: %s\n",
                 static_cast<int>(pattern.size()), pattern.data(), r.status().message().c_str());
    std::abort();
  }
  return *r;
}

bool Regex::FullMatch(std::string_view text) const {
  return RE2::FullMatch(re2::StringPiece(text.data(), text.size()), impl_->re);
}

bool Regex::PartialMatch(std::string_view text) const {
  return RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), impl_->re);
}

std::string Regex::ReplaceAll(std::string_view text, std::string_view rewrite) const {
  std::string out(text);
  RE2::GlobalReplace(&out, impl_->re, re2::StringPiece(rewrite.data(), rewrite.size()));
  return out;
}

std::vector<std::string> Regex::FirstGroups(std::string_view text) const {
  std::vector<std::string> out;
  re2::StringPiece input(text.data(), text.size());
  std::string group;
  for (;;) {
    const char* before = input.data();
    if (!RE2::FindAndConsume(&input, impl_->re, &group)) break;
    out.push_back(group);
    if (input.empty()) break;
    if (input.data() == before) input.remove_prefix(1);  // an empty match: step on
  }
  return out;
}

}  // namespace ofn

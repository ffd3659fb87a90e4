// Regex: a compiled regular expression in RE2's syntax — Go's, which the
// CRD schemas' `pattern`s are written in and which Envoy-based Gateway API
// implementations take for RegularExpression matches. Matching takes time
// linear in the input and a bounded stack whatever the pattern and input
// (std::regex recurses per character: a 200 KB scalar overflowed the stack).
// RE2 stays behind a pimpl. Immutable after Compile; thread-safe.
#ifndef LIBOFN_COMMON_REGEX_H_
#define LIBOFN_COMMON_REGEX_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libofn/common/status.h"

namespace ofn {

class Regex {
 public:
  // Fails with RE2's description of what is wrong in the pattern.
  static Result<std::shared_ptr<const Regex>> Compile(std::string_view pattern);
  // For patterns written in the code: aborts when `pattern` does not compile.
  static std::shared_ptr<const Regex> MustCompile(std::string_view pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // The whole of `text` matches.
  bool FullMatch(std::string_view text) const;
  // Some part of `text` matches (as Go's MatchString and JSON Schema do).
  bool PartialMatch(std::string_view text) const;
  // `text` with every match replaced by `rewrite` (\0..\9 name groups).
  std::string ReplaceAll(std::string_view text, std::string_view rewrite) const;
  // The first group of each successive match in `text`.
  std::vector<std::string> FirstGroups(std::string_view text) const;
  const std::string& pattern() const { return pattern_; }

 private:
  struct Impl;
  Regex(std::string pattern, std::unique_ptr<Impl> impl);
  std::string pattern_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ofn

#endif  // LIBOFN_COMMON_REGEX_H_

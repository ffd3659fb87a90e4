// Diagnostic: one error or warning about a manifest, with where it is.
#ifndef LIBOFN_SPEC_DIAGNOSTIC_H_
#define LIBOFN_SPEC_DIAGNOSTIC_H_

#include <string>
#include <vector>

namespace ofn::spec {

enum class Severity { kError, kWarning };

// Value type.
struct Diagnostic {
  Severity severity = Severity::kError;
  std::string file;   // as given by the caller, e.g. "fn.yaml"
  int line = 0;       // 1-based; 0 when unknown
  int column = 0;     // 1-based; 0 when unknown
  std::string path;   // field path, e.g. "spec.serving.triggers.http.port"
  std::string message;

  // "fn.yaml:12:7: spec.serving.triggers.http.port: must be in 1..65535, got 70000"
  // Warnings read "fn.yaml:3:5: warning: spec.build...: ...".
  std::string ToString() const;
};

bool HasErrors(const std::vector<Diagnostic>& diags);

}  // namespace ofn::spec

#endif  // LIBOFN_SPEC_DIAGNOSTIC_H_

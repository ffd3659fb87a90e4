// Structural-schema checks and defaulting, driven by the OpenAPI v3 schemas of
// the upstream CRDs (libofn/spec/schemas/, embedded at build time). Internal.
// Thread-safe: schemas are parsed once and then only read.
#ifndef LIBOFN_SPEC_INTERNAL_SCHEMA_H_
#define LIBOFN_SPEC_INTERNAL_SCHEMA_H_

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "libofn/spec/internal/tree.h"

namespace ofn::spec::internal {

struct EmbeddedSchema {
  const char* name;  // "<group>_<version>_<Kind>"
  const char* json;
};
extern const EmbeddedSchema kEmbeddedSchemas[];
extern const size_t kEmbeddedSchemaCount;

// The openAPIV3Schema of group/version/kind, or nullptr when libofn has none.
const json::object* FindSchema(std::string_view group, std::string_view version,
                               std::string_view kind);

// Checks `v` (the whole object) against `schema`: types, unknown fields,
// required fields, enums, bounds, lengths, patterns, item counts.
// apiVersion/kind/metadata at the root are left to the caller.
void ValidateAgainstSchema(const json::value& v, const json::object& schema, Reporter* rep);

// Fills in the schema's `default` values, as the API server does.
void ApplySchemaDefaults(json::value* v, const json::object& schema);

// Removes null members of objects (the API server prunes them for fields that
// are not nullable; none of libofn's kinds has a nullable field).
void DropNulls(json::value* v);

}  // namespace ofn::spec::internal

#endif  // LIBOFN_SPEC_INTERNAL_SCHEMA_H_

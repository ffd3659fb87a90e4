// Store records as the JSON objects users see, and FunctionInfo from them.
// Internal.
#ifndef LIBOFN_PLATFORM_INTERNAL_OBJECTS_H_
#define LIBOFN_PLATFORM_INTERNAL_OBJECTS_H_

#include <string>

#include "libofn/platform/platform.h"
#include "libofn/store/store.h"

namespace ofn::platform::internal {

ObjectInfo ToObjectInfo(const store::Record& r);
FunctionInfo ToFunctionInfo(const ObjectInfo& o);
// A Function's summary from its stored record, without its object text.
FunctionInfo ToFunctionSummary(const store::Record& r);
// "functions", "function", "fn", "Function" -> "Function"; "" when unknown.
std::string KindFromResource(std::string_view resource);

}  // namespace ofn::platform::internal

#endif  // LIBOFN_PLATFORM_INTERNAL_OBJECTS_H_

#include "libofn/version.h"

#include "libofn/version_gen.h"

namespace ofn {
const char* Version() { return OFN_VERSION; }
}  // namespace ofn

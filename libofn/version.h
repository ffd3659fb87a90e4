#ifndef LIBOFN_VERSION_H_
#define LIBOFN_VERSION_H_

namespace ofn {
// The libofn version, e.g. "0.1.0".
const char* Version();
}  // namespace ofn

#endif  // LIBOFN_VERSION_H_

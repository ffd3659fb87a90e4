// Base64 (RFC 4648 §4, the standard alphabet with '=' padding), as Kubernetes
// Secrets and CloudEvents' data_base64 carry it.
#ifndef LIBOFN_COMMON_BASE64_H_
#define LIBOFN_COMMON_BASE64_H_

#include <string>
#include <string_view>

#include "libofn/common/status.h"

namespace ofn {

std::string Base64Encode(std::string_view bytes);
// Strict: the length is a multiple of 4, padding only at the end, no
// whitespace; the error names the offset of the first bad character.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace ofn

#endif  // LIBOFN_COMMON_BASE64_H_

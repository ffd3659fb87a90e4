// Pure steps for a Gateway's listeners: the certificates its HTTPS listeners
// name (tls.certificateRefs to Secrets of type kubernetes.io/tls), and the
// Gateway's status as OpenFunction shows it (seed 000): Scheduled and Ready
// conditions, and per listener its attached routes and a Ready condition
// that says why it is not ready (a missing or bad certificate, no HTTPS
// port). Table-tested in tests/unit/platform/listeners_test.cc.
#ifndef LIBOFN_PLATFORM_INTERNAL_LISTENERS_H_
#define LIBOFN_PLATFORM_INTERNAL_LISTENERS_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "libofn/gateway/tls.h"
#include "libofn/store/store.h"

namespace ofn::platform::internal {

struct ListenerProblem {
  std::string reason, message;
};

struct GatewayCertificates {
  std::vector<gateway::TlsCertificate> certs;
  // By listener name; listeners not named here are fine.
  std::map<std::string, ListenerProblem> problems;
};

// Finds a Secret by namespace and name (null: none).
using SecretLookup = std::function<const store::Record*(std::string_view ns, std::string_view name)>;

// The certificates of `gateway`'s HTTPS listeners (TLS mode Terminate).
// A certificate serves its listener's hostname, or its own names when the
// listener has none. `https` says whether the platform has an HTTPS port.
GatewayCertificates ListenerCertificates(const store::Record& gateway, const SecretLookup& secret, bool https);

// Adds to `problems` what only the gateway knows (a certificate OpenSSL
// refused), as TlsCertificates::SetObjects returns it.
void AddCertificateErrors(const store::Record& gateway, const std::vector<gateway::TlsCertificates::Refused>& errors,
                          GatewayCertificates* certs);

// The Gateway's status JSON; `attached_routes` is the number of accepted
// Function routes that name the Gateway.
std::string MakeGatewayStatus(const store::Record& gateway, const GatewayCertificates& certs, int attached_routes);

// "Secret <ns>/<name>": the source a certificate from a Secret carries.
std::string SecretSource(std::string_view ns, std::string_view name);

}  // namespace ofn::platform::internal

#endif  // LIBOFN_PLATFORM_INTERNAL_LISTENERS_H_

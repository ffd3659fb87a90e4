// TlsCertificates: the certificates a TLS listener serves, chosen per
// connection by the name the client asks for (SNI), replaceable while the
// listener runs. OpenSSL stays behind a pimpl.
//
// Two sources feed one table:
//  - files (cert and key PEM paths), re-read when either file changes: the
//    check runs at most once per `reload_interval` of the clock, on the next
//    handshake or Reload call, so a renewed certificate is served without a
//    restart;
//  - objects (the Gateway's HTTPS listeners and the Secrets their
//    tls.certificateRefs name), replaced as a whole by SetObjects whenever
//    the reconciler sees them change.
//
// Selection: an exact host name wins over a wildcard, a longer wildcard
// suffix over a shorter one ("*.example.com" matches "a.example.com" and
// "a.b.example.com", as the Gateway API's listener hostnames do); a client
// that sends no name, or one nothing matches, gets the first certificate.
// A certificate serves the names given with it, or when none are, the DNS
// names of its subjectAltName (its subject CN when it has none).
//
// Thread-safe.
#ifndef LIBOFN_GATEWAY_TLS_H_
#define LIBOFN_GATEWAY_TLS_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "libofn/common/clock.h"
#include "libofn/common/status.h"

namespace ofn::gateway {

struct TlsCertificate {
  std::string source;  // named in errors: "Secret default/site-tls", "/etc/ofn/site.pem"
  std::string cert_pem;  // the certificate, then its chain
  std::string key_pem;
  std::vector<std::string> hostnames;  // SNI names served; empty: the certificate's own
};

struct TlsFiles {
  std::string cert_file, key_file;
  std::vector<std::string> hostnames;  // empty: the certificate's own names
};

class TlsCertificates {
 public:
  struct Options {
    std::vector<TlsFiles> files;
    Clock* clock = nullptr;  // default Clock::System(); must outlive this
    std::chrono::milliseconds reload_interval{std::chrono::seconds(1)};
  };
  // Fails when a file cannot be read or does not hold a certificate with
  // its private key (the message names the file).
  static Result<std::shared_ptr<TlsCertificates>> Create(const Options& options);
  ~TlsCertificates();
  TlsCertificates(const TlsCertificates&) = delete;
  TlsCertificates& operator=(const TlsCertificates&) = delete;

  // A certificate refused: its source and what is wrong with it (the
  // message starts with the source too).
  struct Refused {
    std::string source, message;
  };
  // Replaces the certificates that come from objects. Each bad one (not PEM,
  // key not matching) is left out and returned; the others are served.
  std::vector<Refused> SetObjects(std::vector<TlsCertificate> certs);

  // Re-reads certificate files that changed since they were last read, if
  // reload_interval has passed since the last check (force: now). A file
  // that no longer parses keeps its last good certificate and is reported.
  std::vector<std::string> Reload(bool force = false);

  // The source of the certificate a client asking for `server_name` gets
  // ("" when there is none). For tests and status.
  std::string SourceFor(std::string_view server_name);
  size_t size();

  // The OpenSSL SSL_CTX* a TLS listener's streams are created from (its
  // SNI callback switches each connection to the chosen certificate).
  void* native_context();

 private:
  struct Impl;
  explicit TlsCertificates(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether `host` matches a listener-style name: exact, or "*.suffix" for
// any host ending in ".suffix" with at least one label before it.
bool HostnameMatches(std::string_view pattern, std::string_view host);

}  // namespace ofn::gateway

#endif  // LIBOFN_GATEWAY_TLS_H_

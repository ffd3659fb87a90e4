// TLS helpers for tests: self-signed certificates made on the spot (EC
// P-256), and a blocking TLS client that says which certificate it got.
#ifndef LIBOFN_TESTS_UNIT_TLS_UTIL_H_
#define LIBOFN_TESTS_UNIT_TLS_UTIL_H_

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

namespace ofn::testing {

struct TestCertificate {
  std::string cert_pem, key_pem;
};

inline std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

// A self-signed certificate with subject CN `cn` and the DNS names `sans`.
inline TestCertificate MakeCertificate(const std::string& cn, const std::vector<std::string>& sans) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  if (!sans.empty()) {
    std::string list;
    for (const std::string& s : sans) list += (list.empty() ? "DNS:" : ",DNS:") + s;
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, list.c_str());
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, key, EVP_sha256());
  TestCertificate out;
  BIO* cb = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cb, x);
  out.cert_pem = BioText(cb);
  BIO_free(cb);
  BIO* kb = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(kb, key, nullptr, nullptr, 0, nullptr, nullptr);
  out.key_pem = BioText(kb);
  BIO_free(kb);
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

struct TlsExchange {
  bool handshake = false;
  std::string peer_cn;   // subject CN of the certificate the server sent
  std::string alpn;      // protocol agreed by ALPN, if any
  std::string response;  // what came back, until the server closed
};

// Connects to 127.0.0.1:port, handshakes asking for `sni` (none when empty)
// without verifying, sends `request` (if any) and reads until the server closes.
inline TlsExchange TlsRequest(int port, const std::string& sni, const std::string& request,
                              const std::vector<std::string>& alpn = {}) {
  TlsExchange out;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return out;
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  if (!alpn.empty()) {
    std::string wire;
    for (const std::string& p : alpn) wire += static_cast<char>(p.size()) + p;
    SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()), static_cast<unsigned>(wire.size()));
  }
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
  if (SSL_connect(ssl) == 1) {
    out.handshake = true;
    if (X509* peer = SSL_get1_peer_certificate(ssl)) {
      char cn[256] = {};
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
      out.peer_cn = cn;
      X509_free(peer);
    }
    const unsigned char* proto = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl, &proto, &len);
    if (proto) out.alpn.assign(reinterpret_cast<const char*>(proto), len);
    if (!request.empty()) {
      SSL_write(ssl, request.data(), static_cast<int>(request.size()));
      char buf[4096];
      for (;;) {
        int n = SSL_read(ssl, buf, sizeof buf);
        if (n <= 0) break;
        out.response.append(buf, static_cast<size_t>(n));
      }
    }
  }
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  return out;
}

}  // namespace ofn::testing

#endif  // LIBOFN_TESTS_UNIT_TLS_UTIL_H_

#include "libofn/gateway/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <sstream>

#include "libofn/common/log.h"

namespace ofn::gateway {
namespace {

using CtxPtr = std::shared_ptr<SSL_CTX>;

std::string OpenSslError(std::string_view what) {
  std::string out(what);
  unsigned long e = ERR_get_error();
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += ": ";
    out += buf;
  }
  ERR_clear_error();
  return out;
}

// Offers HTTP/1.1 only: a client that asks for h2 alone goes on without ALPN.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
               void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof kHttp11, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

CtxPtr NewContext() {
  SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
  if (!raw) return nullptr;
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  SSL_CTX_set_options(raw, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(raw, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_alpn_select_cb(raw, SelectAlpn, nullptr);
  return CtxPtr(raw, SSL_CTX_free);
}

// The names a certificate is for: its subjectAltName DNS entries, else its CN.
std::vector<std::string> NamesOf(X509* cert) {
  std::vector<std::string> names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type != GEN_DNS) continue;
      const unsigned char* data = ASN1_STRING_get0_data(n->d.dNSName);
      names.emplace_back(reinterpret_cast<const char*>(data), static_cast<size_t>(ASN1_STRING_length(n->d.dNSName)));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0) names.emplace_back(cn);
  }
  for (std::string& n : names) {
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return names;
}

struct Loaded {
  CtxPtr ctx;
  std::vector<std::string> names;
};

Result<Loaded> Load(const std::string& source, const std::string& cert_pem, const std::string& key_pem) {
  ERR_clear_error();
  Loaded out;
  out.ctx = NewContext();
  if (!out.ctx) return Status(StatusCode::kInternal, OpenSslError("cannot create a TLS context"));
  std::unique_ptr<BIO, decltype(&BIO_free)> cbio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())),
                                                 BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> leaf(PEM_read_bio_X509(cbio.get(), nullptr, nullptr, nullptr),
                                                    X509_free);
  if (!leaf) return Status(StatusCode::kInvalidArgument, OpenSslError(source + ": no PEM certificate"));
  if (SSL_CTX_use_certificate(out.ctx.get(), leaf.get()) != 1) {
    return Status(StatusCode::kInvalidArgument, OpenSslError(source + ": the certificate is not usable"));
  }
  for (;;) {  // the rest of the chain
    X509* extra = PEM_read_bio_X509(cbio.get(), nullptr, nullptr, nullptr);
    if (!extra) break;
    if (SSL_CTX_add0_chain_cert(out.ctx.get(), extra) != 1) {
      X509_free(extra);
      return Status(StatusCode::kInvalidArgument, OpenSslError(source + ": a chain certificate is not usable"));
    }
  }
  ERR_clear_error();  // the end of the PEM input
  std::unique_ptr<BIO, decltype(&BIO_free)> kbio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())),
                                                 BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr),
                                                           EVP_PKEY_free);
  if (!key) return Status(StatusCode::kInvalidArgument, OpenSslError(source + ": no PEM private key"));
  if (SSL_CTX_use_PrivateKey(out.ctx.get(), key.get()) != 1 || SSL_CTX_check_private_key(out.ctx.get()) != 1) {
    return Status(StatusCode::kInvalidArgument,
                  OpenSslError(source + ": the private key does not match the certificate"));
  }
  out.names = NamesOf(leaf.get());
  return out;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(StatusCode::kNotFound, "cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What identifies a file's version: modification time and size.
std::pair<int64_t, int64_t> Stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {-1, -1};
  return {static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, static_cast<int64_t>(st.st_size)};
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

bool HostnameMatches(std::string_view pattern, std::string_view host) {
  if (pattern.starts_with("*.")) {
    std::string_view suffix = pattern.substr(1);  // ".example.com"
    return host.size() > suffix.size() && host.ends_with(suffix);
  }
  return pattern == host;
}

struct TlsCertificates::Impl {
  struct Entry {
    std::string source;
    std::vector<std::string> names;
    CtxPtr ctx;
  };
  struct File {
    TlsFiles files;
    std::pair<int64_t, int64_t> cert_stamp{-1, -1}, key_stamp{-1, -1};
    Entry entry;
  };
  Clock* clock = nullptr;
  std::chrono::milliseconds interval{0};
  CtxPtr base;  // what streams are created from; never serves a certificate itself
  std::mutex mu;
  std::vector<File> files;
  std::vector<Entry> objects;
  Clock::Duration last_check{};
  bool checked = false;

  Status LoadFile(File& f) {
    auto cs = Stamp(f.files.cert_file);
    auto ks = Stamp(f.files.key_file);
    OFN_ASSIGN_OR_RETURN(std::string cert, ReadFile(f.files.cert_file));
    OFN_ASSIGN_OR_RETURN(std::string key, ReadFile(f.files.key_file));
    OFN_ASSIGN_OR_RETURN(Loaded l, Load(f.files.cert_file, cert, key));
    f.entry.source = f.files.cert_file;
    f.entry.ctx = std::move(l.ctx);
    f.entry.names = f.files.hostnames.empty() ? std::move(l.names) : f.files.hostnames;
    for (std::string& n : f.entry.names) n = Lower(n);
    f.cert_stamp = cs;
    f.key_stamp = ks;
    return Status();
  }

  std::vector<std::string> ReloadLocked(bool force) {
    std::vector<std::string> errors;
    Clock::Duration now = clock->Monotonic();
    if (!force && checked && now - last_check < interval) return errors;
    checked = true;
    last_check = now;
    for (File& f : files) {
      if (Stamp(f.files.cert_file) == f.cert_stamp && Stamp(f.files.key_file) == f.key_stamp) continue;
      File next = f;
      if (Status st = LoadFile(next); !st.ok()) {
        // A half-written pair (new cert, old key) fails here and is retried
        // at the next check; the last good certificate stays.
        errors.push_back(st.message());
        continue;
      }
      OFN_LOG(kInfo) << "TLS certificate " << f.files.cert_file << " reloaded";
      f = std::move(next);
    }
    return errors;
  }

  // The context for a client asking for `name` (maybe empty).
  CtxPtr Pick(std::string_view name) {
    std::lock_guard<std::mutex> lock(mu);
    if (!files.empty()) {
      for (const std::string& e : ReloadLocked(false)) OFN_LOG(kWarning) << "TLS: " << e;
    }
    const Entry* best = nullptr;
    size_t best_score = 0;  // exact: SIZE_MAX; wildcard: its suffix length
    auto consider = [&](const Entry& e) {
      if (!e.ctx) return;
      if (!best) best = &e;  // the first certificate is the default
      if (name.empty()) return;
      for (const std::string& n : e.names) {
        if (!HostnameMatches(n, name)) continue;
        size_t score = n.starts_with("*.") ? n.size() : SIZE_MAX;
        if (score > best_score) {
          best_score = score;
          best = &e;
        }
      }
    };
    for (const Entry& e : objects) consider(e);
    for (const File& f : files) consider(f.entry);
    return best ? best->ctx : nullptr;
  }

  std::string SourceOf(const CtxPtr& ctx) {
    std::lock_guard<std::mutex> lock(mu);
    for (const Entry& e : objects) {
      if (e.ctx == ctx) return e.source;
    }
    for (const File& f : files) {
      if (f.entry.ctx == ctx) return f.entry.source;
    }
    return "";
  }

  static int OnServerName(SSL* ssl, int* alert, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    std::string lower = name ? Lower(name) : std::string();
    CtxPtr ctx = self->Pick(lower);
    if (!ctx) {
      *alert = SSL_AD_UNRECOGNIZED_NAME;
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    // The connection takes its own reference: replacing the table later
    // does not pull the context from under it.
    SSL_set_SSL_CTX(ssl, ctx.get());
    return SSL_TLSEXT_ERR_OK;
  }
};

TlsCertificates::TlsCertificates(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsCertificates::~TlsCertificates() = default;

Result<std::shared_ptr<TlsCertificates>> TlsCertificates::Create(const Options& options) {
  auto impl = std::make_unique<Impl>();
  impl->clock = options.clock ? options.clock : Clock::System();
  impl->interval = options.reload_interval;
  impl->base = NewContext();
  if (!impl->base) return Status(StatusCode::kInternal, OpenSslError("cannot create a TLS context"));
  SSL_CTX_set_tlsext_servername_callback(impl->base.get(), Impl::OnServerName);
  SSL_CTX_set_tlsext_servername_arg(impl->base.get(), impl.get());
  for (const TlsFiles& f : options.files) {
    Impl::File file;
    file.files = f;
    OFN_RETURN_IF_ERROR(impl->LoadFile(file));
    impl->files.push_back(std::move(file));
  }
  impl->last_check = impl->clock->Monotonic();
  impl->checked = true;
  return std::shared_ptr<TlsCertificates>(new TlsCertificates(std::move(impl)));
}

std::vector<TlsCertificates::Refused> TlsCertificates::SetObjects(std::vector<TlsCertificate> certs) {
  std::vector<Refused> errors;
  std::vector<Impl::Entry> entries;
  for (TlsCertificate& c : certs) {
    Result<Loaded> l = Load(c.source, c.cert_pem, c.key_pem);
    if (!l.ok()) {
      errors.push_back({c.source, l.status().message()});
      continue;
    }
    Impl::Entry e;
    e.source = c.source;
    e.ctx = std::move(l->ctx);
    e.names = c.hostnames.empty() ? std::move(l->names) : std::move(c.hostnames);
    for (std::string& n : e.names) n = Lower(n);
    entries.push_back(std::move(e));
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->objects = std::move(entries);
  return errors;
}

std::vector<std::string> TlsCertificates::Reload(bool force) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->ReloadLocked(force);
}

std::string TlsCertificates::SourceFor(std::string_view server_name) {
  return impl_->SourceOf(impl_->Pick(Lower(server_name)));
}

size_t TlsCertificates::size() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->objects.size() + impl_->files.size();
}

void* TlsCertificates::native_context() { return impl_->base.get(); }

}  // namespace ofn::gateway

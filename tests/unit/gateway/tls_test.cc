// TLS on the gateway: certificate choice by SNI, certificates from files
// (re-read when they change, on the manual clock) and from objects, and an
// HttpServer speaking HTTPS over real loopback sockets.
#include "libofn/gateway/tls.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "libofn/gateway/server.h"
#include "libofn/testing/loopback.h"
#include "tests/unit/test_util.h"
#include "tests/unit/tls_util.h"

namespace ofn::gateway {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::MakeCertificate;
using testing::TestCertificate;
using testing::TlsRequest;

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

TEST(HostnameMatchesTest, Table) {
  struct Case {
    const char* pattern;
    const char* host;
    bool match;
  } cases[] = {
      {"a.example.com", "a.example.com", true},  {"a.example.com", "b.example.com", false},
      {"*.example.com", "a.example.com", true},  {"*.example.com", "a.b.example.com", true},
      {"*.example.com", "example.com", false},   {"*.example.com", ".example.com", false},
      {"*.example.com", "aexample.com", false},  {"a.example.com", "", false},
  };
  for (const Case& c : cases) EXPECT_EQ(HostnameMatches(c.pattern, c.host), c.match) << c.pattern << " " << c.host;
}

struct Files {
  ofn::testing::TempDir dir;
  TlsFiles Write(const std::string& name, const TestCertificate& c) {
    TlsFiles f{dir.path() + "/" + name + ".crt", dir.path() + "/" + name + ".key", {}};
    WriteFile(f.cert_file, c.cert_pem);
    WriteFile(f.key_file, c.key_pem);
    return f;
  }
};

TEST(TlsCertificatesTest, ExactBeatsWildcardLongerWildcardBeatsShorterFirstIsTheDefault) {
  Files files;
  TlsCertificates::Options o;
  o.files.push_back(files.Write("wild", MakeCertificate("wild", {"*.example.com"})));
  o.files.push_back(files.Write("deep", MakeCertificate("deep", {"*.api.example.com"})));
  o.files.push_back(files.Write("exact", MakeCertificate("exact", {"www.example.com", "example.com"})));
  auto certs = TlsCertificates::Create(o);
  ASSERT_TRUE(certs.ok()) << certs.status().ToString();
  TlsCertificates& c = **certs;
  EXPECT_EQ(c.size(), 3u);
  EXPECT_EQ(c.SourceFor("www.example.com"), o.files[2].cert_file);
  EXPECT_EQ(c.SourceFor("WWW.Example.COM"), o.files[2].cert_file);
  EXPECT_EQ(c.SourceFor("example.com"), o.files[2].cert_file);
  EXPECT_EQ(c.SourceFor("shop.example.com"), o.files[0].cert_file);
  EXPECT_EQ(c.SourceFor("v1.api.example.com"), o.files[1].cert_file);
  EXPECT_EQ(c.SourceFor("other.org"), o.files[0].cert_file);  // nothing matches: the first
  EXPECT_EQ(c.SourceFor(""), o.files[0].cert_file);           // no SNI: the first
}

TEST(TlsCertificatesTest, ObjectsServeTheirListenerHostnameAndABadOneIsLeftOutWithItsSourceNamed) {
  auto certs = TlsCertificates::Create({});
  ASSERT_TRUE(certs.ok());
  TestCertificate a = MakeCertificate("a", {"a.example.com"});
  TestCertificate b = MakeCertificate("b", {"b.example.com"});
  std::vector<TlsCertificate> objs;
  objs.push_back({"Secret default/a", a.cert_pem, a.key_pem, {"*.shop.example.com"}});
  objs.push_back({"Secret default/mismatch", a.cert_pem, b.key_pem, {}});
  objs.push_back({"Secret default/garbage", "not a certificate", b.key_pem, {}});
  std::vector<TlsCertificates::Refused> errors = (*certs)->SetObjects(objs);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].source, "Secret default/mismatch");
  EXPECT_NE(errors[0].message.find("Secret default/mismatch: the private key does not match"), std::string::npos)
      << errors[0].message;
  EXPECT_EQ(errors[1].source, "Secret default/garbage");
  EXPECT_NE(errors[1].message.find("Secret default/garbage: no PEM certificate"), std::string::npos)
      << errors[1].message;
  EXPECT_EQ((*certs)->size(), 1u);
  EXPECT_EQ((*certs)->SourceFor("x.shop.example.com"), "Secret default/a");
  // Replaced as a whole.
  EXPECT_TRUE((*certs)->SetObjects({}).empty());
  EXPECT_EQ((*certs)->SourceFor("x.shop.example.com"), "");
}

TEST(TlsCertificatesTest, CreateNamesTheFileItCannotUse) {
  Files files;
  TlsFiles f = files.Write("c", MakeCertificate("c", {"c.example.com"}));
  TlsCertificates::Options o;
  o.files.push_back({f.cert_file, files.dir.path() + "/missing.key", {}});
  auto certs = TlsCertificates::Create(o);
  ASSERT_FALSE(certs.ok());
  EXPECT_NE(certs.status().message().find("missing.key"), std::string::npos) << certs.status().ToString();
  WriteFile(f.key_file, MakeCertificate("other", {}).key_pem);
  o.files = {f};
  certs = TlsCertificates::Create(o);
  ASSERT_FALSE(certs.ok());
  EXPECT_NE(certs.status().message().find(f.cert_file + ": the private key does not match"), std::string::npos)
      << certs.status().ToString();
}

// An HTTPS server answering "proto=<X-Forwarded-Proto> host=<host>".
struct HttpsServer {
  std::unique_ptr<HttpServer> server;
  explicit HttpsServer(std::shared_ptr<TlsCertificates> tls, milliseconds header_timeout = seconds(15)) {
    ServerOptions o;
    o.tls = std::move(tls);
    o.header_timeout = header_timeout;
    auto s = HttpServer::Start(o, [](HttpRequest& r) {
      return HttpResponse::Text(200, "proto=" + r.headers.GetOr("X-Forwarded-Proto", "") + " host=" + r.host());
    });
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (s.ok()) server = std::move(*s);
  }
  int port() const { return server->port(); }
};

const char kGet[] = "GET /x HTTP/1.1\r\nHost: a.example.com\r\nConnection: close\r\n\r\n";

TEST(HttpsServerTest, ServesHttpOverTlsWithTheCertificateTheClientAskedFor) {
  Files files;
  TlsCertificates::Options o;
  o.files.push_back(files.Write("a", MakeCertificate("cert-a", {"a.example.com"})));
  o.files.push_back(files.Write("b", MakeCertificate("cert-b", {"b.example.com"})));
  auto certs = TlsCertificates::Create(o);
  ASSERT_TRUE(certs.ok());
  HttpsServer s(*certs);
  testing::TlsExchange a = TlsRequest(s.port(), "a.example.com", kGet, {"h2", "http/1.1"});
  ASSERT_TRUE(a.handshake);
  EXPECT_EQ(a.peer_cn, "cert-a");
  EXPECT_EQ(a.alpn, "http/1.1");
  EXPECT_NE(a.response.find("HTTP/1.1 200"), std::string::npos) << a.response;
  EXPECT_NE(a.response.find("proto=https host=a.example.com"), std::string::npos) << a.response;
  EXPECT_EQ(TlsRequest(s.port(), "b.example.com", kGet).peer_cn, "cert-b");
  EXPECT_EQ(TlsRequest(s.port(), "", kGet).peer_cn, "cert-a");
  testing::TlsExchange h2only = TlsRequest(s.port(), "b.example.com", kGet, {"h2"});
  EXPECT_TRUE(h2only.handshake);  // no ALPN agreed: HTTP/1.1 all the same
  EXPECT_EQ(h2only.alpn, "");
  EXPECT_NE(h2only.response.find("HTTP/1.1 200"), std::string::npos);
}

TEST(HttpsServerTest, PlainHttpOrSilenceOnTheTlsPortIsClosedAndTheServerGoesOn) {
  Files files;
  TlsCertificates::Options o;
  o.files.push_back(files.Write("a", MakeCertificate("cert-a", {"a.example.com"})));
  auto certs = TlsCertificates::Create(o);
  ASSERT_TRUE(certs.ok());
  HttpsServer s(*certs, milliseconds(300));
  // Plain HTTP: the handshake fails, the connection is closed.
  int fd = testing::ConnectLoopback(s.port());
  ASSERT_GE(fd, 0);
  testing::SendAll(fd, kGet, sizeof kGet - 1);
  std::string got = testing::ReadUntilClose(fd);
  EXPECT_EQ(got.find("HTTP/1.1 200"), std::string::npos);
  ::close(fd);
  // Silence: closed once the handshake time (the header timeout) is out.
  int quiet = testing::ConnectLoopback(s.port());
  ASSERT_GE(quiet, 0);
  EXPECT_EQ(testing::ReadUntilClose(quiet), "");
  ::close(quiet);
  EXPECT_NE(TlsRequest(s.port(), "a.example.com", kGet).response.find("HTTP/1.1 200"), std::string::npos);
}

TEST(HttpsServerTest, ARenewedCertificateFileIsServedAfterTheReloadIntervalWithoutARestart) {
  Files files;
  ManualClock clock;
  TlsCertificates::Options o;
  o.clock = &clock;
  o.reload_interval = seconds(5);
  o.files.push_back(files.Write("site", MakeCertificate("old", {"a.example.com"})));
  auto certs = TlsCertificates::Create(o);
  ASSERT_TRUE(certs.ok());
  HttpsServer s(*certs);
  EXPECT_EQ(TlsRequest(s.port(), "a.example.com", kGet).peer_cn, "old");
  files.Write("site", MakeCertificate("new", {"a.example.com"}));
  EXPECT_EQ(TlsRequest(s.port(), "a.example.com", kGet).peer_cn, "old");  // not checked yet
  clock.Advance(seconds(5));
  EXPECT_EQ(TlsRequest(s.port(), "a.example.com", kGet).peer_cn, "new");
  // A half-written renewal (a key that does not match) keeps the last good one.
  WriteFile(o.files[0].key_file, MakeCertificate("x", {}).key_pem);
  std::vector<std::string> errors = (*certs)->Reload(true);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find(o.files[0].cert_file), std::string::npos);
  EXPECT_EQ(TlsRequest(s.port(), "a.example.com", kGet).peer_cn, "new");
}

TEST(HttpsServerTest, WithoutAnyCertificateTheHandshakeFailsAndNothingCrashes) {
  auto certs = TlsCertificates::Create({});
  ASSERT_TRUE(certs.ok());
  HttpsServer s(*certs);
  testing::TlsExchange e = TlsRequest(s.port(), "a.example.com", kGet);
  EXPECT_FALSE(e.handshake);
  TestCertificate c = MakeCertificate("late", {"a.example.com"});
  EXPECT_TRUE((*certs)->SetObjects({{"Secret default/late", c.cert_pem, c.key_pem, {}}}).empty());
  EXPECT_EQ(TlsRequest(s.port(), "a.example.com", kGet).peer_cn, "late");
}

}  // namespace
}  // namespace ofn::gateway

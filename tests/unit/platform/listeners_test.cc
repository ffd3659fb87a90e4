// The Gateway's listeners as pure steps: which certificates its HTTPS
// listeners name, what each listener's status says, as a table.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "libofn/common/base64.h"
#include "libofn/platform/internal/listeners.h"

namespace ofn::platform::internal {
namespace {

namespace json = boost::json;

store::Record Gateway(const std::string& listeners) {
  store::Record r;
  r.kind = "Gateway";
  r.ns = "openfunction";
  r.name = "gw";
  r.spec = R"({"domain":"ofn.io","gatewaySpec":{"listeners":)" + listeners + "}}";
  return r;
}

store::Record Secret(const std::string& ns, const std::string& name, const std::string& type, const std::string& crt,
                     const std::string& key) {
  store::Record r;
  r.kind = "Secret";
  r.ns = ns;
  r.name = name;
  json::object data;
  if (!crt.empty()) data["tls.crt"] = Base64Encode(crt);
  if (!key.empty()) data["tls.key"] = Base64Encode(key);
  r.spec = json::serialize(json::object{{"type", type}, {"data", data}});
  return r;
}

const char kHttp[] = R"({"name":"web","protocol":"HTTP","port":80,"hostname":"*.ofn.io"})";

TEST(ListenerCertificatesTest, Table) {
  std::vector<store::Record> secrets = {
      Secret("openfunction", "site", "kubernetes.io/tls", "CERT", "KEY"),
      Secret("other", "site", "kubernetes.io/tls", "CERT2", "KEY2"),
      Secret("openfunction", "opaque", "Opaque", "CERT", "KEY"),
  };
  SecretLookup lookup = [&](std::string_view ns, std::string_view name) -> const store::Record* {
    for (const store::Record& s : secrets) {
      if (s.ns == ns && s.name == name) return &s;
    }
    return nullptr;
  };
  struct Case {
    const char* name;
    std::string listener;
    bool https;
    std::vector<std::string> sources;  // of the certificates found
    std::vector<std::string> hostnames;
    const char* reason;  // of the listener's problem; "" for none
    const char* message_has;
  } cases[] = {
      {"plain HTTP has none", kHttp, true, {}, {}, "", ""},
      {"a Secret in the Gateway's namespace, for the listener's hostname",
       R"({"name":"tls","protocol":"HTTPS","port":443,"hostname":"*.ofn.io","tls":{"certificateRefs":[{"name":"site"}]}})",
       true, {"Secret openfunction/site"}, {"*.ofn.io"}, "", ""},
      {"another namespace; no hostname: the certificate's own names",
       R"({"name":"tls","protocol":"HTTPS","port":443,"tls":{"certificateRefs":[{"kind":"Secret","name":"site","namespace":"other"}]}})",
       true, {"Secret other/site"}, {}, "", ""},
      {"missing Secret",
       R"({"name":"tls","protocol":"HTTPS","port":443,"tls":{"certificateRefs":[{"name":"nope"}]}})", true, {}, {},
       "InvalidCertificateRef", "Secret openfunction/nope does not exist"},
      {"wrong Secret type",
       R"({"name":"tls","protocol":"HTTPS","port":443,"tls":{"certificateRefs":[{"name":"opaque"}]}})", true, {}, {},
       "InvalidCertificateRef", "is not of type kubernetes.io/tls"},
      {"not a Secret",
       R"({"name":"tls","protocol":"HTTPS","port":443,"tls":{"certificateRefs":[{"group":"example.io","kind":"Cert","name":"x"}]}})",
       true, {}, {}, "InvalidCertificateRef", "only core Secrets"},
      {"no refs", R"({"name":"tls","protocol":"HTTPS","port":443,"tls":{}})", true, {}, {}, "InvalidCertificateRef",
       "needs tls.certificateRefs"},
      {"passthrough",
       R"({"name":"tls","protocol":"HTTPS","port":443,"tls":{"mode":"Passthrough","certificateRefs":[{"name":"site"}]}})",
       true, {}, {}, "UnsupportedProtocol", "Passthrough"},
      {"no HTTPS port here: the certificate is kept, the listener says why it is not ready",
       R"({"name":"tls","protocol":"HTTPS","port":443,"tls":{"certificateRefs":[{"name":"site"}]}})", false,
       {"Secret openfunction/site"}, {}, "PortUnavailable", "--https-listen"},
  };
  for (const Case& c : cases) {
    GatewayCertificates got = ListenerCertificates(Gateway("[" + c.listener + "]"), lookup, c.https);
    std::vector<std::string> sources;
    for (const gateway::TlsCertificate& t : got.certs) {
      sources.push_back(t.source);
      EXPECT_EQ(t.hostnames, c.hostnames) << c.name;
    }
    EXPECT_EQ(sources, c.sources) << c.name;
    if (std::string(c.reason).empty()) {
      EXPECT_TRUE(got.problems.empty()) << c.name;
    } else {
      ASSERT_EQ(got.problems.size(), 1u) << c.name;
      EXPECT_EQ(got.problems.begin()->second.reason, c.reason) << c.name;
      EXPECT_NE(got.problems.begin()->second.message.find(c.message_has), std::string::npos)
          << c.name << ": " << got.problems.begin()->second.message;
    }
  }
  // The certificate's PEM is the Secret's data, decoded.
  GatewayCertificates one = ListenerCertificates(
      Gateway(R"([{"name":"tls","protocol":"HTTPS","port":443,"tls":{"certificateRefs":[{"name":"site"}]}}])"), lookup,
      true);
  ASSERT_EQ(one.certs.size(), 1u);
  EXPECT_EQ(one.certs[0].cert_pem, "CERT");
  EXPECT_EQ(one.certs[0].key_pem, "KEY");
}

TEST(GatewayStatusTest, ListenersAreReadyUnlessTheyHaveAProblemAsTheSeedShowsThem) {
  store::Record gw = Gateway(std::string("[") + kHttp +
                             R"(,{"name":"tls","protocol":"HTTPS","port":443,"tls":{"certificateRefs":[{"name":"site"}]}}])");
  GatewayCertificates fine;
  json::value ok = json::parse(MakeGatewayStatus(gw, fine, 3));
  EXPECT_EQ(ok.at("conditions").at(0).at("type"), "Scheduled");
  EXPECT_EQ(ok.at("conditions").at(1).at("type"), "Ready");
  EXPECT_EQ(ok.at("conditions").at(1).at("status"), "True");
  const json::array& ls = ok.at("listeners").as_array();
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_EQ(ls[0].at("name"), "web");
  EXPECT_EQ(ls[0].at("attachedRoutes"), 3);
  EXPECT_EQ(ls[0].at("supportedKinds").at(0).at("kind"), "HTTPRoute");
  EXPECT_EQ(ls[1].at("conditions").at(0).at("message"), "Valid listener");

  // OpenSSL refused the Secret's certificate: that listener says so.
  GatewayCertificates bad;
  AddCertificateErrors(gw,
                       {{"Secret openfunction/site", "Secret openfunction/site: the private key does not match the certificate"},
                        {"Secret elsewhere/x", "Secret elsewhere/x: no PEM certificate"}},
                       &bad);
  ASSERT_EQ(bad.problems.size(), 1u);
  json::value st = json::parse(MakeGatewayStatus(gw, bad, 0));
  EXPECT_EQ(st.at("conditions").at(1).at("status"), "False");
  const json::object& tls = st.at("listeners").at(1).as_object();
  EXPECT_EQ(tls.at("conditions").at(0).at("status"), "False");
  EXPECT_EQ(tls.at("conditions").at(0).at("reason"), "InvalidCertificateRef");
  EXPECT_NE(std::string(tls.at("conditions").at(0).at("message").as_string()).find("does not match"),
            std::string::npos);
  EXPECT_EQ(st.at("listeners").at(0).at("conditions").at(0).at("status"), "True");
}

}  // namespace
}  // namespace ofn::platform::internal

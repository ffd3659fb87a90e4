#include "libofn/platform/internal/listeners.h"

#include <boost/json.hpp>

#include "libofn/common/base64.h"
#include "libofn/common/internal/json_access.h"
#include "libofn/spec/internal/emit.h"

namespace ofn::platform::internal {

namespace json = boost::json;
using ofn::internal::Arr;
using ofn::internal::At;
using ofn::internal::Obj;
using ofn::internal::Str;

std::string SecretSource(std::string_view ns, std::string_view name) {
  return "Secret " + std::string(ns) + "/" + std::string(name);
}

GatewayCertificates ListenerCertificates(const store::Record& gw, const SecretLookup& secret, bool https) {
  GatewayCertificates out;
  json::value spec = ofn::internal::ParseObjectOrEmpty(gw.spec);
  const json::array* listeners = Arr(At(Obj(At(Obj(&spec), "gatewaySpec")), "listeners"));
  if (!listeners) return out;
  for (const json::value& lv : *listeners) {
    const json::object* l = Obj(&lv);
    std::string name = Str(l, "name");
    if (Str(l, "protocol") != "HTTPS") continue;
    const json::object* tls = Obj(At(l, "tls"));
    if (Str(tls, "mode") == "Passthrough") {
      out.problems[name] = {"UnsupportedProtocol", "TLS mode Passthrough is not supported; use Terminate"};
      continue;
    }
    const json::array* refs = Arr(At(tls, "certificateRefs"));
    if (!refs || refs->empty()) {
      out.problems[name] = {"InvalidCertificateRef", "an HTTPS listener needs tls.certificateRefs"};
      continue;
    }
    if (!https) {
      out.problems[name] = {"PortUnavailable",
                            "no HTTPS port is open here (ofn serve --https-listen, Platform::Options::https_address)"};
    }
    std::string hostname = Str(l, "hostname");
    for (const json::value& rv : *refs) {
      const json::object* ref = Obj(&rv);
      std::string kind = Str(ref, "kind");
      std::string group = Str(ref, "group");
      std::string ns = Str(ref, "namespace");
      if (ns.empty()) ns = gw.ns;
      std::string ref_name = Str(ref, "name");
      if ((!kind.empty() && kind != "Secret") || !group.empty()) {
        out.problems[name] = {"InvalidCertificateRef", "certificateRefs: only core Secrets are read, not " +
                                                           (group.empty() ? "" : group + "/") + kind};
        continue;
      }
      const store::Record* s = secret(ns, ref_name);
      if (!s) {
        out.problems[name] = {"InvalidCertificateRef", SecretSource(ns, ref_name) + " does not exist"};
        continue;
      }
      json::value body = ofn::internal::ParseObjectOrEmpty(s->spec);
      const json::object* data = Obj(At(Obj(&body), "data"));
      if (Str(Obj(&body), "type") != "kubernetes.io/tls") {
        out.problems[name] = {"InvalidCertificateRef", SecretSource(ns, ref_name) + " is not of type kubernetes.io/tls"};
        continue;
      }
      Result<std::string> crt = Base64Decode(Str(data, "tls.crt"));
      Result<std::string> key = Base64Decode(Str(data, "tls.key"));
      if (!crt.ok() || !key.ok()) {  // validated when applied; only a stored object written by hand gets here
        out.problems[name] = {"InvalidCertificateRef", SecretSource(ns, ref_name) + ": data is not base64"};
        continue;
      }
      gateway::TlsCertificate c;
      c.source = SecretSource(ns, ref_name);
      c.cert_pem = std::move(*crt);
      c.key_pem = std::move(*key);
      if (!hostname.empty()) c.hostnames.push_back(hostname);
      out.certs.push_back(std::move(c));
    }
  }
  return out;
}

void AddCertificateErrors(const store::Record& gw, const std::vector<gateway::TlsCertificates::Refused>& errors,
                          GatewayCertificates* certs) {
  json::value spec = ofn::internal::ParseObjectOrEmpty(gw.spec);
  const json::array* listeners = Arr(At(Obj(At(Obj(&spec), "gatewaySpec")), "listeners"));
  if (!listeners) return;
  for (const gateway::TlsCertificates::Refused& e : errors) {
    for (const json::value& lv : *listeners) {
      const json::object* l = Obj(&lv);
      const json::array* refs = Arr(At(Obj(At(l, "tls")), "certificateRefs"));
      if (!refs) continue;
      for (const json::value& rv : *refs) {
        std::string ns = Str(Obj(&rv), "namespace");
        std::string source = SecretSource(ns.empty() ? gw.ns : ns, Str(Obj(&rv), "name"));
        if (e.source == source) certs->problems[Str(l, "name")] = {"InvalidCertificateRef", e.message};
      }
    }
  }
}

std::string MakeGatewayStatus(const store::Record& gw, const GatewayCertificates& certs, int attached_routes) {
  auto condition = [](std::string_view type, bool ok, std::string_view reason, std::string_view message) {
    return json::object{{"type", type}, {"status", ok ? "True" : "False"}, {"reason", reason}, {"message", message}};
  };
  json::value spec = ofn::internal::ParseObjectOrEmpty(gw.spec);
  json::array listeners;
  bool all_ready = true;
  if (const json::array* ls = Arr(At(Obj(At(Obj(&spec), "gatewaySpec")), "listeners"))) {
    for (const json::value& lv : *ls) {
      std::string name = Str(Obj(&lv), "name");
      json::object entry;
      entry["name"] = name;
      entry["attachedRoutes"] = attached_routes;
      entry["supportedKinds"] = json::array{json::object{{"group", "gateway.networking.k8s.io"}, {"kind", "HTTPRoute"}}};
      auto p = certs.problems.find(name);
      if (p == certs.problems.end()) {
        entry["conditions"] = json::array{condition("Ready", true, "Ready", "Valid listener")};
      } else {
        all_ready = false;
        entry["conditions"] = json::array{condition("Ready", false, p->second.reason, p->second.message)};
      }
      listeners.push_back(std::move(entry));
    }
  }
  json::object status;
  status["conditions"] = json::array{
      condition("Scheduled", true, "Scheduled", "Gateway is scheduled"),
      all_ready ? condition("Ready", true, "Valid", "Valid Gateway")
                : condition("Ready", false, "ListenersNotReady", "a listener is not ready; see status.listeners")};
  status["listeners"] = std::move(listeners);
  return spec::internal::EmitJson(spec::internal::Canonical(status), false);
}

}  // namespace ofn::platform::internal

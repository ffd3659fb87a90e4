// HTTPRoute (gateway.networking.k8s.io v1beta1 and v1): routes applied
// directly, beside the ones Functions carry. v1beta1 and v1 share one
// schema; v1 is stored. The checks the Gateway API makes with CEL rules
// in its CRD (which libofn's schema check leaves out) are made here.
#include <boost/json.hpp>

#include "libofn/spec/internal/kinds.h"

namespace ofn::spec::internal {
namespace {

void Convert(json::object&, std::string_view, Reporter*) {}  // same schema

void Validate(const json::object& root, Reporter* rep) {
  const json::value* rules = ValueAt(root, {"spec", "rules"});
  if (!rules || !rules->is_array()) return;
  size_t i = 0;
  for (const json::value& rv : rules->as_array()) {
    const std::string rp = IndexPath("spec.rules", i++);
    const json::object* rule = rv.if_object();
    bool redirect = false, rewrite = false;
    if (const json::value* filters = rule ? rule->if_contains("filters") : nullptr; filters && filters->is_array()) {
      for (const json::value& f : filters->as_array()) {
        std::string_view type = StringOr(f.if_object(), "type", "");
        redirect = redirect || type == "RequestRedirect";
        rewrite = rewrite || type == "URLRewrite";
      }
    }
    if (redirect && rewrite) rep->Error(rp + ".filters", "RequestRedirect and URLRewrite cannot be combined");
    if (const json::value* matches = rule ? rule->if_contains("matches") : nullptr; matches && matches->is_array()) {
      size_t j = 0;
      for (const json::value& m : matches->as_array()) {
        const std::string mp = IndexPath(rp + ".matches", j++);
        const json::object* match = m.if_object();
        const json::object* path = match ? ObjectAt(*match, {"path"}) : nullptr;
        std::string_view type = StringOr(path, "type", "PathPrefix");
        std::string_view value = StringOr(path, "value", "/");
        if (type != "RegularExpression" && (value.empty() || value.front() != '/')) {
          rep->Error(mp + ".path.value", "must be an absolute path (start with \"/\")");
        }
      }
    }
  }
}

}  // namespace

KindRules HttpRouteRules() {
  KindRules r;
  r.group = "gateway.networking.k8s.io";
  r.kind = "HTTPRoute";
  r.versions = {"v1beta1", "v1"};
  r.convert = Convert;
  r.validate = Validate;
  return r;
}

}  // namespace ofn::spec::internal

// Per-kind rules: what OpenFunction's webhooks and conversion do for each kind
// beyond the CRD schema. Internal.
#ifndef LIBOFN_SPEC_INTERNAL_KINDS_H_
#define LIBOFN_SPEC_INTERNAL_KINDS_H_

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string_view>
#include <vector>

#include "libofn/common/internal/json_access.h"
#include "libofn/spec/internal/tree.h"
#include "libofn/spec/units.h"

namespace ofn::spec::internal {

struct ObjectData {
  json::value root;  // apiVersion, kind, metadata, spec, status
};

struct KindRules {
  std::string_view group;
  std::string_view kind;
  bool namespaced = true;
  bool name_is_label = false;  // name must be a DNS-1123 label (it becomes a host label)
  // The body is at the top level (type, data, ...), not under spec, as in
  // core Secrets; the store keeps it as the spec all the same.
  bool body_at_root = false;
  std::vector<std::string_view> versions;  // served; the last one is the storage version
  // Rewrites the accepted non-CRD forms of the seeds, with a warning each. Runs
  // before the schema check, on the version the user wrote.
  void (*normalize)(json::object& root, std::string_view version, Reporter* rep) = nullptr;
  // Converts from `version` to the storage version (only called when they differ).
  void (*convert)(json::object& root, std::string_view version, Reporter* rep) = nullptr;
  // Webhook defaulting, after schema defaults.
  void (*defaults)(json::object& root) = nullptr;
  // Webhook validation on the defaulted storage-version object.
  void (*validate)(const json::object& root, Reporter* rep) = nullptr;

  std::string_view storage_version() const { return versions.back(); }
};

const KindRules* FindKind(std::string_view group, std::string_view kind);
const std::vector<KindRules>& AllKinds();

// Rule sets, one file each.
KindRules FunctionRules();
KindRules GatewayRules();
KindRules PluginRules();
KindRules SecretRules();
KindRules ConfigMapRules();
KindRules HttpRouteRules();
KindRules ComponentRules();
std::vector<KindRules> EventsRules();

// Helpers shared by the rule files.
// The JSON accessors are common/internal/json_access.h's.
using ofn::internal::EnsureObject;
using ofn::internal::ObjectAt;
using ofn::internal::StringOr;
using ofn::internal::ValueAt;
bool IsDns1123Label(std::string_view s);
bool IsDns1123Subdomain(std::string_view s);
// A Secret or ConfigMap data key: alphanumerics, '-', '_', '.'; not "." or "..".
bool IsConfigKey(std::string_view s);
// A Dapr component spec (type, version, metadata) at `path`: the type's
// building block (`expected_block` when not empty), unique metadata names,
// one value source each, a bindings.cron schedule that parses; a warning for
// types not built in (component_rules.cc).
void ValidateComponentSpec(const json::object& spec, const std::string& path, std::string_view expected_block,
                           Reporter* rep);
using spec::ParseGoDuration;  // libofn/spec/units.h
using spec::ParseQuantity;

}  // namespace ofn::spec::internal

#endif  // LIBOFN_SPEC_INTERNAL_KINDS_H_

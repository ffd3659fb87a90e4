// Dapr components as libofn reads them (Component objects of dapr.io/v1alpha1
// and the ones a Function embeds in serving.bindings, serving.pubsub and
// serving.states): the component types built in, and where each building
// block's types live.
#ifndef LIBOFN_SPEC_COMPONENTS_H_
#define LIBOFN_SPEC_COMPONENTS_H_

#include <string>
#include <string_view>
#include <vector>

namespace ofn::spec {

// The types the built-in component registry implements ("bindings.cron",
// "pubsub.in-memory", ...), sorted. A host may register more.
const std::vector<std::string_view>& BuiltinComponentTypes();

// "bindings", "pubsub" or "state" for a type libofn serves ("bindings.cron"
// -> "bindings"); "" for any other building block.
std::string_view ComponentBlock(std::string_view type);

// Why a component type is not built in, and what would make it run
// (e.g. bindings.kafka: no Kafka client or broker here). "" when built in.
std::string ComponentTypeHint(std::string_view type);

}  // namespace ofn::spec

#endif  // LIBOFN_SPEC_COMPONENTS_H_

// The components over brokers' client libraries: Redis (events/redis.cc:
// pubsub.redis, state.redis, bindings.redis) and NATS JetStream
// (events/nats.cc: pubsub.jetstream) and MQTT (events/mqtt.cc: pubsub.mqtt3,
// bindings.mqtt3). Internal; RegisterBuiltinComponents
// registers them.
#ifndef LIBOFN_EVENTS_INTERNAL_BROKERS_H_
#define LIBOFN_EVENTS_INTERNAL_BROKERS_H_

#include "libofn/events/component.h"

namespace ofn::events {

void RegisterRedisComponents(ComponentRegistry* registry);
void RegisterNatsComponents(ComponentRegistry* registry);
void RegisterMqttComponents(ComponentRegistry* registry);
// state.sqlite (events/sqlite_state.cc).
void RegisterSqliteComponents(ComponentRegistry* registry);

}  // namespace ofn::events

#endif  // LIBOFN_EVENTS_INTERNAL_BROKERS_H_

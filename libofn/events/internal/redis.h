// The Redis components (events/redis.cc): pubsub.redis, state.redis,
// bindings.redis. Internal; RegisterBuiltinComponents registers them.
#ifndef LIBOFN_EVENTS_INTERNAL_REDIS_H_
#define LIBOFN_EVENTS_INTERNAL_REDIS_H_

#include "libofn/events/component.h"

namespace ofn::events {

void RegisterRedisComponents(ComponentRegistry* registry);

}  // namespace ofn::events

#endif  // LIBOFN_EVENTS_INTERNAL_REDIS_H_

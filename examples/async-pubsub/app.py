"""The functions of the async-pubsub example (OpenFunction signature: ctx, data).

producer   — triggered by the cron binding; sends a numbered tick to the
             "ticks" topic of the "bus" pub/sub (ctx.send) and records how
             many it produced in the "store" state store.
subscriber — triggered by that topic; keeps the last tick and a count in its
             function input, the "store" state store (the Dapr state API).
reader     — an HTTP function that answers with what the store holds.
"""
import itertools

_ticks = itertools.count(1)


def producer(ctx, data):
    n = next(_ticks)
    ctx.send({"tick": n}, "bus")
    ctx.state_save("store", "produced", n)
    return ""


def subscriber(ctx, data):
    (store,) = ctx.states  # its triggers.inputs: one state store
    seen = ctx.state_get(store, "seen") or 0
    ctx.state_save(store, "seen", seen + 1)
    ctx.state_save(store, "last", data)
    return ""


def reader(ctx, data):
    return {"produced": ctx.state_get("store", "produced") or 0, "seen": ctx.state_get("store", "seen") or 0,
            "last": ctx.state_get("store", "last")}

"""Scripting libofn from Python: apply a Function served by a Python
function in this process, call it, roll out a second version with a 90/10
traffic split, and watch the idle revision scale to zero on the manual
clock (two minutes of platform time in milliseconds).

    PYTHONPATH=build/bindings/python python3 examples/python-scripting/script.py
"""
import collections

import ofn

FUNCTION = {
    "apiVersion": "core.openfunction.io/v1beta2",
    "kind": "Function",
    "metadata": {"name": "hello"},
    "spec": {
        "version": "v1.0.0",
        "image": "ofn.local/hello:latest",
        "serving": {
            "params": {"FUNC_NAME": "hello-v1"},
            "template": {"containers": [{"name": "function"}]},
            "triggers": {"http": {"port": 8080}},
        },
    },
}


def main():
    with ofn.Platform(listen=None, manual_clock=True) as p:
        @p.function("hello-v1")
        def v1(request):
            return "Hello, %s!" % request.args.get("name", "World")

        @p.function("hello-v2")
        def v2(request):
            return "Hi, %s!" % request.args.get("name", "World")

        p.apply(FUNCTION)
        p.wait_ready("hello")
        print("hello v1:", p.invoke("hello", path="/?name=Ada").text)

        # Version 2, then 90 % of the traffic on version 1 and 10 % on version 2.
        FUNCTION["spec"]["version"] = "v2.0.0"
        FUNCTION["spec"]["serving"]["params"]["FUNC_NAME"] = "hello-v2"
        p.apply(FUNCTION)
        p.sync()
        FUNCTION["spec"]["traffic"] = [{"revisionName": "hello-00001", "percent": 90},
                                       {"revisionName": "hello-00002", "percent": 10}]
        with p.watch("Function", timeout=5) as changes:
            p.apply(FUNCTION)
            for change in changes:
                traffic = change.object.get("status", {}).get("serving", {})
                if change.type == "MODIFIED" and traffic.get("resourceRef") == "hello-00002":
                    break
        p.sync()
        counts = collections.Counter(p.invoke("hello").text.split(",")[0] for _ in range(200))
        print("split over 200 requests: v1=%d v2=%d" % (counts["Hello"], counts["Hi"]))
        print("revisions:", ", ".join("%s %d%%" % (r["name"], r["percent"]) for r in p.revisions("hello")))

        # Two idle minutes of platform time: every revision goes to zero.
        p.clock.advance(minutes=2)
        idle = all(r["ready_instances"] == 0 for r in p.revisions("hello"))
        print("scaled to zero after 120 s idle:", idle)


if __name__ == "__main__":
    main()

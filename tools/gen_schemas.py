#!/usr/bin/python3
"""Extracts the OpenAPI schemas libofn validates against from the upstream CRDs.

Usage: tools/gen_schemas.py [--crds DIR] [--out DIR] [--check]

For each kind libofn reads (Function, Gateway, EventSource, EventBus,
ClusterEventBus, Trigger, HTTPRoute, Dapr's Component) and each served version, writes
<out>/<group>_<version>_<kind>.json: the openAPIV3Schema with the OpenFunction
kustomize JSON6902 patches applied (DynamicValue metadata values of any type)
and documentation keys removed. One libofn extension: the route rules of a v1beta2
Function take the filters of the Gateway API's HTTPRoute v1 (URLRewrite,
RequestRedirect.path, ...), because the v1alpha2 filters OpenFunction's CRD pins
have no URL rewriting; and spec.traffic (Knative's TrafficTarget: revisionName |
latestRevision, percent, tag) plus spec.serving.containerConcurrency. --check compares instead of writing and exits 1
on any difference, so a test can prove the committed files match the CRDs.
"""
import argparse
import json
import os
import sys

import yaml

KINDS = {
    "core.openfunction.io_functions.yaml": "Function",
    "networking.openfunction.io_gateways.yaml": "Gateway",
    "events.openfunction.io_eventsources.yaml": "EventSource",
    "events.openfunction.io_eventbuses.yaml": "EventBus",
    "events.openfunction.io_clustereventbuses.yaml": "ClusterEventBus",
    "events.openfunction.io_triggers.yaml": "Trigger",
    "gateway.networking.k8s.io_httproutes.yaml": "HTTPRoute",
    "dapr.io_components.yaml": "Component",
}
PATCHES = {"core.openfunction.io_functions.yaml": "patches/dynamicvalue_in_functions.yaml"}
DROP = {"description", "example", "externalDocs", "title"}


def strip(node):
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k in DROP:
                continue
            if k == "properties":
                out[k] = {pk: strip(pv) for pk, pv in v.items()}
            else:
                out[k] = strip(v)
        return out
    if isinstance(node, list):
        return [strip(i) for i in node]
    return node


def apply_patch(doc, ops):
    for op in ops:
        if op["op"] != "replace":
            raise SystemExit("unsupported patch op %r" % op["op"])
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        cur = doc
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        cur[parts[-1]] = op["value"]


def httproute_v1_filters(crds):
    with open(os.path.join(crds, "gateway.networking.k8s.io_httproutes.yaml")) as fh:
        crd = yaml.safe_load(fh)
    for v in crd["spec"]["versions"]:
        if v["name"] == "v1":
            rules = v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["rules"]
            return strip(rules["items"]["properties"]["filters"])
    raise SystemExit("HTTPRoute v1 not found")


# libofn extension: Knative's TrafficTarget list on a v1beta2 Function.
TRAFFIC = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "revisionName": {"type": "string"},
            "latestRevision": {"type": "boolean"},
            "percent": {"type": "integer", "format": "int64", "minimum": 0, "maximum": 100},
            "tag": {"type": "string"},
        },
    },
}


def drop_cel(node):
    if isinstance(node, dict):
        return {k: drop_cel(v) for k, v in node.items() if k != "x-kubernetes-validations"}
    if isinstance(node, list):
        return [drop_cel(i) for i in node]
    return node


def generate(crds):
    out = {}
    filters = drop_cel(httproute_v1_filters(crds))
    for fname, kind in KINDS.items():
        with open(os.path.join(crds, fname)) as fh:
            crd = yaml.safe_load(fh)
        if fname in PATCHES:
            with open(os.path.join(crds, PATCHES[fname])) as fh:
                apply_patch(crd, yaml.safe_load(fh))
        group = crd["spec"]["group"]
        for v in crd["spec"]["versions"]:
            if not v.get("served", True):
                continue
            schema = strip(v["schema"]["openAPIV3Schema"])
            if kind == "HTTPRoute":
                schema = drop_cel(schema)  # CEL rules are the apiserver's; libofn checks them in code
            if kind == "Function" and v["name"] == "v1beta2":
                route = schema["properties"]["spec"]["properties"]["serving"]["properties"][
                    "triggers"]["properties"]["http"]["properties"]["route"]
                route["properties"]["rules"]["items"]["properties"]["filters"] = filters
                spec = schema["properties"]["spec"]
                spec["properties"]["traffic"] = TRAFFIC
                spec["properties"]["serving"]["properties"]["containerConcurrency"] = {
                    "type": "integer", "format": "int64", "minimum": 0, "maximum": 1000}
            name = "%s_%s_%s.json" % (group, v["name"], kind)
            out[name] = json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n"
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--crds", default=os.path.join(here, "..", "..", "shared", "k8s-crds"))
    ap.add_argument("--out", default=os.path.join(here, "..", "libofn", "spec", "schemas"))
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    files = generate(a.crds)
    bad = 0
    for name, text in sorted(files.items()):
        path = os.path.join(a.out, name)
        if a.check:
            try:
                with open(path) as fh:
                    same = fh.read() == text
            except OSError:
                same = False
            if not same:
                print("%s: differs from the CRD" % path)
                bad += 1
        else:
            with open(path, "w") as fh:
                fh.write(text)
            print("wrote %s (%d bytes)" % (path, len(text)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

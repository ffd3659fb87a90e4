"""A Python function for libofn's process backend, served by ofn.framework.

GET  /        -> "Hello, <GREETING>!" (GREETING comes from serving.params)
POST /        -> the JSON body, with the function's name and version added
"""
import os

from ofn.framework import Response

REVISION_NOTE = os.environ.get("GREETING", "World")


def hello(request):
    if request.method == "POST":
        doc = request.get_json() or {}
        doc["handledBy"] = os.environ.get("FUNC_NAME", "hello-python")
        return doc
    who = request.args.get("name") or REVISION_NOTE
    return Response("Hello, %s!\n" % who, headers={"X-Greeting": REVISION_NOTE})

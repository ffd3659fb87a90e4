#!/usr/bin/env bash
# Makes the git repository function.yaml builds from, or adds a commit to it:
#
#   bash examples/build-from-git/make-repo.sh [GREETING]
#
# The repository is $OFN_EXAMPLE_GIT_ROOT/build-from-git.git (default
# /tmp/ofn-examples/build-from-git.git): a C++ function in hello/ (built into a
# library the in-process backend loads) and a Python function in greet/
# (bundled and served by the Python functions framework as a process).
# function.yaml names it as https://github.com/libofn/build-from-git.git;
# `ofn serve --git-mirror https://github.com/libofn/=file:///tmp/ofn-examples/`
# fetches it from here, so the manifest builds unchanged without internet.
# Each run commits the greeting given (default "Hello") and prints the commit.
set -euo pipefail
root=${OFN_EXAMPLE_GIT_ROOT:-/tmp/ofn-examples}
repo=$root/build-from-git.git
greeting=${1:-Hello}
case $greeting in *[\"\\]*) echo "make-repo.sh: the greeting must not hold quotes or backslashes" >&2; exit 1 ;; esac

if [ ! -d "$repo/.git" ]; then
  mkdir -p "$repo"
  git -C "$repo" init -q -b main
  git -C "$repo" config user.email example@ofn.io
  git -C "$repo" config user.name "libofn example"
fi

mkdir -p "$repo/hello" "$repo/greet"
cat >"$repo/hello/hello.cc" <<CC
// An HTTP function in C++, built from this repository by libofn's cxx strategy.
#include <string>

#include "libofn/serve/function.h"

namespace {

ofn::HttpResponse Hello(const ofn::HttpRequest& request) {
  return ofn::HttpResponse::Text(200, "$greeting from git! (path " + std::string(request.path()) + ")\n");
}

}  // namespace

OFN_REGISTER_FUNCTIONS(registrar) { registrar->Http("Hello", Hello); }
CC
cat >"$repo/greet/main.py" <<PY
"""A Python function built from git: FUNC_NAME=greet in spec.build.env."""


def greet(request):
    who = request.args.get("name", "world")
    return "$greeting, %s! (from Python)\n" % who
PY
git -C "$repo" add -A
git -C "$repo" commit -q --allow-empty -m "greeting: $greeting"
git -C "$repo" rev-parse HEAD

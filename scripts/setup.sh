#!/usr/bin/env bash
# Installs what libofn needs from Debian's packages. Idempotent: when every
# package is already installed it does nothing (no apt-get update, no install).
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ meson ninja-build pkg-config git
  # libraries
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libboost-filesystem1.81-dev libboost-program-options1.81-dev
  libsqlite3-dev sqlite3 libgit2-dev libssl-dev openssl libre2-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libyaml-cpp-dev libcli11-dev libjemalloc-dev
  # tests and benchmarks; clang's libFuzzer for the fuzz harnesses
  libgtest-dev libgmock-dev libbenchmark-dev clang-14 libclang-rt-14-dev
  # python bindings and test tools (python packages come from Debian, not PyPI)
  python3 python3-dev pybind11-dev python3-yaml python3-jsonschema python3-pytest
  # process-backend examples and tests (a Node.js function)
  nodejs procps
  # the async runtime: the Redis components and the Redis server their tests start
  libhiredis-dev redis-server libnats-dev nats-server libmosquitto-dev mosquitto
  # the containerd backend: its API protos (the gRPC client is generated from
  # them), and containerd, runc, a registry and a static busybox for its tests
  golang-github-containerd-containerd-dev golang-github-gogo-protobuf-dev golang-github-gogo-googleapis-dev
  containerd runc docker-registry busybox-static
  # Dockerfile builds (spec.build.dockerfile) into containerd images; an sshd
  # the build tests start on a loopback port (ssh:// sources)
  buildah openssh-server
  curl iproute2 util-linux
)
# `scripts/setup.sh --bench`: what benches/ compare with (load generator,
# reference proxy).
if [ "${1:-}" = --bench ]; then PACKAGES+=(wrk nginx-light nghttp2-client); fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -ne 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # Packages install, services do not start: the tests start every server
  # they use (openssh-server's and containerd's system services stay off).
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod 755 "$policy" && own_policy=1
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || { [ -n "$own_policy" ] && $SUDO rm -f "$policy"; exit 1; }
  if [ -n "$own_policy" ]; then $SUDO rm -f "$policy"; fi
fi

# The client SDKs the tests drive the runtimes with (CloudEvents, Dapr's JS
# client), from the npm registry into tests/sdk/node_modules (nothing
# global); only when one is missing.
SDK_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/sdk"
if [ -f "$SDK_DIR/package.json" ] && { [ ! -f "$SDK_DIR/node_modules/cloudevents/package.json" ] ||
  [ ! -f "$SDK_DIR/node_modules/@dapr/dapr/package.json" ]; }; then
  echo "setup: npm install in tests/sdk" >&2
  (cd "$SDK_DIR" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

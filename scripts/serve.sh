#!/usr/bin/env bash
# Sets up the machine, builds ofn, and runs the embedded default on the
# hello-world example (or on the manifests given as arguments).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build -j2 >/dev/null
if [ $# -eq 0 ]; then
  set -- examples/hello-world/host-based.yaml examples/hello-world/path-based.yaml \
    examples/hello-world/host-and-path.yaml
fi
args=()
for f in "$@"; do args+=(-f "$f"); done
# The example function is built into build/examples/hello-world.so.
exec ./build/libofn/ofn serve --lib-dir build/examples "${args[@]}"

#!/usr/bin/env bash
# Builds example.local/containerd-hello:v1 into containerd (namespace ofn):
# busybox-static's httpd serving site/ on the instance's $PORT, on an empty
# rootfs. Give containerd's socket as $OFN_CONTAINERD (default: its usual one).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ofn="${OFN:-$here/../../build/libofn/ofn}"
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin" "$ctx/www"
cp /bin/busybox "$ctx/bin/busybox"   # Debian's busybox-static: no libraries needed
ln -s busybox "$ctx/bin/sh"
ln -s busybox "$ctx/bin/httpd"
cp -r "$here/site/." "$ctx/www/"
"$ofn" image build "$ctx" -t example.local/containerd-hello:v1 \
  --entrypoint 'echo "hello-container on port $PORT"; trap "exit 0" TERM; httpd -f -p 127.0.0.1:$PORT -h /www & wait'

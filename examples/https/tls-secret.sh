#!/usr/bin/env bash
# Prints a kubernetes.io/tls Secret (namespace openfunction, name
# example-com-tls) holding a new self-signed certificate for *.example.com.
#   tls-secret.sh [NAME] [HOSTNAME]
set -euo pipefail
name=${1:-example-com-tls}
host=${2:-*.example.com}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=$host" \
  -addext "subjectAltName=DNS:$host" -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
cat <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: $name
  namespace: openfunction
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 "$dir/tls.crt")
  tls.key: $(base64 -w0 "$dir/tls.key")
YAML

#!/bin/sh
# The mkcert equivalent of `bkenv init --mtls`: a CA (created by the first call in a fresh
# CAROOT) and the three leaves bkenv issues, all ECDSA P-256 like bkenv's default.
# Usage: mkcert-env.sh DIR   (DIR must exist and be empty)
set -e
mkdir -p "$1"
cd "$1"
export CAROOT="$1"
mkcert -ecdsa -cert-file registry.crt -key-file registry.key \
  registry localhost 127.0.0.1 ::1 2>/dev/null
mkcert -ecdsa -cert-file buildkitd.crt -key-file buildkitd.key \
  buildkitd localhost 127.0.0.1 ::1 2>/dev/null
mkcert -ecdsa -client -cert-file client.crt -key-file client.key buildctl 2>/dev/null

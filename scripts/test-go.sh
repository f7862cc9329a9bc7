#!/usr/bin/env bash
# The Go binding's tests (cgo, standard library only) against the C SDK.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v go >/dev/null 2>&1; then
    echo "error: go not found; install Go 1.21+ to run the Go binding's tests" >&2
    exit 1
fi
if ! command -v pkg-config >/dev/null 2>&1; then
    echo "== installing pkg-config from Debian packages"
    apt-get update -qq && apt-get install -y -qq pkg-config >/dev/null
fi
sdk="$(scripts/install.sh target/c-sdk | tail -n1)"
# The binding finds the SDK the way a user's program does: pkg-config (drift.pc's rpath
# finds libdrift.so.0 at run time).
export PKG_CONFIG_PATH="$sdk/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=1
# Go's build cache does not see changes to headers outside the module: key it on the
# header's hash so a changed drift.h rebuilds the binding.
export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g} -DDRIFT_HEADER_HASH=$(sha256sum "$sdk/include/drift.h" | cut -c1-16)"
cd bindings/go
go vet ./...
go test -count=1 -race -v ./...

#!/usr/bin/env bash
# The Go binding's tests (cgo, standard library only) against the C SDK.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v go >/dev/null 2>&1; then
    echo "error: go not found; install Go 1.21+ to run the Go binding's tests" >&2
    exit 1
fi
sdk="$(scripts/build-c-sdk.sh target/c-sdk | tail -n1)"
export LD_LIBRARY_PATH="$sdk/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=1
cd bindings/go
go vet ./...
go test -count=1 -race -v ./...

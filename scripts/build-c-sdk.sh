#!/usr/bin/env bash
# Builds libdrift (release) and lays out a C SDK: <prefix>/include/drift.h,
# <prefix>/lib/libdrift.{so,so.0,a}, <prefix>/lib/pkgconfig/drift.pc.
#   scripts/build-c-sdk.sh [prefix]        (default: target/c-sdk)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="$(mkdir -p "${1:-target/c-sdk}" && cd "${1:-target/c-sdk}" && pwd)"
cargo build --release --locked --lib
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
mkdir -p "$prefix/include" "$prefix/lib/pkgconfig"
cp include/drift.h "$prefix/include/"
cp target/release/libdrift.so "$prefix/lib/libdrift.so.$version"
ln -sf "libdrift.so.$version" "$prefix/lib/libdrift.so.0"
ln -sf "libdrift.so.0" "$prefix/lib/libdrift.so"
cp target/release/libdrift.a "$prefix/lib/"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" ffi/drift.pc.in > "$prefix/lib/pkgconfig/drift.pc"
echo "$prefix"

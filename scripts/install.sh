#!/usr/bin/env bash
# Installs drift's C SDK — the one install path for C, C++, Go and Java:
#   <prefix>/include/drift.h
#   <prefix>/lib/libdrift.so.<version>, libdrift.so.0, libdrift.so   (no debug info)
#   <prefix>/lib/libdrift.a
#   <prefix>/lib/pkgconfig/drift.pc                                  (with an rpath)
#
#   scripts/install.sh                 # into /usr/local (needs root; runs ldconfig)
#   scripts/install.sh ~/.local        # into any prefix
#
# Builds only the library and its dependencies (Cargo profile `sdk`: release without
# debug info; features: the defaults, S3 tier and Arrow), never the command-line tool's.
# Needs a stable Rust toolchain (1.89+).
#
# drift's own test scripts set DRIFT_SDK_PROFILE=dev: the same files laid out the same
# way, from the library the Rust tests already built (nothing is compiled twice).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found. Install a stable Rust toolchain (rustup.rs) and rerun." >&2
    exit 1
fi
prefix="${1:-/usr/local}"
mkdir -p "$prefix/include" "$prefix/lib/pkgconfig"
prefix="$(cd "$prefix" && pwd)"
case "${DRIFT_SDK_PROFILE:-sdk}" in
    sdk) cargo build --profile sdk --locked --lib >&2; built=target/sdk ;;
    dev) cargo build --locked --lib --features cli,unstable >&2; built=target/debug ;;
    *) echo "error: DRIFT_SDK_PROFILE must be sdk or dev" >&2; exit 1 ;;
esac
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
install -m 644 include/drift.h "$prefix/include/drift.h"
install -m 755 "$built/libdrift.so" "$prefix/lib/libdrift.so.$version"
ln -sf "libdrift.so.$version" "$prefix/lib/libdrift.so.0"
ln -sf "libdrift.so.0" "$prefix/lib/libdrift.so"
install -m 644 "$built/libdrift.a" "$prefix/lib/libdrift.a"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" ffi/drift.pc.in > "$prefix/lib/pkgconfig/drift.pc"
# The system loader finds libdrift.so.0 in a system prefix once its cache is refreshed.
if [ "$(id -u)" = 0 ] && command -v ldconfig >/dev/null 2>&1 && ldconfig -p >/dev/null 2>&1; then
    case "$prefix" in /usr/local | /usr) ldconfig ;; esac
fi
echo "$prefix"

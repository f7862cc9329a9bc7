#!/usr/bin/env bash
# The C and C++ tests: compiled with gcc/g++ under AddressSanitizer and
# UndefinedBehaviorSanitizer against the SDK that scripts/install.sh lays out,
# plus the CMake/pkg-config usage example.
set -euo pipefail
cd "$(dirname "$0")/.."
# cmake and pkg-config ship with the project's machines; install them if a machine lacks them.
if ! command -v cmake >/dev/null 2>&1 || ! command -v pkg-config >/dev/null 2>&1; then
    echo "== installing cmake and pkg-config from Debian packages"
    apt-get update -qq && apt-get install -y -qq cmake pkg-config >/dev/null
fi
sdk="$(scripts/install.sh target/c-sdk | tail -n1)"
out=target/ffi-tests
mkdir -p "$out"
soname="$(objdump -p "$sdk/lib/libdrift.so" | awk '/SONAME/ {print $2}')"
if [ "$soname" != "libdrift.so.0" ]; then
    echo "error: libdrift.so has soname '$soname', expected libdrift.so.0" >&2
    exit 1
fi
flags=(-g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -I"$sdk/include" -Iffi/tests -Wall -Wextra -Werror)
gcc -std=c11 "${flags[@]}" ffi/tests/test_api.c -o "$out/test_api" -L"$sdk/lib" -ldrift -lpthread -lm
g++ -std=c++17 "${flags[@]}" ffi/tests/test_cpp.cpp -o "$out/test_cpp" -L"$sdk/lib" -ldrift
gcc -std=c11 "${flags[@]}" ffi/tests/test_s3.c -o "$out/test_s3" -L"$sdk/lib" -ldrift -lpthread
# The C ABI matrix: generated from the header, so a new function cannot be missed.
python3 scripts/abi-matrix.py "$sdk/include/drift.h" > "$out/abi_matrix.c"
gcc -std=c11 "${flags[@]}" "$out/abi_matrix.c" -o "$out/abi_matrix" -L"$sdk/lib" -ldrift -lpthread
export LD_LIBRARY_PATH="$sdk/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
"$out/test_api"
"$out/test_cpp"
"$out/test_s3"   # against DRIFT_S3_ENDPOINT when set (scripts/test-all.sh sets it)
"$out/abi_matrix"
# Static linking works too.
gcc -std=c11 -I"$sdk/include" ffi/cmake-example/main.c "$sdk/lib/libdrift.a" -lpthread -ldl -lm -o "$out/example_static"
(cd "$out" && rm -rf static-db && ./example_static static-db >/dev/null)
# The CMake usage example, through pkg-config.
rm -rf "$out/cmake-build" "$out/example-db"
PKG_CONFIG_PATH="$sdk/lib/pkgconfig" cmake -S ffi/cmake-example -B "$out/cmake-build" >/dev/null
cmake --build "$out/cmake-build" >/dev/null
"$out/cmake-build/drift_example" "$out/example-db"
echo "C/C++ tests: 4 passed, 0 failed"

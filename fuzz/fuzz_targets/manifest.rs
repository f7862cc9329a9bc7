//! libFuzzer target: `drift::fuzz::manifest` (see src/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| drift::fuzz::manifest(data));

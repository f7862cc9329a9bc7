//! libFuzzer target: `drift::fuzz::filter` (see src/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| drift::fuzz::filter(data));

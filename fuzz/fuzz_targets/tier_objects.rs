//! libFuzzer target: `drift::fuzz::tier_objects` (see src/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| drift::fuzz::tier_objects(data));

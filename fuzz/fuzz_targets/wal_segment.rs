//! libFuzzer target: `drift::fuzz::wal_segment` (see src/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| drift::fuzz::wal_segment(data));

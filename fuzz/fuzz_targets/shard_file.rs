//! libFuzzer target: `drift::fuzz::shard_file` (see src/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| drift::fuzz::shard_file(data));

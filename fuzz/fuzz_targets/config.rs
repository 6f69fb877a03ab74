//! config.json parsing + validation + pure planning (husk::fuzz_targets::config).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| husk::fuzz_targets::config(data));

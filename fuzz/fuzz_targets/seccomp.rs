//! The seccomp compiler on a `linux.seccomp` object (husk::fuzz_targets::seccomp).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| husk::fuzz_targets::seccomp(data));

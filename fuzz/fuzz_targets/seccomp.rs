//! The seccomp compiler on a `linux.seccomp` object (entry_points::seccomp).
#![no_main]

#[allow(dead_code)] // each target uses one of the entry points
#[path = "../entry_points.rs"]
mod entry_points;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry_points::seccomp(data));

//! config.json parsing + validation + pure planning (entry_points::config).
#![no_main]

#[allow(dead_code)] // each target uses one of the entry points
#[path = "../entry_points.rs"]
mod entry_points;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry_points::config(data));

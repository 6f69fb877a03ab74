//! The only module allowed to use `unsafe`: one safe wrapper per system call that nix lacks
//! or exposes awkwardly. Each wrapper turns -1 into an error right there.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod bpf;
pub mod fs;
pub mod process;
pub mod sched;
pub mod seccomp;
pub mod socket;
pub mod tty;

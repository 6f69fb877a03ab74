//! husk: an OCI runtime-spec container runtime, a drop-in replacement for runc.
//!
//! Unsafe code lives only in [`sys`]: every other module is written against its safe wrappers.
#![deny(unsafe_code)]

pub mod cgroups;
pub mod console;
pub mod error;
pub mod hooks;
pub mod security;
#[allow(unsafe_code)]
pub mod sys;

pub use error::{Context, Error, Kind, Result};

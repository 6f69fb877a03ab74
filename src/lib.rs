//! husk: an OCI runtime-spec container runtime, a drop-in replacement for runc.
//!
//! Unsafe code lives only in [`sys`]: every other module is written against its safe wrappers.
#![deny(unsafe_code)]

pub mod cgroups;
pub mod cli;
pub mod commands;
pub mod console;
pub mod criu;
pub mod devfilter;
pub mod error;
pub mod fault;
pub mod hooks;
pub mod launch;
pub mod logging;
pub mod namespaces;
pub mod netdev;
pub mod notify;
pub mod resctrl;
pub mod rootfs;
pub mod security;
pub mod spec;
pub mod state;
#[allow(unsafe_code)]
pub mod sys;
pub mod userns;

pub use error::{Context, Error, Kind, Result};

/// The runtime-spec version husk implements (a literal for [`VERSION`]'s `concat!`).
macro_rules! oci_spec_version {
    () => {
        "1.2.1"
    };
}

/// The runtime-spec version husk implements (reported by `--version` and `state`).
pub const OCI_SPEC_VERSION: &str = oci_spec_version!();

/// What `husk --version` prints after "husk version " (runc's format: the version, then
/// `commit:`, `spec:` and the toolchain's line; runc's `go:` is `rust:` here). The commit comes
/// from build.rs: git's HEAD (with "-dirty" for uncommitted changes), or HUSK_COMMIT for a build
/// outside a checkout.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("HUSK_COMMIT"),
    "\nspec: ",
    oci_spec_version!(),
    "\nrust: ",
    env!("HUSK_RUSTC_VERSION")
);

//! Process security settings applied by the container init before exec: capabilities, seccomp.
pub mod caps;
pub mod sealed;
pub mod seccomp;

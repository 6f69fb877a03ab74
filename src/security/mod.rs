//! Process security settings applied by the container init before exec: capabilities, seccomp,
//! LSM profiles and labels.
pub mod caps;
pub mod lsm;
pub mod sealed;
pub mod seccomp;

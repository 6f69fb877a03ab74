//! OCI seccomp profile → BPF program. Placeholder until the seccomp compiler lands:
//! a profile is refused with a clear error rather than silently ignored.
use crate::error::{Error, Result};

pub struct Program;

pub fn compile(_spec: &oci_spec::runtime::LinuxSeccomp) -> Result<Program> {
    Err(Error::invalid_spec("linux.seccomp: seccomp profiles are not supported by this build of husk yet"))
}

impl Program {
    pub fn install(&self) -> Result<Option<std::os::fd::OwnedFd>> {
        Err(Error::invalid_spec("linux.seccomp: not supported"))
    }
}

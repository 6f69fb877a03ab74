//! CVE-2019-5736 when non-dumpable is not enough.
//!
//! husk's code runs inside a container's pid namespace (the init during `create`, the exec'd
//! process during `exec`) until execve. It is non-dumpable then, so the kernel refuses container
//! processes `/proc/PID/exe` of the host binary, unless they hold CAP_SYS_PTRACE in the user
//! namespace the binary was exec'd in (ours): a container without a user namespace and with
//! CAP_SYS_PTRACE opens it (O_PATH), waits until no husk runs, and writes the host binary.
//!
//! Only in that case husk re-executes itself once, before any side effect, from a detached
//! read-only bind mount of its own binary (open_tree(OPEN_TREE_CLONE) + mount_setattr(RDONLY) +
//! execveat): `/proc/PID/exe` of every process it then forks points into a read-only mount, and
//! a write through it fails with EROFS. No copy of the binary, no mount in any namespace; the
//! cost is one execve (measured in docs/security.md). A binary installed on a read-only mount
//! is never re-executed.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::{Capability, LinuxNamespaceType, Process, Spec};

use crate::error::{Error, Result};
use crate::sys::fs::{mount_setattr_recursive, open_tree_clone, own_fd, MOUNT_ATTR_RDONLY};

const CAP_SYS_PTRACE_BIT: u64 = 1 << 19;

/// Is our binary unwritable through /proc/self/exe: on a read-only mount (sealed by
/// [`reexec_sealed`], or installed so)?
pub fn exe_is_sealed() -> bool {
    let Ok(fd) = nix::fcntl::open("/proc/self/exe", OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()) else {
        return false;
    };
    let fd = own_fd(fd);
    nix::sys::statvfs::fstatvfs(&fd).map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY)).unwrap_or(false)
}

fn same_user_ns(path: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), std::fs::metadata("/proc/self/ns/user")) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

fn has_ptrace(p: &Process) -> bool {
    let Some(c) = p.capabilities() else { return false };
    [c.bounding(), c.effective(), c.permitted(), c.ambient(), c.inheritable()]
        .iter()
        .any(|s| s.as_ref().is_some_and(|s| s.contains(&Capability::SysPtrace)))
}

/// `exec` into the container whose init is `init`: can a process there (the init's bounding
/// set, or the process we launch) hold CAP_SYS_PTRACE in our user namespace?
pub fn exec_exposed(init: Pid, process: &Process) -> bool {
    if !same_user_ns(&format!("/proc/{init}/ns/user")) {
        return false;
    }
    if has_ptrace(process) {
        return true;
    }
    let status = crate::state::read_small(std::path::Path::new(&format!("/proc/{init}/status"))).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_none_or(|bnd| bnd & CAP_SYS_PTRACE_BIT != 0)
}

/// `create`: the init runs our code in a pid namespace that already has processes (joined by
/// path, or ours) which may hold CAP_SYS_PTRACE in our user namespace.
pub fn create_exposed(spec: &Spec) -> bool {
    let ns = spec.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default();
    let user = ns.iter().find(|n| n.typ() == LinuxNamespaceType::User);
    let own_userns = match user {
        None => false,
        Some(n) => match n.path() {
            None => true,
            Some(p) => !same_user_ns(&p.to_string_lossy()),
        },
    };
    if own_userns {
        return false;
    }
    match ns.iter().find(|n| n.typ() == LinuxNamespaceType::Pid) {
        None => true,
        Some(n) => n.path().is_some(),
    }
}

/// Re-execute ourselves from a detached read-only bind mount of our binary, with the same
/// arguments and environment. Returns only on error.
pub fn reexec_sealed() -> Result<std::convert::Infallible> {
    let fd = open_tree_clone(c"/proc/self/exe")
        .map_err(|e| Error::sys(e, "cloning a mount of the runtime binary (CVE-2019-5736 defence)"))?;
    mount_setattr_recursive(std::os::fd::AsFd::as_fd(&fd), MOUNT_ATTR_RDONLY, 0)
        .map_err(|e| Error::sys(e, "making the runtime binary's mount read-only (CVE-2019-5736 defence)"))?;
    let args: Vec<CString> = std::env::args_os().map(|a| CString::new(a.as_bytes()).unwrap_or_default()).collect();
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).unwrap_or_default()
        })
        .collect();
    let e = nix::unistd::execveat(Some(fd.as_raw_fd()), c"", &args, &env, AtFlags::AT_EMPTY_PATH).unwrap_err();
    Err(Error::sys(e, "re-executing the runtime from its read-only mount (CVE-2019-5736 defence)"))
}

/// Seal when `exposed` and not sealed yet. Call before any side effect: the command starts over.
pub fn seal_if(exposed: bool) -> Result<()> {
    if !exposed || exe_is_sealed() {
        return Ok(());
    }
    reexec_sealed().map(|never| match never {})
}

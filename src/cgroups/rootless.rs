//! Rootless callers (`--rootless`, or auto: a non-root euid, as runc): when the caller may not
//! create the container's cgroup (cgroup v1, or v2 without a delegated subtree) and
//! linux.cgroupsPath was not given, the container runs without a cgroup of its own, as runc's
//! rootless cgroup manager leaves it. Limits then cannot be applied: as runc 1.1.5, a config
//! that sets any is refused ("cannot set memory limit: container could not join or create
//! cgroup"), except device rules, which rootless runc ignores (the kernel already keeps an
//! unprivileged user away from devices it cannot open). With a delegated subtree (a directory
//! the user owns, or cgroupsPath under it) everything works as for root.

use std::fs;
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Kind, Result};

/// Whether the rootless cgroup treatment applies: `--rootless true|false`, or auto as runc's
/// shouldUseRootlessCgroupManager: a non-root effective uid, or root in a user namespace other
/// than the initial one (as rootless podman runs its runtime) with the cgroupfs driver, or with
/// --systemd-cgroup when the user's systemd manager is owned by a uid other than 0 (`OwnerUID=` of
/// `busctl --user status`; 0 when it cannot be asked, as runc assumes). With --systemd-cgroup,
/// rootless means the user's own systemd manager ([`super::userbus`]).
pub fn enabled(flag: crate::cli::Rootless, systemd: bool) -> bool {
    match flag {
        crate::cli::Rootless::True => true,
        crate::cli::Rootless::False => false,
        crate::cli::Rootless::Auto => {
            if !nix::unistd::geteuid().is_root() {
                return true;
            }
            if !crate::namespaces::in_user_namespace() {
                return false;
            }
            !systemd || super::userbus::owner_uid().unwrap_or(0) != 0
        }
    }
}

/// A cgroup creation error that a rootless caller may get past: no permission.
pub(super) fn is_permission(e: &Error) -> bool {
    matches!(e.errno(), Some(Errno::EACCES) | Some(Errno::EPERM) | Some(Errno::EROFS))
}

/// The first limit `r` sets (device rules aside), named as runc names it.
pub(super) fn first_limit(r: &LinuxResources) -> Option<&'static str> {
    let set = |b: bool, name| if b { Some(name) } else { None };
    set(r.memory().is_some(), "memory")
        .or_else(|| set(r.cpu().is_some(), "cpu"))
        .or_else(|| set(r.pids().is_some(), "pids"))
        .or_else(|| set(r.block_io().is_some(), "blkio"))
        .or_else(|| set(r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()), "hugetlb"))
        .or_else(|| set(r.network().is_some(), "net_cls"))
        .or_else(|| set(r.rdma().as_ref().is_some_and(|m| !m.is_empty()), "rdma"))
        .or_else(|| set(r.unified().as_ref().is_some_and(|m| !m.is_empty()), "unified"))
}

/// The error for limits that cannot be applied without a cgroup (runc's words, then why).
pub(super) fn limits_refused(name: &str, cause: &Error) -> Error {
    Error::new(
        Kind::System,
        format!(
            "cannot set {name} limit: container could not join or create cgroup (rootless: the caller may not \
             create a cgroup here ({}); linux.resources needs a cgroup delegated to the user)",
            cause.root_cause()
        ),
    )
}

/// The processes of a container without a cgroup whose init is `init`: with a pid namespace of
/// its own, every process in that namespace (the init's, exec'd ones); else the init alone.
pub(super) fn pids(init: i32) -> Result<Vec<Pid>> {
    if init <= 0 {
        return Ok(Vec::new());
    }
    let ns = |pid: &str| fs::metadata(format!("/proc/{pid}/ns/pid")).map(|m| (m.dev(), m.ino())).ok();
    let Some(init_ns) = ns(&init.to_string()) else {
        return Ok(Vec::new());
    };
    let own = ns("self");
    if own == Some(init_ns) {
        return Ok(vec![Pid::from_raw(init)]);
    }
    let mut out = Vec::new();
    let dir = fs::read_dir("/proc").map_err(|e| Error::io(e, "listing /proc"))?;
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        if ns(name) == Some(init_ns) {
            if let Ok(p) = name.parse() {
                out.push(Pid::from_raw(p));
            }
        }
    }
    Ok(out)
}

/// What needs a cgroup and so is refused without one.
pub(super) fn no_cgroup(what: &str) -> Error {
    Error::new(
        Kind::System,
        format!(
            "{what} needs a cgroup, and this rootless container has none (the user may not create one on this host)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn limits_named_as_runc_devices_aside() {
        assert_eq!(first_limit(&res(r#"{"devices":[{"allow":false,"access":"rwm"}]}"#)), None);
        assert_eq!(first_limit(&res(r#"{"memory":{"limit":1048576}}"#)), Some("memory"));
        assert_eq!(first_limit(&res(r#"{"pids":{"limit":5}}"#)), Some("pids"));
        assert_eq!(first_limit(&res(r#"{"unified":{}}"#)), None);
    }

    #[test]
    fn permission_errors_only() {
        assert!(is_permission(&Error::sys(Errno::EACCES, "mkdir")));
        assert!(!is_permission(&Error::sys(Errno::ENOENT, "mkdir")));
    }

    #[test]
    fn no_processes_without_an_init() {
        assert!(pids(0).unwrap().is_empty());
    }
}

//! linux.namespaces → how the init gets into each one. Pure planning here (runtime, before
//! fork); the init executes the plan in `launch::child`.
//!
//! Fast path: every namespace is new and there is no time namespace → one clone with all
//! CLONE_NEW* flags (the user namespace created by the same clone owns the others). Slow
//! path: some are joined by path (the joined user namespace must come first, and new
//! namespaces must then be created inside it) or a time namespace is wanted (clone() cannot
//! create one, and offsets must be written before any process enters it) → plain fork,
//! setns/unshare in the child, and a second fork (CLONE_PARENT) when the pid or time
//! namespace only applies to children.
//! The cgroup namespace is always unshared by the init after the parent put it into its
//! cgroup, so that the namespace's root is the container's cgroup.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::fcntl::{open, OFlag};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use oci_spec::runtime::{Linux, LinuxNamespaceType};

use crate::error::{Error, Result};
use crate::sys::fs::own_fd;

pub fn flag_of(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// A namespace to join: the opened file, its type (checked by setns) and path for messages.
#[derive(Debug)]
pub struct Join {
    pub fd: OwnedFd,
    pub flag: CloneFlags,
    pub kind: LinuxNamespaceType,
    pub path: PathBuf,
}

#[derive(Debug)]
pub struct NsPlan {
    /// Flags for the first clone (fast path).
    pub clone_flags: CloneFlags,
    /// Namespaces to join, user first, mount last.
    pub joins: Vec<Join>,
    /// New namespaces the child unshares itself (slow path), without user, cgroup and time.
    pub unshare_flags: CloneFlags,
    pub new_user: bool,
    /// The user namespace is created by the first clone: the parent writes maps at once.
    pub user_in_clone: bool,
    pub new_cgroup: bool,
    pub new_time: bool,
    pub new_mount: bool,
    pub new_pid: bool,
    /// The init has its own pid namespace (new or joined): killing it ends the container.
    pub own_pid_ns: bool,
    /// A second fork is needed so the init lands in the pid/time namespace.
    pub stage2: bool,
    /// Contents for /proc/self/timens_offsets.
    pub time_offsets: Option<String>,
}

impl Default for NsPlan {
    fn default() -> Self {
        NsPlan {
            clone_flags: CloneFlags::empty(),
            joins: Vec::new(),
            unshare_flags: CloneFlags::empty(),
            new_user: false,
            user_in_clone: false,
            new_cgroup: false,
            new_time: false,
            new_mount: false,
            new_pid: false,
            own_pid_ns: false,
            stage2: false,
            time_offsets: None,
        }
    }
}

impl NsPlan {
    pub fn from_spec(linux: &Linux) -> Result<Self> {
        let mut p = NsPlan::default();
        let nss = linux.namespaces().as_deref().unwrap_or_default();
        let mut joins = Vec::new();
        for (i, ns) in nss.iter().enumerate() {
            let t = ns.typ();
            match ns.path() {
                Some(path) => {
                    let fd = open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| {
                        Error::sys(e, format!("opening {t} namespace {} (linux.namespaces[{i}].path)", path.display()))
                    })?;
                    joins.push(Join { fd: own_fd(fd), flag: flag_of(t), kind: t, path: path.clone() });
                    if t == LinuxNamespaceType::Pid {
                        p.own_pid_ns = true;
                    }
                }
                None => match t {
                    LinuxNamespaceType::User => p.new_user = true,
                    LinuxNamespaceType::Cgroup => p.new_cgroup = true,
                    LinuxNamespaceType::Time => p.new_time = true,
                    other => {
                        p.unshare_flags |= flag_of(other);
                        if other == LinuxNamespaceType::Mount {
                            p.new_mount = true;
                        }
                        if other == LinuxNamespaceType::Pid {
                            p.new_pid = true;
                            p.own_pid_ns = true;
                        }
                    }
                },
            }
        }
        // Order joins: user first (it grants the rights for the others), mount last (after it
        // the host's /proc paths of the other namespaces are gone, though we hold fds anyway).
        joins.sort_by_key(|j| match j.kind {
            LinuxNamespaceType::User => 0,
            LinuxNamespaceType::Mount => 2,
            _ => 1,
        });
        let joins_pid_or_time =
            joins.iter().any(|j| matches!(j.kind, LinuxNamespaceType::Pid | LinuxNamespaceType::Time));
        if let Some(offsets) = linux.time_offsets() {
            let mut s = String::new();
            for (clock, off) in offsets {
                let name = match clock.as_str() {
                    "monotonic" => "monotonic",
                    "boottime" => "boottime",
                    other => {
                        return Err(Error::invalid_spec(format!(
                            "linux.timeOffsets: unknown clock {other:?} (monotonic or boottime)"
                        )))
                    }
                };
                s.push_str(&format!("{name} {} {}\n", off.secs().unwrap_or(0), off.nanosecs().unwrap_or(0)));
            }
            p.time_offsets = Some(s);
        }
        if joins.is_empty() && !p.new_time {
            p.clone_flags = p.unshare_flags;
            p.unshare_flags = CloneFlags::empty();
            if p.new_user {
                p.clone_flags |= CloneFlags::CLONE_NEWUSER;
                p.user_in_clone = true;
            }
        } else {
            p.stage2 = p.unshare_flags.contains(CloneFlags::CLONE_NEWPID) || p.new_time || joins_pid_or_time;
        }
        p.joins = joins;
        Ok(p)
    }
}

/// Whether we run in a user namespace other than the initial one (runc's RunningInUserNS: the
/// uid map is not the identity over every id), e.g. as root inside rootless podman's namespace.
pub fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(v: serde_json::Value) -> Linux {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn all_new_is_one_clone() {
        let l = linux(
            serde_json::json!({"namespaces": [{"type":"pid"},{"type":"mount"},{"type":"network"},{"type":"user"},{"type":"cgroup"}],
            "uidMappings": [{"containerID":0,"hostID":1000,"size":10}], "gidMappings": [{"containerID":0,"hostID":1000,"size":10}]}),
        );
        let p = NsPlan::from_spec(&l).unwrap();
        assert!(p.clone_flags.contains(
            CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWUSER
        ));
        assert!(!p.clone_flags.contains(CloneFlags::CLONE_NEWCGROUP), "cgroup ns is unshared after joining the cgroup");
        assert!(p.user_in_clone && p.new_cgroup && !p.stage2);
        assert!(p.unshare_flags.is_empty());
    }

    #[test]
    fn joined_pid_needs_second_fork() {
        let l = linux(
            serde_json::json!({"namespaces": [{"type":"pid","path":"/proc/self/ns/pid"},{"type":"mount"},{"type":"user","path":"/proc/self/ns/user"}]}),
        );
        let p = NsPlan::from_spec(&l).unwrap();
        assert!(p.clone_flags.is_empty());
        assert!(p.stage2);
        assert_eq!(p.joins[0].kind, LinuxNamespaceType::User, "user namespace is joined first");
        assert_eq!(p.unshare_flags, CloneFlags::CLONE_NEWNS);
    }

    #[test]
    fn time_namespace_goes_slow_path_with_offsets() {
        let l = linux(
            serde_json::json!({"namespaces": [{"type":"time"},{"type":"mount"}], "timeOffsets": {"monotonic": {"secs": 10, "nanosecs": 5}}}),
        );
        let p = NsPlan::from_spec(&l).unwrap();
        assert!(p.new_time && p.stage2);
        assert_eq!(p.time_offsets.as_deref(), Some("monotonic 10 5\n"));
    }

    #[test]
    fn missing_path_is_named() {
        let l = linux(serde_json::json!({"namespaces": [{"type":"network","path":"/nonexistent/ns"}]}));
        let e = NsPlan::from_spec(&l).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/ns") && e.contains("linux.namespaces[0].path"), "{e}");
    }
}

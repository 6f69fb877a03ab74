//! Linux security modules: AppArmor profiles (`process.apparmorProfile`, `exec --apparmor`) and
//! SELinux labels (`process.selinuxLabel`, `exec --process-label`, `linux.mountLabel`).
//!
//! As runc: the label of the process is set "on exec" (`/proc/thread-self/attr/apparmor/exec`
//! with `exec <profile>`, else the older `/proc/thread-self/attr/exec`; SELinux's
//! `/proc/thread-self/attr/exec`), so it takes effect with the workload's execve and never
//! confines the runtime's own set-up. The init also labels the keys it creates (the session
//! keyring) with the process label (`attr/keycreate`), and `mountLabel` becomes the `context=`
//! option of the mounts that take one (see [`mount_context`]).
//!
//! Everything is planned in the runtime before the fork: the values as byte strings and an
//! `O_PATH` fd of the runtime's own (host) /proc, so that the forked process only opens a file
//! under that fd, checks it is on procfs and writes once. The container's /proc is never used:
//! a container could cover `/proc/self/attr` in it and have the label written nowhere
//! (CVE-2025-52881's redirected procfs writes).
//!
//! A host without the LSM cannot apply the request: like runc 1.1.5 the container or process is
//! refused (runc fails writing the AppArmor attribute, refuses an SELinux label in its config
//! validation and fails mounting with `context=`), with an error that names the field.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::Process;

use crate::error::{Context, Error, Result};

/// AppArmor is enabled on this host (runc's test: securityfs shows it and the module says Y).
pub fn apparmor_enabled() -> bool {
    Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read("/sys/module/apparmor/parameters/enabled").is_ok_and(|b| b.first() == Some(&b'Y'))
}

/// SELinux is enabled on this host (go-selinux's test: selinuxfs is mounted and our own context
/// is not the "kernel" placeholder a disabled SELinux shows).
pub fn selinux_enabled() -> bool {
    let fs = nix::sys::statfs::statfs("/sys/fs/selinux")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::SELINUX_MAGIC);
    fs && std::fs::read("/proc/self/attr/current").is_ok_and(|c| c.strip_suffix(b"\0").unwrap_or(&c) != b"kernel")
}

/// One write to an attribute file of the process itself, prepared before the fork.
#[derive(Debug, Clone)]
struct AttrWrite {
    /// Relative to /proc.
    path: &'static CStr,
    value: Vec<u8>,
    /// For errors: `apparmor profile "x"`, `selinux label "y"`.
    what: String,
    apparmor: bool,
}

/// The LSM attributes of one container process (init or exec'd).
#[derive(Debug, Clone, Default)]
pub struct LsmPlan {
    /// The runtime's /proc (O_PATH), when there is anything to write.
    proc: Option<Arc<OwnedFd>>,
    /// What to set for the exec: AppArmor first, then SELinux.
    exec: Vec<AttrWrite>,
    /// SELinux: the label of the keys the init creates (its session keyring).
    keycreate: Option<AttrWrite>,
}

impl LsmPlan {
    /// Plan `process.apparmorProfile` and `process.selinuxLabel` (empty means none). On a host
    /// without the LSM a request is an error, as in runc. `first_private_fd`: the lowest fd
    /// number the process does not pass on (3 + the preserved fds): the /proc fd is put at or
    /// above it, so that it can never be one of the fds the workload inherits.
    pub fn for_process(process: &Process, first_private_fd: i32) -> Result<Self> {
        let mut plan = LsmPlan::default();
        if let Some(profile) = process.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
            if !apparmor_enabled() {
                return Err(Error::invalid_spec(format!(
                    "apparmor profile {profile:?} is specified, but AppArmor is not enabled on this host"
                )));
            }
            // Kernels with LSM stacking have a directory per module; older ones only the shared file.
            let path: &'static CStr = if Path::new("/proc/self/attr/apparmor/exec").exists() {
                c"thread-self/attr/apparmor/exec"
            } else {
                c"thread-self/attr/exec"
            };
            plan.exec.push(AttrWrite {
                path,
                value: format!("exec {profile}").into_bytes(),
                what: format!("apparmor profile {profile:?}"),
                apparmor: true,
            });
        }
        if let Some(label) = process.selinux_label().as_deref().filter(|s| !s.is_empty()) {
            if !selinux_enabled() {
                return Err(Error::invalid_spec(format!(
                    "selinux label {label:?} is specified in config, but selinux is disabled or not supported"
                )));
            }
            let w = AttrWrite {
                path: c"thread-self/attr/exec",
                value: label.as_bytes().to_vec(),
                what: format!("selinux label {label:?}"),
                apparmor: false,
            };
            plan.keycreate = Some(AttrWrite { path: c"thread-self/attr/keycreate", ..w.clone() });
            plan.exec.push(w);
        }
        if !plan.exec.is_empty() {
            let fd = nix::fcntl::open("/proc", OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
                .context("opening /proc for the LSM attributes")?;
            let fd = crate::sys::fs::own_fd(fd);
            let high = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(first_private_fd))
                .context("moving the /proc fd for the LSM attributes")?;
            plan.proc = Some(Arc::new(crate::sys::fs::own_fd(high)));
        }
        Ok(plan)
    }

    pub fn is_empty(&self) -> bool {
        self.exec.is_empty()
    }

    /// In the forked process, the last step of set-up before the privileges are dropped: set
    /// the profile and label the next execve takes.
    pub fn apply_exec(&self) -> Result<()> {
        for w in &self.exec {
            self.write(w, &w.value)?;
        }
        Ok(())
    }

    /// In the init, around joining its session keyring: label the keys it creates (`on`), and
    /// back to the default afterwards (best effort: execve resets it anyway). A kernel without
    /// the attribute is not an error (go-selinux's SetKeyLabel).
    pub fn keycreate(&self, on: bool) -> Result<()> {
        let Some(w) = &self.keycreate else { return Ok(()) };
        let res = self.write(w, if on { &w.value } else { b"\n" });
        match res {
            Err(e) if e.errno() == Some(Errno::ENOENT) || !on => Ok(()),
            r => r,
        }
    }

    fn write(&self, w: &AttrWrite, value: &[u8]) -> Result<()> {
        let Some(proc) = &self.proc else { return Ok(()) };
        let path = || format!("/proc/{}", w.path.to_string_lossy());
        let fd = openat(Some(proc.as_raw_fd()), w.path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| Error::sys(e, format!("applying {}: opening {}", w.what, path())))?;
        let fd = crate::sys::fs::own_fd(fd);
        let on_proc =
            nix::sys::statfs::fstatfs(&fd).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC);
        if !on_proc {
            return Err(Error::new(crate::Kind::System, format!("applying {}: {} is not on procfs", w.what, path())));
        }
        match nix::unistd::write(&fd, value) {
            Ok(n) if n == value.len() => Ok(()),
            Ok(n) => Err(Error::new(
                crate::Kind::System,
                format!("applying {}: short write to {} ({n} of {})", w.what, path(), value.len()),
            )),
            // AppArmor says ENOENT for a profile it has not loaded.
            Err(Errno::ENOENT) if w.apparmor => {
                Err(Error::sys(Errno::ENOENT, format!("applying {}: the profile is not loaded", w.what)))
            }
            Err(e) => Err(Error::sys(e, format!("applying {}: writing {}", w.what, path()))),
        }
    }
}

/// `linux.mountLabel` as the mount option runc adds (go-selinux's FormatMountLabel:
/// `context="LABEL"`), or `None` without one. A label on a host without SELinux is an error:
/// runc 1.1.5 passes the option anyway and its mount fails (EINVAL); husk says why first.
pub fn mount_context(label: Option<&str>) -> Result<Option<String>> {
    let Some(label) = label.filter(|l| !l.is_empty()) else { return Ok(None) };
    if !selinux_enabled() {
        return Err(Error::invalid_spec(format!(
            "linux.mountLabel {label:?} is specified, but selinux is disabled or not supported"
        )));
    }
    Ok(Some(format!("context=\"{label}\"")))
}

/// Which mounts get the `context=` option, as runc's mountToRootfs: not procfs or sysfs (the
/// kernel cannot label them), not mqueue (labelled through its root's xattr instead, see
/// [`mqueue_label`]), not cgroup2 and not bind mounts (whose data the kernel ignores); every
/// other filesystem (tmpfs, devpts, the tmpfs of a v1 `cgroup` mount...).
pub fn takes_context(fstype: &str, bind: bool) -> bool {
    !bind && !matches!(fstype, "proc" | "sysfs" | "mqueue" | "cgroup" | "cgroup2")
}

/// The label for the root of a new mqueue mount (`security.selinux`), runc's SetFileLabel.
pub fn mqueue_label(context: &str) -> Option<&str> {
    context.strip_prefix("context=\"").and_then(|s| s.strip_suffix('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_context_is_runcs_option() {
        assert_eq!(mount_context(None).unwrap(), None);
        assert_eq!(mount_context(Some("")).unwrap(), None);
        if selinux_enabled() {
            assert_eq!(mount_context(Some("a:b:c:s0")).unwrap().as_deref(), Some("context=\"a:b:c:s0\""));
        } else {
            let e = mount_context(Some("a:b:c:s0")).unwrap_err().to_string();
            assert!(e.contains("mountLabel") && e.contains("selinux"), "{e}");
        }
        assert_eq!(mqueue_label("context=\"a:b:c:s0\""), Some("a:b:c:s0"));
        assert!(takes_context("tmpfs", false) && takes_context("devpts", false));
        assert!(!takes_context("proc", false) && !takes_context("mqueue", false) && !takes_context("tmpfs", true));
    }

    #[test]
    fn requests_on_a_host_without_the_lsm_are_refused() {
        let p: Process = serde_json::from_str(
            r#"{"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "apparmorProfile": "husk-x"}"#,
        )
        .unwrap();
        match LsmPlan::for_process(&p, 3) {
            Ok(plan) => {
                assert!(apparmor_enabled());
                assert_eq!(plan.exec[0].value, b"exec husk-x");
            }
            Err(e) => assert!(e.to_string().contains("\"husk-x\"") && e.to_string().contains("AppArmor")),
        }
        let p: Process = serde_json::from_str(r#"{"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}}"#).unwrap();
        assert!(LsmPlan::for_process(&p, 3).unwrap().is_empty());
    }
}

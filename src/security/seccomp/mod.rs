//! OCI seccomp profile → BPF program (pure Rust, on seccompiler's types), and installing it.
//!
//! Which process runs what:
//! - runtime parent, before fork: [`compile`] or [`compile_cached`] (validates and compiles;
//!   allocates freely) and
//!   [`Program::check_kernel_support`] (flags and actions this kernel knows);
//! - container init, as the very last step before execve: [`Program::install`] (allocates
//!   nothing on success). Without noNewPrivileges it must still hold CAP_SYS_ADMIN then;
//! - runtime parent, while the init waits: [`take_listener`] + [`send_listener`] when the
//!   profile uses SCMP_ACT_NOTIFY.
//!
//! docs/seccomp.md has the BPF layout, the rule ordering and the differences from libseccomp.

mod cache;
mod compile;
mod notify;
pub mod tables;

use std::os::fd::OwnedFd;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompFilterFlag};
use seccompiler::{sock_filter, BpfProgram};

use crate::error::{Error, Result};
use crate::sys::seccomp as sys;

pub use cache::compile_cached;
pub use compile::{emit, plan, Abi, Cond, Op, Plan, Rule, SyscallPlan};
pub use notify::{send_listener, take_listener};

/// A compiled profile, ready to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    filter: BpfProgram,
    /// SECCOMP_FILTER_FLAG_* from `linux.seccomp.flags`, plus NEW_LISTENER when needed.
    flags: libc::c_ulong,
    notify: bool,
    /// The actions the program can return, for [`Program::check_kernel_support`].
    actions: Vec<u32>,
}

/// Validate `spec` and compile it. Pure: call it in the runtime parent before fork.
pub fn compile(spec: &LinuxSeccomp) -> Result<Program> {
    let plan = compile::plan(spec)?;
    let filter = compile::emit(&plan)?;
    let mut flags: libc::c_ulong = 0;
    for (i, f) in spec.flags().iter().flatten().enumerate() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                if !plan.uses_notify {
                    return Err(Error::invalid_spec(format!(
                        "linux.seccomp.flags[{i}]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a SCMP_ACT_NOTIFY rule"
                    )));
                }
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
        };
    }
    if plan.uses_notify {
        flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        if flags & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 {
            // The kernel refuses TSYNC with NEW_LISTENER unless failures are reported as ESRCH.
            flags |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
    }
    let mut actions: Vec<u32> =
        filter.iter().filter(|i| i.code == 0x06).map(|i| i.k & libc::SECCOMP_RET_ACTION_FULL).collect();
    actions.sort_unstable();
    actions.dedup();
    Ok(Program { filter, flags, notify: plan.uses_notify, actions })
}

/// Parse a `linux.seccomp` JSON value, naming the exact field when an action, operator,
/// architecture or flag is unknown (serde's own message names only a line and column).
/// For runtimes that read config.json as a `serde_json::Value` first; `compile` takes the
/// parsed profile.
pub fn parse_json(v: &serde_json::Value) -> Result<LinuxSeccomp> {
    use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSeccompOperator};
    fn check<T: serde::de::DeserializeOwned>(v: Option<&serde_json::Value>, path: &str, what: &str) -> Result<()> {
        match v {
            Some(x) if serde_json::from_value::<T>(x.clone()).is_err() => {
                Err(Error::invalid_spec(format!("{path}: unknown {what} {x}")))
            }
            _ => Ok(()),
        }
    }
    let p = "linux.seccomp";
    check::<LinuxSeccompAction>(v.get("defaultAction"), &format!("{p}.defaultAction"), "action")?;
    for (i, a) in v.get("architectures").and_then(|a| a.as_array()).into_iter().flatten().enumerate() {
        check::<Arch>(Some(a), &format!("{p}.architectures[{i}]"), "architecture")?;
    }
    for (i, f) in v.get("flags").and_then(|a| a.as_array()).into_iter().flatten().enumerate() {
        check::<LinuxSeccompFilterFlag>(Some(f), &format!("{p}.flags[{i}]"), "flag")?;
    }
    for (i, sc) in v.get("syscalls").and_then(|a| a.as_array()).into_iter().flatten().enumerate() {
        check::<LinuxSeccompAction>(sc.get("action"), &format!("{p}.syscalls[{i}].action"), "action")?;
        for (j, a) in sc.get("args").and_then(|a| a.as_array()).into_iter().flatten().enumerate() {
            check::<LinuxSeccompOperator>(a.get("op"), &format!("{p}.syscalls[{i}].args[{j}].op"), "operator")?;
        }
    }
    serde_json::from_value(v.clone()).map_err(|e| Error::invalid_spec(format!("{p}: {e}")))
}

/// The filter flags of `linux.seccomp.flags` husk knows, with their kernel values.
pub const KNOWN_FLAGS: [(&str, libc::c_ulong); 4] = [
    ("SECCOMP_FILTER_FLAG_TSYNC", libc::SECCOMP_FILTER_FLAG_TSYNC),
    ("SECCOMP_FILTER_FLAG_LOG", libc::SECCOMP_FILTER_FLAG_LOG),
    ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW),
    ("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV),
];

/// The `linux.seccomp` part of `husk features`: exactly what compile() implements (the
/// architectures it filters, not the ones it accepts and skips), and the flags this kernel
/// supports (probed, nothing is installed).
pub fn features() -> oci_spec::runtime::Seccomp {
    use oci_spec::runtime::{Arch, LinuxSeccompAction as A};
    let mut f = oci_spec::runtime::Seccomp::default();
    f.set_enabled(Some(true));
    f.set_actions(Some(vec![
        A::ScmpActAllow,
        A::ScmpActErrno,
        A::ScmpActKill,
        A::ScmpActKillProcess,
        A::ScmpActKillThread,
        A::ScmpActLog,
        A::ScmpActNotify,
        A::ScmpActTrace,
        A::ScmpActTrap,
    ]));
    let ops = ["EQ", "GE", "GT", "LE", "LT", "MASKED_EQ", "NE"];
    f.set_operators(Some(ops.iter().map(|o| format!("SCMP_CMP_{o}")).collect()));
    f.set_archs(Some(vec![Arch::ScmpArchX86, Arch::ScmpArchX86_64, Arch::ScmpArchX32]));
    f.set_known_flags(Some(KNOWN_FLAGS.iter().map(|(n, _)| n.to_string()).collect()));
    let supported = KNOWN_FLAGS.iter().filter(|(_, v)| sys::flag_supported(*v)).map(|(n, _)| n.to_string());
    f.set_supported_flags(Some(supported.collect()));
    f
}

/// Names of the flags, for error messages.
const FLAG_NAMES: [(libc::c_ulong, &str); 6] = [
    (libc::SECCOMP_FILTER_FLAG_TSYNC, "SECCOMP_FILTER_FLAG_TSYNC"),
    (libc::SECCOMP_FILTER_FLAG_LOG, "SECCOMP_FILTER_FLAG_LOG"),
    (libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"),
    (libc::SECCOMP_FILTER_FLAG_NEW_LISTENER, "SECCOMP_FILTER_FLAG_NEW_LISTENER"),
    (libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH, "SECCOMP_FILTER_FLAG_TSYNC_ESRCH"),
    (libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"),
];

fn action_name(a: u32) -> &'static str {
    match a {
        libc::SECCOMP_RET_KILL_PROCESS => "SCMP_ACT_KILL_PROCESS",
        libc::SECCOMP_RET_KILL_THREAD => "SCMP_ACT_KILL_THREAD",
        libc::SECCOMP_RET_TRAP => "SCMP_ACT_TRAP",
        libc::SECCOMP_RET_ERRNO => "SCMP_ACT_ERRNO",
        libc::SECCOMP_RET_USER_NOTIF => "SCMP_ACT_NOTIFY",
        libc::SECCOMP_RET_TRACE => "SCMP_ACT_TRACE",
        libc::SECCOMP_RET_LOG => "SCMP_ACT_LOG",
        libc::SECCOMP_RET_ALLOW => "SCMP_ACT_ALLOW",
        _ => "an unknown action",
    }
}

impl Program {
    /// The BPF instructions.
    pub fn instructions(&self) -> &[sock_filter] {
        &self.filter
    }

    /// SECCOMP_FILTER_FLAG_* passed to seccomp(2).
    pub fn flags(&self) -> libc::c_ulong {
        self.flags
    }

    /// Whether [`Program::install`] returns a notification listener.
    pub fn uses_notify(&self) -> bool {
        self.notify
    }

    /// Check that the kernel knows every flag and action the program uses, naming the first
    /// it lacks. Installs nothing; call it in the runtime parent before fork, so the error is
    /// reported with full context.
    pub fn check_kernel_support(&self) -> Result<()> {
        for (flag, name) in FLAG_NAMES {
            if self.flags & flag != 0 && !sys::flag_supported(flag) {
                return Err(Error::invalid_spec(format!("linux.seccomp.flags: this kernel does not support {name}")));
            }
        }
        for &a in &self.actions {
            if !sys::action_available(a) {
                return Err(Error::invalid_spec(format!(
                    "linux.seccomp: this kernel does not support {}",
                    action_name(a)
                )));
            }
        }
        Ok(())
    }

    /// Load the filter into the calling process. Call it in the container init as the very
    /// last step before execve, so the runtime's own setup is not filtered. Allocates nothing
    /// unless it fails. The caller must either have set no_new_privs or hold CAP_SYS_ADMIN.
    ///
    /// Returns the notification listener when the profile uses SCMP_ACT_NOTIFY: hand its fd
    /// number to the runtime parent (see [`take_listener`]) before execve, then close it.
    pub fn install(&self) -> Result<Option<OwnedFd>> {
        match sys::set_mode_filter(self.flags, &self.filter) {
            Ok(fd) => Ok(fd),
            Err(e) if e.errno() == Some(nix::errno::Errno::EINVAL) => {
                // Name a flag the kernel lacks, if that is the cause.
                for (flag, name) in FLAG_NAMES {
                    if self.flags & flag != 0 && !sys::flag_supported(flag) {
                        return Err(e.context(format!("this kernel does not support {name}")));
                    }
                }
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests;

//! The container's init, from fork to execve. Single-threaded, a forked copy of husk.
//! The steps are numbered as in docs/launch.md; each one either succeeds or returns an
//! error that [`run`]'s caller sends to the parent, which prints it (after pivot_root
//! nobody else can).

use std::convert::Infallible;
use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::unistd::{setresgid, setresuid, Gid, Pid, Uid};

use super::process::{finish, ProcessFds};
use super::sync::{Channel, Msg};
use super::InitPlan;
use crate::error::{Context, Error, Result};
use crate::state::Status;
use crate::sys::process::setdomainname;

/// Everything the init owns besides the plan: the channel to the parent, the exec fifo
/// (read end, opened by the parent), the console socket.
pub struct InitFds {
    pub sync: Channel,
    pub fifo: Option<OwnedFd>,
    pub console: Option<OwnedFd>,
    /// Set by [`finish`] once Ready is sent (see [`ProcessFds::ready`]).
    pub ready: std::cell::Cell<bool>,
}

/// Run the init. Returns only on error; on success the process image is replaced.
pub fn run(plan: &InitPlan, fds: &InitFds) -> Result<Infallible> {
    // 1. Die with our parent while the runtime still supervises us (the runtime itself, or,
    //    forked with CLONE_PARENT for `create`, the runtime's caller: the runtime's death is
    //    then seen as EOF or EPIPE on the sync socket, whose every step ends in a send or a
    //    recv); a clean signal state (Rust ignores SIGPIPE, and an ignored signal would stay
    //    ignored across execve).
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("setting the parent death signal")?;
    // Not dumpable while husk's image runs here: container processes cannot open
    // /proc/PID/exe (the host binary) or our memory (CVE-2019-5736). execve resets it.
    //    Rootless (see main.rs): dumpable, or our own /proc files are the host root's.
    if !plan.rootless {
        nix::sys::prctl::set_dumpable(false).context("clearing the dumpable flag")?;
    }
    reset_signals()?;
    // Named until the exec: `state` and `list` see a running program by its other name.
    nix::sys::prctl::set_name(crate::state::INIT_COMM_C).context("naming the init")?;
    // 2. Wait until the parent has put us into our cgroup (and written user-ns maps). When
    //    nothing before the pivot needs the cgroup or the parent, wait only after step 9:
    //    the parent's cgroup move (~1 ms, mostly the kernel's sync on a first move) then
    //    overlaps with our mount work.
    let late_go = go_after_rootfs(plan);
    if !late_go {
        fds.sync.expect(Msg::Go)?;
    }
    // 3. Namespaces that clone did not create: join by path, unshare the rest, and fork
    //    again when the pid or time namespace applies only to children.
    enter_namespaces(plan, fds)?;
    // 4. The cgroup namespace, rooted at the container's cgroup we are now in.
    if plan.ns.new_cgroup {
        unshare(CloneFlags::CLONE_NEWCGROUP).context("creating the cgroup namespace")?;
    }
    // 5. A session of our own: no controlling terminal shared with the caller.
    nix::unistd::setsid().context("creating a new session")?;
    // 5b. A session keyring of our own (the caller's keys stay out of reach).
    if let Some(name) = &plan.session_keyring {
        // Labelled with the process's SELinux label, as runc does (SetKeyLabel).
        plan.process.lsm.keycreate(true)?;
        let joined = crate::sys::process::join_session_keyring(name);
        plan.process.lsm.keycreate(false)?;
        match joined {
            // possessor: all; user: view/read/link/setattr... as runc sets it (0x3f1f0000 | 0x080000).
            Ok(key) => crate::sys::process::keyctl_setperm(key, 0x3f1f_0000 | 0x0008_0000)
                .with_context(|| format!("setting permissions of session keyring {name:?}"))?,
            // No keyring support in this kernel or user namespace: nothing to isolate.
            Err(Errno::ENOSYS) | Err(Errno::EACCES) => {}
            Err(e) => return Err(Error::sys(e, format!("joining session keyring {name:?}"))),
        }
    }
    // 6. Hostname and domainname (the UTS namespace is ours).
    if let Some(h) = &plan.hostname {
        nix::unistd::sethostname(h).with_context(|| format!("setting hostname {h:?}"))?;
    }
    if let Some(d) = &plan.domainname {
        setdomainname(d.as_bytes()).with_context(|| format!("setting domainname {d:?}"))?;
    }
    // 7. oom_score_adj while we still see the host's /proc and hold CAP_SYS_RESOURCE-free rights.
    if let Some(adj) = plan.process.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| Error::io(e, format!("setting oom_score_adj to {adj}")))?;
    }
    // 8. The filesystem, first part: mounts and devices under the rootfs (umask 0 for the
    //    modes of what we create, as the spec gives them).
    let umask = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let rootfs_at = plan.rootfs.mount_all()?;
    // 9. Hooks, once the namespaces and mounts exist and before pivot_root (as runc):
    //    prestart/createRuntime run by the runtime in its namespaces, then createContainer
    //    here in ours, with the caller's umask.
    let mut init_pid = 0;
    if plan.has_runtime_hooks {
        fds.sync.send(&Msg::RunHooks)?;
        match fds.sync.recv()? {
            Some(Msg::HooksDone(pid)) => init_pid = pid,
            other => {
                return Err(Error::new(
                    crate::Kind::System,
                    format!("expected hook state from the runtime, got {other:?}"),
                ))
            }
        }
        nix::sys::stat::umask(umask);
        let st = plan.hook_state.json(Status::Creating, init_pid);
        // In the container's root filesystem (as runc: hooks patch it with relative paths).
        let ctx = crate::hooks::Ctx { default_env: Some(&plan.process.env), cwd: Some(&plan.rootfs.rootfs) };
        crate::hooks::run_hooks_in("createContainer", &plan.create_container_hooks, &st, ctx)?;
        nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    }
    // 10. The filesystem, second part: sysctls (through the container's procfs),
    //     masked/readonly paths, pivot_root.
    plan.rootfs.finish(&rootfs_at)?;
    if !plan.rootfs.shared_mount_ns {
        crate::rootfs::reopen_dev_null().context("reopening /dev/null in the container")?;
    }
    if late_go {
        fds.sync.expect(Msg::Go)?;
    }
    // 11. The terminal: a pty from the container's devpts, master sent to the caller.
    if let Some(sock) = &fds.console {
        crate::console::setup_init_console(sock.as_fd(), plan.process.console_size, plan.process.uid)
            .context("setting up the console")?;
    }
    // 12-20. The process: rlimits, fds, program lookup, user, cwd, Ready, the wait for
    //        `start`, startContainer hooks, privileges, exec.
    let pfds =
        ProcessFds { sync: &fds.sync, fifo: fds.fifo.as_ref(), console: fds.console.as_ref(), ready: &fds.ready };
    let start_hooks = || -> Result<()> {
        if !plan.start_container_hooks.is_empty() {
            let st = plan.hook_state.json(Status::Created, init_pid);
            // In the process's cwd (already entered), by default with its environment.
            let ctx = crate::hooks::Ctx { default_env: Some(&plan.process.env), cwd: None };
            crate::hooks::run_hooks_in("startContainer", &plan.start_container_hooks, &st, ctx)?;
        }
        Ok(())
    };
    finish(&plan.process, &pfds, &start_hooks)
}

/// Steps 3–9 may run before the parent has placed us in our cgroup: no message to the
/// parent on the way (user-ns maps, hooks, a second fork), no cgroup namespace to root at
/// the cgroup, and only device nodes the devices cgroup allows anyway.
fn go_after_rootfs(plan: &InitPlan) -> bool {
    let ns = &plan.ns;
    !(plan.has_runtime_hooks
        || plan.cgroup_made_at_join
        || ns.new_cgroup
        || ns.stage2
        || ns.new_user
        || ns.user_in_clone
        || !ns.joins.is_empty()
        || !plan.rootfs.only_default_devices())
}

pub(crate) fn reset_signals() -> Result<()> {
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None).context("clearing the signal mask")?;
    crate::sys::process::default_signal(Signal::SIGPIPE as i32).context("restoring SIGPIPE")?;
    Ok(())
}

fn enter_namespaces(plan: &InitPlan, fds: &InitFds) -> Result<()> {
    let ns = &plan.ns;
    // timeOffsets go through /proc/self/timens_offsets once the time namespace exists. We are
    // not dumpable, so our /proc files belong to the host's root: open it for writing now,
    // while we still are that root, before a user namespace makes us someone else (EACCES).
    // The kernel then checks CAP_SYS_TIME over the time namespace against this opener.
    let offsets_fd = match &ns.time_offsets {
        Some(_) if ns.new_time => Some(open_timens_offsets()?),
        _ => None,
    };
    for j in &ns.joins {
        setns(j.fd.as_fd(), j.flag).with_context(|| format!("joining {} namespace {}", j.kind, j.path.display()))?;
        if j.kind == oci_spec::runtime::LinuxNamespaceType::User {
            become_root_in_userns()?;
        }
    }
    if ns.user_in_clone {
        become_root_in_userns()?;
    } else if ns.new_user {
        unshare(CloneFlags::CLONE_NEWUSER).context("creating the user namespace")?;
        fds.sync.send(&Msg::NeedMaps(Pid::this().as_raw()))?;
        fds.sync.expect(Msg::MapsDone)?;
        become_root_in_userns()?;
    }
    if !ns.unshare_flags.is_empty() {
        unshare(ns.unshare_flags).with_context(|| format!("creating namespaces {:?}", ns.unshare_flags))?;
    }
    if ns.new_time {
        unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)).context("creating the time namespace")?;
        if let (Some(off), Some(fd)) = (&ns.time_offsets, &offsets_fd) {
            // One write: the kernel takes every line of a write at once, or none.
            let n = nix::unistd::write(fd, off.as_bytes())
                .with_context(|| format!("writing time offsets {:?} to /proc/self/timens_offsets", off.trim()))?;
            if n != off.len() {
                return Err(Error::new(
                    crate::Kind::System,
                    format!("writing time offsets to /proc/self/timens_offsets: short write ({n} of {})", off.len()),
                ));
            }
        }
        drop(offsets_fd);
    }
    if ns.stage2 {
        super::fork_stage2("the init into its pid/time namespace", &|pid| fds.sync.send(&Msg::Stage2(pid.as_raw())))?;
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("setting the parent death signal")?;
    }
    Ok(())
}

fn open_timens_offsets() -> Result<OwnedFd> {
    let fd = nix::fcntl::open(
        "/proc/self/timens_offsets",
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .context("opening /proc/self/timens_offsets for writing")?;
    Ok(crate::sys::fs::own_fd(fd))
}

pub(crate) fn become_root_in_userns() -> Result<()> {
    // Only possible when 0 is mapped; otherwise stay as we are (the maps decide).
    let _ = setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0));
    let _ = setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0));
    Ok(())
}

//! Launching a container's init: the plan (built in the runtime from the spec, before
//! fork), the fork, and the parent's side of the set-up conversation. The init's side is
//! [`child`]. One fork in the common case, no re-exec of husk: see docs/launch.md.

pub mod attrs;
pub mod child;
pub mod exec;
pub mod process;
pub mod sync;

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use crate::cgroups::Cgroup;
use crate::error::{Context, Error, Kind, Result};
use crate::namespaces::NsPlan;
use crate::rootfs::RootfsPlan;
use crate::sys::process::{exit_now, fork_with_flags, Forked};
use child::InitFds;
use process::ProcessPlan;
use sync::Msg;

/// Everything the init needs, computed before fork so the child only makes system calls.
pub struct InitPlan {
    pub ns: NsPlan,
    pub uid_map: Option<String>,
    pub gid_map: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub rootfs: RootfsPlan,
    pub process: ProcessPlan,
    /// `_ses.<id>`: the session keyring to join, unless --no-new-keyring.
    pub session_keyring: Option<std::ffi::CString>,
    /// Any hook at all before exec: the init then asks the parent to run the runtime's
    /// hooks and gets its own host pid for the state its hooks are given.
    pub has_runtime_hooks: bool,
    /// The state for the init's own hooks (status and pid filled in there); set by the caller
    /// once it knows the state.
    pub hook_state: crate::state::HookState,
    pub create_container_hooks: Vec<oci_spec::runtime::Hook>,
    pub start_container_hooks: Vec<oci_spec::runtime::Hook>,
    /// Fork the init with CLONE_PARENT: its parent is our caller (the shim, conmon, a shell)
    /// from the start, as it would be once we exit. Set when the caller does not wait on us
    /// (`create`, `run -d`): if we are killed mid-create, the caller reaps the dead init at
    /// once instead of an init (pid 1) that may reap late or never.
    pub reparent_to_caller: bool,
    /// The cgroup only exists once the init joins it (the systemd driver starts the scope
    /// with its first process): the init must not mount it before that (no late Go).
    pub cgroup_made_at_join: bool,
    /// The runtime runs as a non-root user (see [`write_id_maps`], child.rs step 1).
    pub rootless: bool,
}

fn id_map(m: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>) -> Option<String> {
    let m = m?;
    if m.is_empty() {
        return None;
    }
    Some(m.iter().map(|e| format!("{} {} {}\n", e.container_id(), e.host_id(), e.size())).collect())
}

pub struct PlanInput<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: PathBuf,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    pub cgroup_path: &'a str,
    pub id: &'a str,
    pub no_new_keyring: bool,
    /// `--root`: compiled seccomp programs are cached under it.
    pub state_root: &'a Path,
}

impl InitPlan {
    pub fn from_spec(input: PlanInput) -> Result<Self> {
        let spec = input.spec;
        let linux = spec.linux().as_ref().ok_or_else(|| Error::invalid_spec("linux: missing"))?;
        let process = spec.process().as_ref().ok_or_else(|| Error::invalid_spec("process: missing"))?;
        let ns = NsPlan::from_spec(linux)?;
        // Without a mount namespace of its own the container shares the caller's: the rootfs is
        // set up there and entered with chroot (as runc does), see RootfsPlan::shared_mount_ns.
        let shared_mount_ns =
            !ns.new_mount && !ns.joins.iter().any(|j| j.kind == oci_spec::runtime::LinuxNamespaceType::Mount);
        let userns = ns.new_user || ns.joins.iter().any(|j| j.kind == oci_spec::runtime::LinuxNamespaceType::User);
        if !userns && !nix::unistd::geteuid().is_root() {
            // runc's words, and why.
            return Err(Error::invalid_spec(
                "linux.namespaces: rootless container requires user namespaces (an unprivileged user can only \
                 create the other namespaces inside one of its own)",
            ));
        }
        let mut rootfs = RootfsPlan::from_spec(
            spec,
            input.bundle,
            input.rootfs.clone(),
            input.no_pivot,
            userns,
            ns.new_cgroup,
            input.cgroup_path,
        )?;
        if shared_mount_ns {
            rootfs.share_mount_ns()?;
        }
        rootfs.cwd = Some(process.cwd().clone());
        let mut sysctl: Vec<(String, String)> = linux.sysctl().clone().unwrap_or_default().into_iter().collect();
        sysctl.sort();
        rootfs.sysctl = sysctl;
        let cache = input.state_root.join(process::SECCOMP_CACHE_DIR);
        let mut proc_plan = ProcessPlan::from_process(
            process,
            &input.rootfs,
            linux.seccomp().as_ref(),
            Some(&cache),
            input.preserve_fds,
            process::listen_fds(),
        )?;
        proc_plan.attrs = attrs::ProcessAttrs::from_spec(process, Some(linux))?;
        let hooks = spec.hooks().as_ref();
        let some = |v: &Option<Vec<oci_spec::runtime::Hook>>| v.as_ref().is_some_and(|v| !v.is_empty());
        // Network devices and Intel RDT need the init's pid and namespaces: the runtime
        // handles them in the same round trip as the createRuntime hooks.
        let net_devices = linux.net_devices().clone().unwrap_or_default();
        crate::netdev::validate(&net_devices)?;
        if !net_devices.is_empty()
            && !linux
                .namespaces()
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network)
        {
            return Err(Error::invalid_spec(
                "linux.netDevices: moving devices needs a network namespace for the container",
            ));
        }
        if let Some(rdt) = linux.intel_rdt() {
            crate::resctrl::group_dir(rdt, input.id)?;
        }
        let runtime_setup = !net_devices.is_empty() || linux.intel_rdt().is_some();
        let has_runtime_hooks = runtime_setup
            || hooks.is_some_and(|h| {
                some(h.prestart())
                    || some(h.create_runtime())
                    || some(h.create_container())
                    || some(h.start_container())
            });
        let create_container_hooks = hooks.and_then(|h| h.create_container().clone()).unwrap_or_default();
        let start_container_hooks = hooks.and_then(|h| h.start_container().clone()).unwrap_or_default();
        Ok(InitPlan {
            uid_map: id_map(linux.uid_mappings().as_ref()),
            gid_map: id_map(linux.gid_mappings().as_ref()),
            ns,
            hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
            domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
            rootfs,
            process: proc_plan,
            session_keyring: if input.no_new_keyring {
                None
            } else {
                std::ffi::CString::new(format!("_ses.{}", input.id)).ok()
            },
            has_runtime_hooks,
            hook_state: Default::default(),
            create_container_hooks,
            start_container_hooks,
            reparent_to_caller: false,
            cgroup_made_at_join: false,
            rootless: !nix::unistd::geteuid().is_root(),
        })
    }
}

/// Kills and reaps the processes of a half-made container unless disarmed: every error
/// path of `spawn` leaves no process behind.
struct ChildGuard {
    pids: Vec<Pid>,
}

impl ChildGuard {
    fn disarm(mut self) {
        self.pids.clear();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        for &p in &self.pids {
            let _ = kill(p, Signal::SIGKILL);
            let _ = waitpid(p, None);
        }
    }
}

/// What `spawn` asks of its caller during set-up.
pub trait SpawnHooks {
    /// The init's namespaces and mounts exist: run prestart/createRuntime hooks for init `pid`.
    fn run_runtime_hooks(&mut self, pid: Pid) -> Result<()>;
    /// The container's state JSON (status creating) with init `pid`, for the seccomp agent.
    fn state_json(&self, pid: Pid) -> Vec<u8>;
}

/// The runtime's part of the SCMP_ACT_NOTIFY hand-over: the process `pid` loaded its filter
/// and holds the listener as its fd `fd`; copy it out (pidfd_getfd) and send it with the
/// container process state to the agent at `linux.seccomp.listenerPath`. `state_json` is the
/// container's state as hooks get it.
pub(crate) fn send_seccomp_listener(
    pid: Pid,
    fd: i32,
    target: Option<&process::SeccompListener>,
    state_json: &[u8],
) -> Result<()> {
    use crate::security::seccomp;
    use std::os::fd::AsFd;
    let target =
        target.ok_or_else(|| Error::new(Kind::System, "a seccomp listener came but no listenerPath is set"))?;
    let state: oci_spec::runtime::State = serde_json::from_slice(state_json)
        .map_err(|e| Error::new(Kind::System, format!("encoding the container state for the seccomp agent: {e}")))?;
    let pidfd = crate::sys::process::pidfd_open(pid).map_err(|e| Error::sys(e, format!("pidfd_open({pid})")))?;
    let listener = seccomp::take_listener(pidfd.as_fd(), fd)?;
    seccomp::send_listener(listener.as_fd(), &target.path, pid.as_raw(), target.metadata.as_deref(), &state)
}

/// Fork the init and drive its set-up until it is ready to exec (it then waits on the
/// fifo, if one is given). Returns the init's host pid. `lock` is the container's state-dir
/// lock: the child closes its copy at once (a flock is shared across fork, and an orphaned
/// init must never keep the container locked).
pub fn spawn(
    plan: &InitPlan,
    cgroup: &Cgroup,
    fifo: Option<OwnedFd>,
    console: Option<OwnedFd>,
    lock: BorrowedFd,
    hooks: &mut dyn SpawnHooks,
) -> Result<Pid> {
    let mut ph = crate::logging::Phases::start("spawn");
    let (parent_ch, child_ch) = sync::pair()?;
    // CLONE_PARENT is refused (EINVAL) to the init of a pid namespace.
    let clone_parent = if plan.reparent_to_caller && std::process::id() != 1 { libc::CLONE_PARENT } else { 0 };
    let birth = birth_dir(cgroup);
    let (forked, born_in_cgroup) =
        fork_into(plan.ns.clone_flags.bits() | clone_parent, birth.as_ref()).context("forking the container init")?;
    let first = match forked {
        Forked::Child => {
            // Not the container's: the cgroup directory (close-on-exec anyway) and our lock.
            drop(birth);
            let _ = nix::unistd::close(lock.as_raw_fd());
            drop(parent_ch);
            let start_errors = fifo.as_ref().and_then(|f| start_error_channel(f, plan.process.preserve_fds));
            let fds = InitFds { sync: child_ch, fifo, console, ready: std::cell::Cell::new(false) };
            let err = match child::run(plan, &fds) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            // Before Ready the parent reports the error; after it (a failure between
            // start and exec, e.g. a startContainer hook) `start` reads it from the exec
            // fifo, the container's stderr gets it too, and the container's exit status is
            // 1, as runc's init gives it. (A failing execve never comes here: see `finish`.)
            let after_ready = fds.ready.get();
            if after_ready || fds.sync.send(&Msg::Fail(err.to_string())).is_err() {
                if let Some(w) = &start_errors {
                    let mut msg = format!("{START_ERROR_TAG}{err}").into_bytes();
                    msg.truncate(libc::PIPE_BUF); // one atomic write
                    let _ = nix::unistd::write(w, &msg);
                }
                let _ = nix::unistd::write(std::io::stderr(), format!("husk: container init: {err}\n").as_bytes());
            }
            exit_now(if after_ready { 1 } else { 127 });
        }
        Forked::Parent(pid) => pid,
    };
    drop(birth);
    drop(child_ch);
    drop(fifo);
    drop(console);
    let mut guard = ChildGuard { pids: vec![first] };
    plan.process.attrs.pin_initial(first)?;
    ph.mark(if born_in_cgroup { "clone3-into-cgroup" } else { "clone" });
    crate::fault::point("create:forked");
    if !born_in_cgroup {
        // The init may run ahead until Go (child.rs `go_after_rootfs`) and fail meanwhile: its
        // report then explains an error here better than the error itself.
        if let Err(e) = cgroup.add_task(first).context("adding the init to its cgroup") {
            return Err(early_failure(&parent_ch).unwrap_or(e));
        }
        ph.mark("cgroup-add-task");
    }
    crate::fault::point("create:in-cgroup");
    if plan.ns.user_in_clone {
        write_id_maps(first, plan)?;
    }
    if let Err(e) = parent_ch.send(&Msg::Go) {
        return Err(early_failure(&parent_ch).unwrap_or(e));
    }
    let mut init = first;
    // A second-stage init may speak before the first child has sent its pid: see Stage2Gate.
    let mut gate = sync::Stage2Gate::new(plan.ns.stage2);
    loop {
        match gate.recv(&parent_ch)? {
            Some(Msg::NeedMaps(p)) => {
                write_id_maps(Pid::from_raw(p), plan)?;
                parent_ch.send(&Msg::MapsDone)?;
            }
            Some(Msg::Stage2(p)) => {
                init = Pid::from_raw(p);
                guard.pids.push(init);
                let _ = waitpid(first, None);
                guard.pids.retain(|&x| x != first);
            }
            Some(Msg::RunHooks) => {
                hooks.run_runtime_hooks(init)?;
                parent_ch.send(&Msg::HooksDone(init.as_raw()))?;
            }
            Some(Msg::SeccompListener(fd)) => {
                let state = hooks.state_json(init);
                send_seccomp_listener(init, fd, plan.process.seccomp_listener.as_ref(), &state)?;
                parent_ch.send(&Msg::SeccompListenerSent)?;
            }
            Some(Msg::Ready) => break,
            Some(Msg::Fail(msg)) => return Err(Error::new(Kind::System, msg)),
            Some(m) => return Err(Error::new(Kind::System, format!("unexpected {m:?} from the container init"))),
            None => {
                let how = match waitpid(init, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(_, c)) => format!("exit status {c}"),
                    Ok(WaitStatus::Signaled(_, s, _)) => format!("killed by {s}"),
                    // Not our child (CLONE_PARENT): the zombie's /proc/PID/stat has the status.
                    Err(nix::errno::Errno::ECHILD) => zombie_status(init).unwrap_or_else(|| "no status".into()),
                    _ => "no status".into(),
                };
                return Err(Error::new(Kind::System, format!("container init exited during set-up ({how})")));
            }
        }
    }
    ph.mark("init-setup");
    guard.disarm();
    Ok(init)
}

/// The debug knob HUSK_NO_CLONE3 (any value): no clone3(CLONE_INTO_CGROUP), the fork-then-join
/// path everywhere, as on older kernels and v1/hybrid hosts (to compare the two, see
/// docs/cgroup-v2.md).
pub(crate) fn clone3_disabled() -> bool {
    std::env::var_os("HUSK_NO_CLONE3").is_some()
}

/// The cgroup directory to start a process in with clone3(CLONE_INTO_CGROUP) (see
/// [`Cgroup::birth_dir`]).
pub(crate) fn birth_dir(cgroup: &Cgroup) -> Option<OwnedFd> {
    if clone3_disabled() {
        return None;
    }
    cgroup.birth_dir()
}

/// Fork with clone `flags`, directly into the cgroup2 directory `cgroup` when one is given and
/// the kernel has clone3(CLONE_INTO_CGROUP); else (or when the kernel lacks it) a plain fork whose
/// child the caller must still move into its cgroup. Returns which happened: true if the child
/// was born in `cgroup`. The fallback is silent (a debug log line only).
pub(crate) fn fork_into(flags: libc::c_int, cgroup: Option<&OwnedFd>) -> Result<(Forked, bool)> {
    use std::os::fd::AsFd;
    if let Some(dir) = cgroup {
        match crate::sys::process::fork_into_cgroup(flags, dir.as_fd()) {
            Ok(f) => return Ok((f, true)),
            Err(e) if crate::sys::process::clone3_unsupported(e) => {
                crate::logging::debug(&format!("clone3(CLONE_INTO_CGROUP): {e}; forking, then joining the cgroup"));
            }
            Err(e) => return Err(Error::sys(e, "clone3(CLONE_INTO_CGROUP)")),
        }
    }
    Ok((fork_with_flags(flags)?, false))
}

/// What an init that failed after `start` writes into the exec fifo before the message.
pub const START_ERROR_TAG: &str = "husk-init-error: ";

/// In the forked init, while /proc is still the host's: a write end of the exec fifo (whose
/// read end we hold), so that an error between `start` and exec reaches `start`, which waits
/// on the fifo. Numbered above the fds the container inherits, close-on-exec.
fn start_error_channel(fifo: &OwnedFd, preserve_fds: u32) -> Option<OwnedFd> {
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    let flags = nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC;
    let fd = crate::sys::fs::own_fd(nix::fcntl::open(path.as_str(), flags, nix::sys::stat::Mode::empty()).ok()?);
    let min = 3 + preserve_fds as i32;
    let high = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(min)).ok()?;
    Some(crate::sys::fs::own_fd(high))
}

/// A `Fail` the init already sent (without blocking: nothing there means no report).
fn early_failure(ch: &sync::Channel) -> Option<Error> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut pfd = [PollFd::new(ch.as_fd(), PollFlags::POLLIN)];
    match poll(&mut pfd, PollTimeout::ZERO) {
        Ok(n) if n > 0 => match ch.recv() {
            Ok(Some(Msg::Fail(msg))) => Some(Error::new(Kind::System, msg)),
            _ => None,
        },
        _ => None,
    }
}

/// How a process that is not our child exited: field 52 (exit_code, a wait status) of the
/// zombie's /proc/PID/stat, waiting briefly for it to become a zombie (its fds close first).
fn zombie_status(pid: Pid) -> Option<String> {
    for _ in 0..100 {
        let data = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &data[data.rfind(')')? + 1..];
        let f: Vec<&str> = rest.split_ascii_whitespace().collect();
        if f.first() == Some(&"Z") {
            let st: i32 = f.get(49)?.parse().ok()?;
            return Some(if st & 0x7f == 0 {
                format!("exit status {}", (st >> 8) & 0xff)
            } else {
                let sig =
                    Signal::try_from(st & 0x7f).map(|s| s.to_string()).unwrap_or_else(|_| (st & 0x7f).to_string());
                format!("killed by {sig}")
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    None
}

/// The second fork of the init or an exec'd process (CLONE_PARENT, into the pid/time namespace
/// that applies to children only). The first stage tells the runtime the new pid through
/// `announce` and exits; the second waits until that is done before it goes on, or its own
/// messages (Ready, RunHooks) could reach the runtime before Stage2 and the runtime would
/// take the first stage's pid for the container's (seen under load as exec failing with
/// "sending Stage2: EPIPE" and the runtime waiting on the wrong process). Returns in the
/// second stage only.
pub(crate) fn fork_stage2(what: &str, announce: &dyn Fn(Pid) -> Result<()>) -> Result<()> {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating the stage-2 pipe")?;
    match fork_with_flags(libc::CLONE_PARENT).with_context(|| format!("forking {what}"))? {
        Forked::Parent(pid) => {
            drop(rd);
            let ok = announce(pid).is_ok();
            if ok {
                let _ = nix::unistd::write(&wr, b"1");
            }
            exit_now(if ok { 0 } else { 127 });
        }
        Forked::Child => {
            drop(wr);
            let mut b = [0u8; 1];
            loop {
                match nix::unistd::read(rd.as_raw_fd(), &mut b) {
                    Ok(1) => return Ok(()),
                    Ok(_) => return Err(Error::new(Kind::System, "the first stage exited before announcing us")),
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(Error::sys(e, "waiting for the first stage")),
                }
            }
        }
    }
}

/// Write the init's id maps. Root writes /proc/PID/{uid,gid}_map itself. A rootless caller may
/// write directly only a single entry mapping its own id (the gid map then needs setgroups
/// "deny" first, as the kernel requires and runc does); anything else (rootless podman's
/// multi-range maps onto /etc/subuid ranges) goes through the setuid helpers newuidmap and
/// newgidmap, as runc does. husk itself never needs to be setuid.
fn write_id_maps(pid: Pid, plan: &InitPlan) -> Result<()> {
    let euid = nix::unistd::geteuid();
    let rootless = !euid.is_root();
    if let Some(m) = &plan.uid_map {
        let p = format!("/proc/{pid}/uid_map");
        if rootless && !own_id_only(m, euid.as_raw()) {
            map_with_helper("newuidmap", pid, m)?;
        } else {
            std::fs::write(&p, m)
                .map_err(|e| Error::io(e, format!("writing uid mappings {:?} to {p}", m.trim_end())))?;
        }
    }
    if let Some(m) = &plan.gid_map {
        let p = format!("/proc/{pid}/gid_map");
        let egid = nix::unistd::getegid().as_raw();
        if rootless && !own_id_only(m, egid) {
            map_with_helper("newgidmap", pid, m)?;
        } else {
            if rootless {
                let sg = format!("/proc/{pid}/setgroups");
                std::fs::write(&sg, "deny").map_err(|e| {
                    Error::io(e, format!("writing \"deny\" to {sg} (needed before an unprivileged gid map)"))
                })?;
            }
            std::fs::write(&p, m)
                .map_err(|e| Error::io(e, format!("writing gid mappings {:?} to {p}", m.trim_end())))?;
        }
    }
    Ok(())
}

/// The map (kernel text form) is the one entry an unprivileged process may write: `id` → 1 id.
fn own_id_only(map: &str, id: u32) -> bool {
    let lines: Vec<Vec<&str>> = map.lines().map(|l| l.split_whitespace().collect()).collect();
    matches!(lines.as_slice(), [l] if l.len() == 3 && l[1] == id.to_string() && l[2] == "1")
}

/// Run `tool` (newuidmap or newgidmap, found in PATH or /usr/bin) for `pid` with `map`.
fn map_with_helper(tool: &str, pid: Pid, map: &str) -> Result<()> {
    let what = || format!("writing {} mappings {:?} of {pid} with {tool} (rootless)", &tool[3..6], map.trim_end());
    let path = find_in_path(tool).ok_or_else(|| {
        Error::new(
            Kind::System,
            format!(
                "{tool} not found: an unprivileged user may only map its own id directly; this map needs the \
                 setuid helper (package uidmap) and ranges in /etc/sub{}id",
                &tool[3..6]
            ),
        )
        .context(what())
    })?;
    let args: Vec<&str> = map.split_whitespace().collect();
    let out = std::process::Command::new(&path)
        .arg(pid.to_string())
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::io(e, format!("running {}", path.display())).context(what()))?;
    if !out.status.success() {
        return Err(Error::new(
            Kind::System,
            format!(
                "{} {}: {}",
                path.display(),
                crate::hooks::describe_status(out.status),
                String::from_utf8_lossy(&out.stderr).trim_end()
            ),
        )
        .context(what()));
    }
    Ok(())
}

fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .filter(|d| d.is_absolute())
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod id_map_tests {
    use super::own_id_only;

    #[test]
    fn only_a_single_own_entry_is_written_directly() {
        assert!(own_id_only("0 1001 1\n", 1001));
        assert!(own_id_only("5 1001 1\n", 1001));
        assert!(!own_id_only("0 1002 1\n", 1001));
        assert!(!own_id_only("0 1001 2\n", 1001));
        assert!(!own_id_only("0 1001 1\n1 100000 65536\n", 1001));
    }
}

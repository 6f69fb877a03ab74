//! The container's init, from fork to execve. Single-threaded, a forked copy of husk.
//! The steps are numbered as in docs/launch.md; each one either succeeds or returns an
//! error that [`run`]'s caller sends to the parent, which prints it (after pivot_root
//! nobody else can).

use std::convert::Infallible;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::unistd::{execve, setresgid, setresuid, Gid, Pid, Uid};

use super::sync::{Channel, Msg};
use super::InitPlan;
use crate::error::{Context, Error, Result};
use crate::sys::process::{
    clear_cloexec, close_range_from, exit_now, fork_with_flags, setdomainname, setrlimit, Forked,
};

/// Everything the init owns besides the plan: the channel to the parent, the exec fifo
/// (read end, opened by the parent), the console socket.
pub struct InitFds {
    pub sync: Channel,
    pub fifo: Option<OwnedFd>,
    pub console: Option<OwnedFd>,
}

/// Run the init. Returns only on error; on success the process image is replaced.
pub fn run(plan: &InitPlan, fds: &InitFds) -> Result<Infallible> {
    // 1. Die with the runtime while it still supervises us; a clean signal state (Rust
    //    ignores SIGPIPE, and an ignored signal would stay ignored across execve).
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("setting the parent death signal")?;
    reset_signals()?;
    // 2. Wait until the parent has put us into our cgroup (and written user-ns maps).
    fds.sync.expect(Msg::Go)?;
    // 3. Namespaces that clone did not create: join by path, unshare the rest, and fork
    //    again when the pid or time namespace applies only to children.
    enter_namespaces(plan, fds)?;
    // 4. The cgroup namespace, rooted at the container's cgroup we are now in.
    if plan.ns.new_cgroup {
        unshare(CloneFlags::CLONE_NEWCGROUP).context("creating the cgroup namespace")?;
    }
    // 5. A session of our own: no controlling terminal shared with the caller.
    nix::unistd::setsid().context("creating a new session")?;
    // 6. Hostname and domainname (the UTS namespace is ours).
    if let Some(h) = &plan.hostname {
        nix::unistd::sethostname(h).with_context(|| format!("setting hostname {h:?}"))?;
    }
    if let Some(d) = &plan.domainname {
        setdomainname(d.as_bytes()).with_context(|| format!("setting domainname {d:?}"))?;
    }
    // 7. oom_score_adj while we still see the host's /proc and hold CAP_SYS_RESOURCE-free rights.
    if let Some(adj) = plan.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| Error::io(e, format!("setting oom_score_adj to {adj}")))?;
    }
    // 8. prestart/createRuntime hooks run by the runtime in its namespaces once ours
    //    exist; then createContainer hooks here, in ours, before pivot_root.
    let mut hook_state = Vec::new();
    if plan.has_runtime_hooks {
        fds.sync.send(&Msg::RunHooks)?;
        match fds.sync.recv()? {
            Some(Msg::HooksDone(st)) => hook_state = st,
            other => {
                return Err(Error::new(
                    crate::Kind::System,
                    format!("expected hook state from the runtime, got {other:?}"),
                ))
            }
        }
        crate::hooks::run_hooks("createContainer", &plan.create_container_hooks, &hook_state)?;
    }
    // 9. The filesystem: mounts, devices, masked/readonly paths, pivot_root.
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    plan.rootfs.apply()?;
    // 10. sysctls through the container's /proc (verified to be procfs).
    for (k, v) in &plan.sysctl {
        write_sysctl(k, v)?;
    }
    // 11. The terminal: a pty from the container's devpts, master sent to the caller.
    if let Some(sock) = &fds.console {
        crate::console::setup_init_console(sock.as_fd(), plan.console_size).context("setting up the console")?;
    }
    // 12. rlimits (before the user switch: raising needs privileges).
    for &(res, soft, hard) in &plan.rlimits {
        setrlimit(res, soft, hard)
            .with_context(|| format!("setting rlimit {} to soft={soft} hard={hard}", rlimit_name(res)))?;
    }
    // 13. fds: nothing but stdio and the preserved ones may reach the workload.
    close_range_from(3 + plan.preserve_fds, libc::CLOSE_RANGE_CLOEXEC)
        .context("marking inherited fds close-on-exec")?;
    let ours =
        [Some(fds.sync.raw()), fds.fifo.as_ref().map(|f| f.as_raw_fd()), fds.console.as_ref().map(|f| f.as_raw_fd())];
    for fd in 3..3 + plan.preserve_fds as i32 {
        if !ours.contains(&Some(fd)) {
            let _ = clear_cloexec(fd);
        }
    }
    // 14. The program must exist now, so that `create` fails rather than `start`.
    let exe = find_executable(plan)?;
    // 15. The user: bounding set, groups, gid, uid (permitted caps kept for step 19).
    plan.caps.drop_bounding()?;
    nix::sys::prctl::set_keepcaps(true).context("setting PR_SET_KEEPCAPS")?;
    if !plan.in_userns_without_setgroups {
        nix::unistd::setgroups(&plan.additional_gids).context("setting additional groups")?;
    }
    setresgid(plan.gid, plan.gid, plan.gid).with_context(|| format!("setting gid {}", plan.gid))?;
    setresuid(plan.uid, plan.uid, plan.uid).with_context(|| format!("setting uid {}", plan.uid))?;
    // 16. cwd, inside the new root (created during step 9 if missing).
    nix::unistd::chdir(&plan.cwd).with_context(|| format!("changing to cwd {}", plan.cwd.display()))?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(plan.umask));
    // 17. Ready: the runtime may return from `create`. From here on we must survive it.
    nix::sys::prctl::set_pdeathsig(None::<Signal>).context("clearing the parent death signal")?;
    fds.sync.send(&Msg::Ready)?;
    // 18. Block until `start` writes to the exec fifo.
    if let Some(fifo) = &fds.fifo {
        wait_fifo(fifo)?;
    }
    // 18b. startContainer hooks: in the container, after start, before the program.
    if !plan.start_container_hooks.is_empty() {
        let st = with_status(&hook_state, "created");
        crate::hooks::run_hooks("startContainer", &plan.start_container_hooks, &st)?;
    }
    // 19. Privileges last: no_new_privs, capabilities, seccomp (without no_new_privs the
    //     filter is loaded while CAP_SYS_ADMIN is still held).
    if plan.no_new_privileges {
        nix::sys::prctl::set_no_new_privs().context("setting no_new_privs")?;
    }
    if let Some(prog) = &plan.seccomp {
        if !plan.no_new_privileges {
            crate::security::caps::CapsPlan::raise_sys_admin();
            prog.install().context("loading the seccomp filter")?;
            plan.caps.apply()?;
        } else {
            plan.caps.apply()?;
            prog.install().context("loading the seccomp filter")?;
        }
    } else {
        plan.caps.apply()?;
    }
    // 20. exec.
    let e = execve(&exe, &plan.args, &plan.env).unwrap_err();
    Err(Error::sys(e, format!("exec {:?}", exe)))
}

/// The hook state with another status.
fn with_status(state: &[u8], status: &str) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(state) {
        Ok(mut v) => {
            v["status"] = status.into();
            serde_json::to_vec(&v).unwrap_or_default()
        }
        Err(_) => state.to_vec(),
    }
}

fn reset_signals() -> Result<()> {
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None).context("clearing the signal mask")?;
    crate::sys::process::default_signal(Signal::SIGPIPE as i32).context("restoring SIGPIPE")?;
    Ok(())
}

fn enter_namespaces(plan: &InitPlan, fds: &InitFds) -> Result<()> {
    let ns = &plan.ns;
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
        if let Some(off) = &ns.time_offsets {
            std::fs::write("/proc/self/timens_offsets", off)
                .map_err(|e| Error::io(e, "writing /proc/self/timens_offsets"))?;
        }
    }
    if ns.stage2 {
        match fork_with_flags(libc::CLONE_PARENT).context("forking the init into its pid/time namespace")? {
            Forked::Parent(pid) => {
                fds.sync.send(&Msg::Stage2(pid.as_raw()))?;
                exit_now(0);
            }
            Forked::Child => {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("setting the parent death signal")?;
            }
        }
    }
    Ok(())
}

fn become_root_in_userns() -> Result<()> {
    // Only possible when 0 is mapped; otherwise stay as we are (the maps decide).
    let _ = setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0));
    let _ = setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0));
    Ok(())
}

/// Write one sysctl through the container's /proc/sys, refusing anything that is not
/// procfs (a fake /proc in the rootfs must not redirect the write: CVE-2025-52881).
fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
    let what = || format!("setting sysctl {key}={value}");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags_nofollow()
        .open(&path)
        .map_err(|e| Error::io(e, what()))?;
    let st = nix::sys::statfs::fstatfs(&f).with_context(what)?;
    if st.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(Error::sys(Errno::EXDEV, format!("{}: {} is not on procfs", what(), path.display())));
    }
    use std::io::Write;
    (&f).write_all(value.as_bytes()).map_err(|e| Error::io(e, what()))
}

trait NoFollow {
    fn custom_flags_nofollow(&mut self) -> &mut Self;
}
impl NoFollow for std::fs::OpenOptions {
    fn custom_flags_nofollow(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
    }
}

/// Wait for `start`: it opens the fifo for writing and writes one byte. poll() on a fifo
/// read end that has never had a writer does not report POLLHUP, so this blocks until then.
fn wait_fifo(fifo: &OwnedFd) -> Result<()> {
    loop {
        let mut pfd = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        match poll(&mut pfd, PollTimeout::NONE) {
            Ok(_) => break,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys(e, "waiting on the exec fifo")),
        }
    }
    let mut b = [0u8; 1];
    match nix::unistd::read(fifo.as_raw_fd(), &mut b) {
        Ok(1) => Ok(()),
        Ok(_) => Err(Error::bad_state("the exec fifo was closed without a start")),
        Err(e) => Err(Error::sys(e, "reading the exec fifo")),
    }
}

/// Find the program like runc (Go's exec.LookPath with the container's PATH): a name with
/// a slash is used as is; otherwise the first executable regular file on PATH.
fn find_executable(plan: &InitPlan) -> Result<CString> {
    let arg0 = plan.args[0].to_bytes();
    let name = String::from_utf8_lossy(arg0).into_owned();
    let executable = |p: &Path| -> std::result::Result<(), Errno> {
        let st = nix::sys::stat::stat(p)?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            return Err(Errno::EISDIR);
        }
        if st.st_mode & 0o111 == 0 {
            return Err(Errno::EACCES);
        }
        Ok(())
    };
    if arg0.contains(&b'/') {
        let p = Path::new(std::ffi::OsStr::from_bytes(arg0));
        return match executable(p) {
            Ok(()) => Ok(plan.args[0].clone()),
            Err(e) => Err(Error::sys(e, format!("exec: {name:?}: stat {name}"))),
        };
    }
    for dir in plan.path_env.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(&name);
        if executable(&cand).is_ok() {
            return CString::new(cand.as_os_str().as_bytes())
                .map_err(|_| Error::invalid_spec("process.args[0] contains NUL"));
        }
    }
    Err(Error::not_found(format!("exec: {name:?}: executable file not found in $PATH")))
}

fn rlimit_name(res: i32) -> &'static str {
    super::RLIMITS.iter().find(|(_, r)| *r == res).map(|(n, _)| *n).unwrap_or("?")
}

#[allow(dead_code)]
fn cstr_path(c: &CStr) -> &Path {
    Path::new(std::ffi::OsStr::from_bytes(c.to_bytes()))
}

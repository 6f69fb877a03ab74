//! The container process itself (init or exec'd): what it runs and as whom. Planned in the
//! runtime from an OCI `Process`; [`finish`] is the last part of both the init's and an
//! exec'd process's path to execve, shared by both.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::unistd::{execve, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::Process;

use super::sync::{Channel, Msg};
use crate::error::{Context, Error, Result};
use crate::security::caps::CapsPlan;
use crate::sys::process::{clear_cloexec, close_range_from, setrlimit};

/// OCI rlimit names and their resource numbers.
pub const RLIMITS: [(&str, i32); 16] = [
    ("RLIMIT_CPU", libc::RLIMIT_CPU as i32),
    ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE as i32),
    ("RLIMIT_DATA", libc::RLIMIT_DATA as i32),
    ("RLIMIT_STACK", libc::RLIMIT_STACK as i32),
    ("RLIMIT_CORE", libc::RLIMIT_CORE as i32),
    ("RLIMIT_RSS", libc::RLIMIT_RSS as i32),
    ("RLIMIT_NPROC", libc::RLIMIT_NPROC as i32),
    ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE as i32),
    ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK as i32),
    ("RLIMIT_AS", libc::RLIMIT_AS as i32),
    ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS as i32),
    ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING as i32),
    ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE as i32),
    ("RLIMIT_NICE", libc::RLIMIT_NICE as i32),
    ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO as i32),
    ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME as i32),
];

pub struct ProcessPlan {
    pub rlimits: Vec<(i32, u64, u64)>,
    pub uid: Uid,
    pub gid: Gid,
    pub additional_gids: Vec<Gid>,
    pub umask: u32,
    pub caps: CapsPlan,
    pub no_new_privileges: bool,
    pub cwd: PathBuf,
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    pub path_env: String,
    pub seccomp: Option<crate::security::seccomp::Program>,
    /// Where the SCMP_ACT_NOTIFY listener goes (set when `seccomp` uses NOTIFY).
    pub seccomp_listener: Option<SeccompListener>,
    pub terminal: bool,
    pub console_size: Option<(u16, u16)>,
    /// Inherited fds 3..3+preserve_fds stay open (LISTEN_FDS + --preserve-fds).
    pub preserve_fds: u32,
    pub oom_score_adj: Option<i32>,
    /// Personality, scheduler, I/O priority, memory policy, CPU affinity.
    pub attrs: super::attrs::ProcessAttrs,
    /// AppArmor profile and SELinux label for the exec (and the init's keyring label).
    pub lsm: crate::security::lsm::LsmPlan,
}

pub fn cstrings(v: &[String], what: &str) -> Result<Vec<CString>> {
    v.iter()
        .enumerate()
        .map(|(i, s)| {
            CString::new(s.as_bytes()).map_err(|_| Error::invalid_spec(format!("{what}[{i}]: contains a NUL byte")))
        })
        .collect()
}

/// Look up HOME for `uid` in the rootfs's /etc/passwd (resolved inside the rootfs).
fn home_of(rootfs: &Path, uid: u32) -> Option<String> {
    use nix::fcntl::OFlag;
    use std::io::Read;
    let root = crate::sys::fs::own_fd(
        nix::fcntl::open(rootfs, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
            .ok()?,
    );
    let fd = crate::rootfs::resolve::open_in_root(root.as_fd(), Path::new("/etc/passwd"), libc::O_RDONLY).ok()?;
    let mut s = String::new();
    std::fs::File::from(fd).take(1 << 20).read_to_string(&mut s).ok()?;
    s.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].to_string())
    })
}

/// The environment as runc's init builds it (setenv in order): a variable given twice appears
/// once, where it first appeared, with its last value. An entry without `=` is kept as is.
fn dedup_env(env: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    for e in env {
        let key = e.split_once('=').map(|(k, _)| k);
        match key.and_then(|k| out.iter().position(|o| o.split_once('=').map(|(ok, _)| ok) == Some(k))) {
            Some(i) => out[i] = e.clone(),
            None => out.push(e.clone()),
        }
    }
    out
}

/// systemd socket activation: fds 3.. passed to us for our own pid (as runc honours it).
pub fn listen_fds() -> u32 {
    let pid_ok = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    if !pid_ok {
        return 0;
    }
    std::env::var("LISTEN_FDS").ok().and_then(|v| v.parse::<u32>().ok()).unwrap_or(0)
}

impl ProcessPlan {
    /// `listen`: the systemd socket-activation fds to pass before the preserved ones
    /// ([`listen_fds`] for a container's init; 0 for `exec`, which runc does not give them).
    pub fn from_process(
        process: &Process,
        rootfs: &Path,
        seccomp: Option<&oci_spec::runtime::LinuxSeccomp>,
        seccomp_cache: Option<&Path>,
        preserve_fds: u32,
        listen: u32,
    ) -> Result<Self> {
        let user = process.user();
        let mut rlimits = Vec::new();
        for (i, r) in process.rlimits().as_deref().unwrap_or_default().iter().enumerate() {
            let name =
                serde_json::to_value(r.typ()).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            let res = RLIMITS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, r)| *r)
                .ok_or_else(|| Error::invalid_spec(format!("process.rlimits[{i}].type: unknown {name:?}")))?;
            rlimits.push((res, r.soft(), r.hard()));
        }
        let args = process.args().clone().unwrap_or_default();
        if args.is_empty() || args[0].is_empty() {
            return Err(Error::invalid_spec("process.args: must contain at least the program to run"));
        }
        let mut env = dedup_env(process.env().as_deref().unwrap_or_default());
        // runc: a HOME that is missing or empty comes from the user's passwd entry, else "/".
        let home = env.iter().position(|e| e.split_once('=').map(|(k, _)| k) == Some("HOME"));
        if home.is_none_or(|i| env[i] == "HOME=") {
            let value = format!("HOME={}", home_of(rootfs, user.uid()).unwrap_or_else(|| "/".into()));
            match home {
                Some(i) => env[i] = value,
                None => env.push(value),
            }
        }
        if listen > 0 {
            // Set, as runc does: they replace any the config gives.
            env.push(format!("LISTEN_FDS={listen}"));
            env.push("LISTEN_PID=1".into());
            env = dedup_env(&env);
        }
        let path_env = env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or("").to_string();
        let (seccomp, seccomp_listener) = match seccomp {
            Some(s) => {
                let (prog, listener) = plan_seccomp(s, seccomp_cache)?;
                (Some(prog), listener)
            }
            None => (None, None),
        };
        // Names this kernel does not have (newer than it): ignored with runc's warning.
        let caps = CapsPlan::from_spec(process.capabilities().as_ref());
        crate::spec::warn_ignored_caps(&caps.unknown);
        Ok(ProcessPlan {
            rlimits,
            uid: Uid::from_raw(user.uid()),
            gid: Gid::from_raw(user.gid()),
            additional_gids: user
                .additional_gids()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(Gid::from_raw)
                .collect(),
            umask: user.umask().unwrap_or(0o022),
            caps,
            no_new_privileges: process.no_new_privileges().unwrap_or(false),
            cwd: process.cwd().clone(),
            args: cstrings(&args, "process.args")?,
            env: cstrings(&env, "process.env")?,
            path_env,
            seccomp,
            seccomp_listener,
            terminal: process.terminal().unwrap_or(false),
            console_size: process.console_size().as_ref().map(|b| (b.height() as u16, b.width() as u16)),
            preserve_fds: preserve_fds + listen,
            oom_score_adj: process.oom_score_adj(),
            attrs: super::attrs::ProcessAttrs::default(),
            lsm: crate::security::lsm::LsmPlan::for_process(process, 3 + (preserve_fds + listen) as i32)?,
        })
    }
}

/// `linux.seccomp.listenerPath` and `listenerMetadata`: the seccomp agent that gets the
/// notification listener, from the runtime parent, before the process execs.
#[derive(Debug, Clone)]
pub struct SeccompListener {
    pub path: PathBuf,
    pub metadata: Option<String>,
}

/// The directory of compiled seccomp programs under the state root (`--root`). Its name is not
/// a valid container id, so it can never be mistaken for (or collide with) a container's dir.
pub const SECCOMP_CACHE_DIR: &str = "@seccomp-cache";

/// Compile `linux.seccomp` (through the cache in `cache`, when given) and check that this
/// kernel has every flag and action it uses, so that `create`/`exec` fail with the name of
/// what is missing rather than the init failing late.
fn plan_seccomp(
    s: &oci_spec::runtime::LinuxSeccomp,
    cache: Option<&Path>,
) -> Result<(crate::security::seccomp::Program, Option<SeccompListener>)> {
    use crate::security::seccomp;
    let prog = match cache {
        Some(dir) => seccomp::compile_cached(s, dir)?,
        None => seccomp::compile(s)?,
    };
    prog.check_kernel_support()?;
    let listener = if prog.uses_notify() {
        // compile() refuses NOTIFY without a listenerPath.
        let path = s
            .listener_path()
            .clone()
            .ok_or_else(|| Error::invalid_spec("linux.seccomp.listenerPath: required with SCMP_ACT_NOTIFY rules"))?;
        Some(SeccompListener { path, metadata: s.listener_metadata().clone() })
    } else {
        None
    };
    Ok((prog, listener))
}

/// What the process holds besides the plan.
pub struct ProcessFds<'a> {
    pub sync: &'a Channel,
    /// The exec fifo (init only): wait on it for `start` after reporting Ready.
    pub fifo: Option<&'a OwnedFd>,
    pub console: Option<&'a OwnedFd>,
    /// Set once Ready is sent: the runtime no longer reads our errors from the channel, so
    /// the caller reports a later one itself (container's stderr, exit status 1 as runc).
    pub ready: &'a std::cell::Cell<bool>,
}

/// Hooks the init runs between `start` and exec.
pub type BeforeExec<'a> = &'a dyn Fn() -> Result<()>;

/// The shared end of the road, in the container's namespaces with the final root:
/// rlimits, fds, the program lookup, the user, cwd, umask, the LSM labels for the exec; then
/// Ready, the wait for `start` (init), and privileges last: no_new_privs, capabilities,
/// seccomp, execve.
pub fn finish(p: &ProcessPlan, fds: &ProcessFds, before_exec: BeforeExec) -> Result<Infallible> {
    // a. rlimits (before the user switch: raising needs privileges).
    for &(res, soft, hard) in &p.rlimits {
        setrlimit(res, soft, hard)
            .with_context(|| format!("setting rlimit {} to soft={soft} hard={hard}", rlimit_name(res)))?;
    }
    // b. fds: nothing but stdio and the preserved ones may reach the workload.
    close_range_from(3 + p.preserve_fds, libc::CLOSE_RANGE_CLOEXEC).context("marking inherited fds close-on-exec")?;
    let ours = [Some(fds.sync.raw()), fds.fifo.map(|f| f.as_raw_fd()), fds.console.map(|f| f.as_raw_fd())];
    for fd in 3..3 + p.preserve_fds as i32 {
        if !ours.contains(&Some(fd)) {
            let _ = clear_cloexec(fd);
        }
    }
    // c. cwd, inside the container's root, first while still root: a cwd only root can
    //    reach works (as in runc). On EACCES/EPERM try again as the user (a directory the
    //    user may enter but root may not, e.g. on a root-squashing network filesystem).
    let cwd_later = match nix::unistd::chdir(&p.cwd) {
        Ok(()) => false,
        Err(Errno::EACCES | Errno::EPERM) => true,
        Err(e) => return Err(Error::sys(e, format!("changing to cwd {}", p.cwd.display()))),
    };
    // c2. The program must exist now, so that `create`/`exec` fail rather than `start`
    //     (a relative path is found from the cwd, as in runc).
    let exe = find_executable(p)?;
    // c3. Personality, memory policy, I/O priority, final CPU affinity, scheduler (still
    //     privileged: real-time policies need CAP_SYS_NICE).
    p.attrs.apply()?;
    // d. The user: bounding set, groups, gid, uid (permitted caps kept for step g).
    p.caps.drop_bounding()?;
    nix::sys::prctl::set_keepcaps(true).context("setting PR_SET_KEEPCAPS")?;
    if !setgroups_denied() {
        nix::unistd::setgroups(&p.additional_gids).context("setting additional groups")?;
    }
    setresgid(p.gid, p.gid, p.gid).with_context(|| format!("setting gid {}", p.gid))?;
    setresuid(p.uid, p.uid, p.uid).with_context(|| format!("setting uid {}", p.uid))?;
    if cwd_later {
        nix::unistd::chdir(&p.cwd).with_context(|| format!("changing to cwd {}", p.cwd.display()))?;
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(p.umask));
    // e2. The AppArmor profile and SELinux label the execve takes (as runc, before Ready and
    //     the start hooks, which run under them too): written through the runtime's /proc, and
    //     before any seccomp filter could refuse the write.
    p.lsm.apply_exec()?;
    // f. With SCMP_ACT_NOTIFY rules the filter is loaded now, while the runtime that made us
    //    is still there to send the listener to the agent (docs/seccomp.md, "Load order").
    let notify = p.seccomp.as_ref().filter(|s| s.uses_notify());
    if let Some(prog) = notify {
        load_notify_filter(p, prog, fds.sync)?;
    }
    //    Ready: the runtime may return. From here on we must survive it.
    nix::sys::prctl::set_pdeathsig(None::<Signal>).context("clearing the parent death signal")?;
    fds.sync.send(&Msg::Ready)?;
    fds.ready.set(true);
    if let Some(fifo) = fds.fifo {
        wait_fifo(fifo)?;
    }
    before_exec()?;
    // g. Privileges last: no_new_privs, capabilities, seccomp (without no_new_privs the
    //    filter is loaded while CAP_SYS_ADMIN is still held).
    if p.no_new_privileges {
        nix::sys::prctl::set_no_new_privs().context("setting no_new_privs")?;
    }
    match &p.seccomp {
        Some(prog) if prog.uses_notify() => p.caps.apply()?, // loaded in step f
        Some(prog) if !p.no_new_privileges => {
            CapsPlan::raise_sys_admin();
            prog.install().context("loading the seccomp filter")?;
            p.caps.apply()?;
        }
        Some(prog) => {
            p.caps.apply()?;
            prog.install().context("loading the seccomp filter")?;
        }
        None => p.caps.apply()?,
    }
    // h. exec. Failing here (ENOEXEC for a binary of another architecture, a missing
    //    interpreter...) is the program's failure, not the runtime's: as runc's init, print
    //    it on the process's stderr and exit 1 (`start` has succeeded; the container stops
    //    with status 1, which is what callers of runc see for such images).
    let e = execve(&exe, &p.args, &p.env).unwrap_err();
    let err = Error::sys(e, format!("exec {}", exe.to_string_lossy()));
    let _ = nix::unistd::write(std::io::stderr(), format!("husk: {err}\n").as_bytes());
    crate::sys::process::exit_now(1)
}

/// Step f for a profile with SCMP_ACT_NOTIFY rules: load the filter (no_new_privs first, or
/// with CAP_SYS_ADMIN made effective for the call), tell the runtime the listener's fd number
/// with write(2) — the one syscall a NOTIFY rule may not catch — and wait until the runtime has
/// taken it (pidfd_getfd) and sent it to the agent, who answers from then on.
fn load_notify_filter(p: &ProcessPlan, prog: &crate::security::seccomp::Program, sync: &Channel) -> Result<()> {
    use caps::CapSet;
    let listener = if p.no_new_privileges {
        nix::sys::prctl::set_no_new_privs().context("setting no_new_privs")?;
        prog.install()
    } else {
        let effective = caps::read(None, CapSet::Effective).ok();
        CapsPlan::raise_sys_admin();
        let res = prog.install();
        if let Some(e) = effective {
            let _ = caps::set(None, CapSet::Effective, &e);
        }
        res
    }
    .context("loading the seccomp filter")?
    .ok_or_else(|| Error::new(crate::Kind::System, "loading the seccomp filter: the kernel returned no listener"))?;
    sync.send_by_write(&Msg::SeccompListener(listener.as_raw_fd()))?;
    sync.expect(Msg::SeccompListenerSent)?;
    drop(listener);
    Ok(())
}

/// In a user namespace whose setgroups file says "deny", setgroups(2) always fails.
fn setgroups_denied() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").map(|s| s.trim() == "deny").unwrap_or(false)
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
fn find_executable(p: &ProcessPlan) -> Result<CString> {
    let arg0 = p.args[0].to_bytes();
    let name = String::from_utf8_lossy(arg0).into_owned();
    let executable = |path: &Path| -> std::result::Result<(), Errno> {
        let st = nix::sys::stat::stat(path)?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            return Err(Errno::EISDIR);
        }
        if st.st_mode & 0o111 == 0 {
            return Err(Errno::EACCES);
        }
        Ok(())
    };
    if arg0.contains(&b'/') {
        let path = Path::new(std::ffi::OsStr::from_bytes(arg0));
        return match executable(path) {
            Ok(()) => Ok(p.args[0].clone()),
            // Not a regular executable file: Go's exec.LookPath says ErrPermission (runc's words).
            Err(Errno::EISDIR) => Err(Error::new(crate::Kind::System, format!("exec: {name:?}: permission denied"))),
            Err(Errno::EACCES) if nix::sys::stat::stat(path).is_ok() => {
                Err(Error::new(crate::Kind::System, format!("exec: {name:?}: permission denied")))
            }
            Err(e) => Err(Error::sys(e, format!("exec: {name:?}: stat {name}"))),
        };
    }
    for dir in p.path_env.split(':') {
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
    RLIMITS.iter().find(|(_, r)| *r == res).map(|(n, _)| *n).unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_given_twice_appears_once_with_its_last_value() {
        let env: Vec<String> =
            ["A=1", "B=2", "A=3", "NOEQ", "HOME=/x", "HOME="].iter().map(|s| s.to_string()).collect();
        assert_eq!(dedup_env(&env), ["A=3", "B=2", "NOEQ", "HOME="]);
    }
}

//! Launching a process into a running container (`husk exec`): join every namespace of the
//! container's init (the user namespace first), its cgroup, then the shared process steps.
//! The pid namespace applies to children only, so a second fork (CLONE_PARENT: the process
//! stays our child, or the caller's subreaper's once we exit) lands it there.

use std::convert::Infallible;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::fcntl::{open, OFlag};
use nix::sched::setns;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;

use super::process::{finish, ProcessFds, ProcessPlan};
use super::sync::{self, Channel, Msg};
use crate::cgroups::Cgroup;
use crate::error::{Context, Error, Kind, Result};
use crate::namespaces::{flag_of, Join};
use crate::sys::fs::own_fd;
use crate::sys::process::{exit_now, fork_with_flags, Forked};

pub struct ExecPlan {
    pub joins: Vec<Join>,
    pub stage2: bool,
    pub process: ProcessPlan,
    /// The container's state JSON (status running), for a seccomp agent (SCMP_ACT_NOTIFY).
    pub state_json: Vec<u8>,
}

const NS_FILES: [(LinuxNamespaceType, &str); 8] = [
    (LinuxNamespaceType::User, "user"),
    (LinuxNamespaceType::Cgroup, "cgroup"),
    (LinuxNamespaceType::Ipc, "ipc"),
    (LinuxNamespaceType::Uts, "uts"),
    (LinuxNamespaceType::Network, "net"),
    (LinuxNamespaceType::Pid, "pid"),
    (LinuxNamespaceType::Time, "time"),
    (LinuxNamespaceType::Mount, "mnt"),
];

impl ExecPlan {
    /// Open the namespaces of the running init `init` that differ from ours. `state_json`: the
    /// container's state as hooks get it, sent to a seccomp agent with the listener.
    pub fn new(init: Pid, process: ProcessPlan, state_json: Vec<u8>) -> Result<Self> {
        let mut joins = Vec::new();
        for (kind, name) in NS_FILES {
            let theirs = format!("/proc/{init}/ns/{name}");
            let ours = format!("/proc/self/ns/{name}");
            let (Ok(a), Ok(b)) = (std::fs::metadata(&theirs), std::fs::metadata(&ours)) else { continue };
            use std::os::unix::fs::MetadataExt;
            if a.ino() == b.ino() && a.dev() == b.dev() {
                continue;
            }
            let fd = open(theirs.as_str(), OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                .with_context(|| format!("opening {name} namespace of container init {init}"))?;
            joins.push(Join { fd: own_fd(fd), flag: flag_of(kind), kind, path: theirs.into() });
        }
        let stage2 = joins.iter().any(|j| matches!(j.kind, LinuxNamespaceType::Pid | LinuxNamespaceType::Time));
        Ok(ExecPlan { joins, stage2, process, state_json })
    }
}

/// Fork the process, put it in the container's cgroup and namespaces, and wait until it is
/// about to exec. Returns its host pid.
/// `lock`: the container's state-dir lock, closed in the child at once (see `spawn`).
pub fn spawn_exec(plan: &ExecPlan, cgroup: &Cgroup, console: Option<OwnedFd>, lock: BorrowedFd) -> Result<Pid> {
    let (parent_ch, child_ch) = sync::pair()?;
    let first = match fork_with_flags(0).context("forking the exec process")? {
        Forked::Child => {
            let _ = nix::unistd::close(lock.as_raw_fd());
            drop(parent_ch);
            let err = match run(plan, &child_ch, console.as_ref()) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            if child_ch.send(&Msg::Fail(err.to_string())).is_err() {
                let _ = nix::unistd::write(std::io::stderr(), format!("husk: exec: {err}\n").as_bytes());
            }
            exit_now(127);
        }
        Forked::Parent(pid) => pid,
    };
    drop(child_ch);
    drop(console);
    crate::fault::point("exec:forked");
    let mut pids = vec![first];
    let kill_all = |pids: &[Pid]| {
        for &p in pids {
            let _ = nix::sys::signal::kill(p, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(p, None);
        }
    };
    if let Err(e) = plan.process.attrs.pin_initial(first) {
        kill_all(&pids);
        return Err(e);
    }
    if let Err(e) = cgroup.add_task(first) {
        kill_all(&pids);
        return Err(e.context("adding the exec process to the container's cgroup"));
    }
    let res = (|| -> Result<Pid> {
        parent_ch.send(&Msg::Go)?;
        let mut proc_pid = first;
        // The second child shares the channel and may report Ready before the first one has
        // sent its pid (seen under load): then wait for Stage2 instead of taking `first`.
        let mut ready = false;
        // Likewise a seccomp listener may come before Stage2: it is taken from the right
        // process once that pid is known.
        let mut listener: Option<i32> = None;
        loop {
            match parent_ch.recv()? {
                Some(Msg::Stage2(p)) => {
                    proc_pid = Pid::from_raw(p);
                    pids.push(proc_pid);
                    let _ = nix::sys::wait::waitpid(first, None);
                    pids.retain(|&x| x != first);
                    if let Some(fd) = listener.take() {
                        let target = plan.process.seccomp_listener.as_ref();
                        super::send_seccomp_listener(proc_pid, fd, target, &plan.state_json)?;
                        parent_ch.send(&Msg::SeccompListenerSent)?;
                    }
                    if ready {
                        return Ok(proc_pid);
                    }
                }
                Some(Msg::Ready) if plan.stage2 && proc_pid == first => ready = true,
                Some(Msg::SeccompListener(fd)) if plan.stage2 && proc_pid == first => listener = Some(fd),
                Some(Msg::SeccompListener(fd)) => {
                    let target = plan.process.seccomp_listener.as_ref();
                    super::send_seccomp_listener(proc_pid, fd, target, &plan.state_json)?;
                    parent_ch.send(&Msg::SeccompListenerSent)?;
                }
                Some(Msg::Ready) => return Ok(proc_pid),
                Some(Msg::Fail(msg)) => return Err(Error::new(Kind::System, msg)),
                Some(m) => return Err(Error::new(Kind::System, format!("unexpected {m:?} from the exec process"))),
                None => return Err(Error::new(Kind::System, "the exec process exited during set-up")),
            }
        }
    })();
    if res.is_err() {
        kill_all(&pids);
    }
    res
}

fn run(plan: &ExecPlan, ch: &Channel, console: Option<&OwnedFd>) -> Result<Infallible> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("setting the parent death signal")?;
    // Not dumpable while husk's image runs in the container's namespaces: container
    // processes cannot open /proc/PID/exe (the host binary) or our memory (CVE-2019-5736).
    nix::sys::prctl::set_dumpable(false).context("clearing the dumpable flag")?;
    super::child::reset_signals()?;
    ch.expect(Msg::Go)?;
    for j in &plan.joins {
        setns(j.fd.as_fd(), j.flag).with_context(|| format!("joining {} namespace {}", j.kind, j.path.display()))?;
        if j.kind == LinuxNamespaceType::User {
            super::child::become_root_in_userns()?;
        }
    }
    if plan.stage2 {
        super::fork_stage2("into the container's pid namespace", &|pid| ch.send(&Msg::Stage2(pid.as_raw())))?;
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("setting the parent death signal")?;
        nix::sys::prctl::set_dumpable(false).context("clearing the dumpable flag")?;
    }
    if let Some(sock) = console {
        crate::console::setup_console(sock.as_fd(), plan.process.console_size).context("setting up the terminal")?;
    }
    let fds = ProcessFds { sync: ch, fifo: None, console };
    finish(&plan.process, &fds, &|| Ok(()))
}

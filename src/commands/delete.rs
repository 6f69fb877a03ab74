//! `husk delete [--force] ID`: stop what is left, run poststop hooks, remove cgroup and state.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::cgroups::Cgroup;
use crate::cli::{Cli, DeleteArgs};
use crate::error::{Context, Error, Kind, Result};
use crate::state::{State, StateDir, Status};
use crate::sys::process::pidfd_open;

pub fn delete(cli: &Cli, a: &DeleteArgs) -> Result<()> {
    let mut ph = crate::logging::Phases::start("delete");
    let dir = match StateDir::open(&cli.root, &a.id) {
        Ok(d) => d,
        // runc: deleting a missing container with --force is not an error.
        Err(e) if e.kind() == Kind::NotFound && a.force => return Ok(()),
        Err(e) if a.force && e.errno() == Some(nix::errno::Errno::EWOULDBLOCK) => {
            return delete_past_stuck_holder(cli, a, e);
        }
        Err(e) => return Err(e),
    };
    crate::fault::point("delete:locked");
    let st = match dir.load() {
        Ok(st) => st,
        Err(e) if a.force => {
            crate::logging::warn(&format!("container {}: {e}; removing its state", a.id));
            return dir.remove();
        }
        Err(e) => return Err(e),
    };
    let status = if st.pid == 0 { Status::Stopped } else { st.status(dir.path()) };
    ph.mark("load-state");
    if matches!(status, Status::Running | Status::Paused) && !a.force {
        return Err(Error::bad_state(format!(
            "cannot delete container {} that is not stopped: {}",
            a.id,
            status.as_str()
        )));
    }
    destroy(&st, status).with_context(|| format!("deleting container {}", a.id))?;
    crate::fault::point("delete:cgroup-removed");
    ph.mark("destroy");
    let r = dir.remove();
    ph.mark("remove-state");
    r
}

/// `delete --force` while another husk command holds the container's lock and does not let go
/// (an exec whose process froze in the paused container, say): as runc, which has no such
/// lock, stop the container without it. That also ends a holder inside the container's
/// cgroup; then the lock is free and the state is removed under it.
fn delete_past_stuck_holder(cli: &Cli, a: &DeleteArgs, busy: Error) -> Result<()> {
    crate::logging::warn(&format!("container {}: {busy}; stopping it without the lock", a.id));
    let path = cli.root.join(&a.id);
    let st = crate::state::read_state(&path)?;
    let status = if st.pid == 0 { Status::Stopped } else { st.status(&path) };
    destroy(&st, status).with_context(|| format!("deleting container {}", a.id))?;
    match StateDir::open(&cli.root, &a.id) {
        Ok(dir) => dir.remove(),
        Err(e) if e.kind() == Kind::NotFound => Ok(()),
        Err(e) => Err(e.context(format!("deleting container {}", a.id))),
    }
}

/// Kill whatever runs, wait for the init to be gone, run poststop hooks, remove the cgroup.
/// What it did is reported with `--debug`.
pub fn destroy(st: &State, status: Status) -> Result<()> {
    let report = |what: String| crate::logging::debug(&format!("container {}: {what}", st.id));
    let cg = Cgroup::open(&st.cgroup)?;
    if status != Status::Stopped {
        let pid = Pid::from_raw(st.pid);
        let pidfd = pidfd_open(pid).ok();
        if st.init_alive() && crate::commands::kill::signal_init(st, Some(Signal::SIGKILL)).is_ok() {
            report(format!("sent SIGKILL to init {pid}"));
        }
        if status == Status::Paused {
            let _ = cg.kill_all(Signal::SIGKILL);
            let _ = cg.thaw();
            report("was paused: killed its processes and thawed the cgroup".into());
        }
        if let Some(fd) = pidfd {
            let t0 = Instant::now();
            wait_exit(&fd, pid, st)?;
            report(format!("init {pid} gone after {} ms", t0.elapsed().as_millis()));
        }
    }
    // Everything else in the cgroup (a container sharing the host pid namespace, an init whose
    // create was killed before it recorded the pid).
    let left = cg.pids().map(|p| p.len()).unwrap_or(0);
    if left > 0 {
        let _ = cg.kill_all(Signal::SIGKILL);
        report(format!("sent SIGKILL to {left} processes left in cgroup {}", st.cgroup.path));
    }
    crate::fault::point("delete:killed");
    if let Some(h) = st.config.hooks().as_ref() {
        let json = st.hook_json(Status::Stopped);
        crate::hooks::run_hooks_warn(&st.id, "poststop", h.poststop().as_deref().unwrap_or_default(), &json);
    }
    if let Some(rdt) = st.config.linux().as_ref().and_then(|l| l.intel_rdt().as_ref()) {
        crate::resctrl::remove(rdt, &st.id);
    }
    let t0 = Instant::now();
    cg.destroy().with_context(|| format!("removing cgroup {}", st.cgroup.path))?;
    report(format!("removed cgroup {} in {} ms", st.cgroup.path, t0.elapsed().as_millis()));
    Ok(())
}

/// Wait (bounded) until the init has exited. It may be our child (run) or not (create).
fn wait_exit(fd: &std::os::fd::OwnedFd, pid: Pid, st: &State) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while st.init_alive() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::new(Kind::System, format!("init {pid} did not exit within 10s of SIGKILL")));
        }
        let mut pfd = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        let ms = PollTimeout::try_from(left.as_millis().min(100) as i32).unwrap_or(PollTimeout::ZERO);
        let _ = poll(&mut pfd, ms);
        // A child of ours (run) must be reaped to stop being "alive" as a zombie.
        let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
    }
    Ok(())
}

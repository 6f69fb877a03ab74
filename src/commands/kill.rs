//! `husk kill [--all] ID [SIGNAL]`.

use std::os::fd::AsFd;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::cgroups::Cgroup;
use crate::cli::{Cli, KillArgs};
use crate::error::{Context, Error, Result};
use crate::state::{State, StateDir, Status};
use crate::sys::process::{pidfd_open, pidfd_send_signal};

/// `KILL`, `SIGKILL`, `sigkill`, `9` → SIGKILL (runc accepts the same forms); `0` → `None`,
/// the null signal: nothing is delivered, only the target's existence is checked (shims send
/// it while reaping, and runc accepts it).
pub fn parse_signal(s: &str) -> Result<Option<Signal>> {
    if let Ok(n) = s.parse::<i32>() {
        if n == 0 {
            return Ok(None);
        }
        return Signal::try_from(n).map(Some).map_err(|_| Error::invalid_arg(format!("invalid signal {s:?}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") { up } else { format!("SIG{up}") };
    name.parse::<Signal>().map(Some).map_err(|_| Error::invalid_arg(format!("invalid signal {s:?}")))
}

/// How a parsed signal reads in messages: `SIGTERM`, `signal 0`.
fn signal_name(sig: Option<Signal>) -> &'static str {
    sig.map_or("signal 0", |s| s.as_str())
}

pub fn kill(cli: &Cli, a: &KillArgs) -> Result<()> {
    let sig = parse_signal(&a.signal)?;
    let name = signal_name(sig);
    let dir = StateDir::open(&cli.root, &a.id)?;
    let st = dir.load()?;
    let status = st.status(dir.path());
    // What was done is reported with --debug.
    let report = |what: String| crate::logging::debug(&format!("container {}: {what}", a.id));
    if a.all {
        let cg = Cgroup::open(&st.cgroup)?;
        let pids = cg.pids();
        let n = pids.as_ref().map(|p| p.len()).unwrap_or(0);
        if status == Status::Stopped && n == 0 {
            // Nothing left to signal, which is what the caller wants to hear (runc: success;
            // shims send signal 0 with --all while reaping an exited container).
            report(format!("stopped, no process left in cgroup {}: nothing to send {name} to", st.cgroup.path));
            return Ok(());
        }
        let Some(sig) = sig else {
            // Signal 0: the processes are there (listed above); nothing to deliver, and a
            // paused container stays paused.
            pids.with_context(|| format!("listing the processes of container {}", a.id))?;
            report(format!("{n} processes in cgroup {}: signal 0 sends nothing", st.cgroup.path));
            return Ok(());
        };
        cg.kill_all(sig).with_context(|| format!("signalling all processes of container {}", a.id))?;
        report(format!("sent {sig} to {n} processes of cgroup {}", st.cgroup.path));
        if status == Status::Paused {
            // Frozen processes don't die until thawed.
            cg.thaw().with_context(|| format!("thawing container {} after signalling it", a.id))?;
            report("was paused: thawed the cgroup so that the signal takes effect".into());
        }
        return Ok(());
    }
    if matches!(status, Status::Stopped | Status::Creating) {
        return Err(not_running(&a.id));
    }
    signal_init(&st, sig).with_context(|| format!("sending {name} to container {}", a.id))?;
    report(format!("sent {name} to init {}", st.pid));
    Ok(())
}

/// containerd matches runc's wording "container not running" to treat a kill of an exited
/// container as done: keep those words.
fn not_running(id: &str) -> Error {
    Error::bad_state(format!("cannot signal container {id}: container not running"))
}

/// Signal the init through a pidfd opened and then checked against the recorded start
/// time, so a recycled pid is never signalled. `None`: signal 0 (only checks it is there).
pub fn signal_init(st: &State, sig: Option<Signal>) -> Result<()> {
    let pid = Pid::from_raw(st.pid);
    let fd = pidfd_open(pid).map_err(|e| Error::sys(e, format!("opening pidfd of init {pid}")))?;
    if !st.init_alive() {
        return Err(Error::bad_state(format!("init {pid}: container not running")));
    }
    pidfd_send_signal(fd.as_fd(), sig.map_or(0, |s| s as i32))
        .map_err(|e| Error::sys(e, format!("signalling init {pid}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_forms() {
        assert_eq!(parse_signal("9").unwrap(), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("KILL").unwrap(), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("SIGTERM").unwrap(), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("hup").unwrap(), Some(Signal::SIGHUP));
        assert_eq!(parse_signal("0").unwrap(), None);
        assert_eq!(signal_name(None), "signal 0");
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("SIG0").is_err());
        assert!(parse_signal("99").is_err());
    }
}

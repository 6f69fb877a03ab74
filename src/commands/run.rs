//! `husk run`: create + start; in the foreground wait for the init, forward signals to
//! it and exit with its status (128+N when killed by signal N), then delete unless --keep.

use std::os::fd::{AsFd, OwnedFd};

use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::cli::{Cli, RunArgs};
use crate::commands::{create, start};
use crate::error::{Context, Result};
use crate::state::{StateDir, Status};

pub const FORWARDED: [Signal; 9] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
    Signal::SIGALRM,
];

pub fn run(cli: &Cli, a: &RunArgs) -> Result<i32> {
    if a.detach {
        let c = create::create_container(cli, &a.create, true, None)?;
        let create::Created { dir, state, .. } = c;
        let ctx = || format!("starting container {}", a.create.id);
        let notify = crate::notify::Relay::bind(dir.path()).with_context(ctx)?;
        let init = Pid::from_raw(state.pid);
        if let Err(e) = start::start_created(dir, &state) {
            return Err(abandon(cli, a, &state, e));
        }
        crate::notify::relay(notify, init, init, &a.create.id)?;
        return Ok(0);
    }
    let mask = block_forwarded()?;
    let _ = nix::sys::prctl::set_child_subreaper(true);
    // A terminal without a console socket: the pty master comes back to us and we proxy it.
    let (pty_sock, child_end) = match a.create.console_socket {
        None => {
            let (ours, theirs) = crate::console::console_socketpair()?;
            (Some(ours), Some(theirs))
        }
        Some(_) => (None, None),
    };
    let c = create::create_container(cli, &a.create, false, child_end)?;
    let id = a.create.id.clone();
    let init = Pid::from_raw(c.state.pid);
    let terminal = c.state.config.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    let master = match (&pty_sock, terminal) {
        (Some(sock), true) => Some(crate::console::recv_pty_master(sock.as_fd())?.0),
        _ => None,
    };
    drop(pty_sock);
    // Unlocked from here on while the container runs: kill, state and delete from others
    // must get through.
    let create::Created { dir, state, .. } = c;
    let notify = crate::notify::Relay::bind(dir.path()).with_context(|| format!("starting container {id}"))?;
    if let Err(e) = start::start_created(dir, &state) {
        return Err(abandon(cli, a, &state, e));
    }
    // In the foreground systemd should watch us (runc: MAINPID is its own pid). With a terminal
    // the container's output flows only through our proxy below: relay from a thread then, or
    // a container that fills the pty before it says READY would wait on us, and we on it,
    // forever. The thread ends at READY (or the init's exit); it is not joined.
    let me = nix::unistd::getpid();
    let relay_id = id.clone();
    let relay = move || {
        if let Err(e) = crate::notify::relay(notify, init, me, &relay_id) {
            crate::logging::warn(&e.to_string());
        }
    };
    if master.is_some() {
        std::thread::Builder::new().name("notify-relay".into()).spawn(relay).context("starting the sd_notify relay")?;
    } else {
        relay();
    }
    let code = wait_foreground(mask, init, master)?;
    if !a.keep {
        // Someone may have deleted it meanwhile (delete --force): then there is nothing to do.
        match StateDir::open(&cli.root, &id) {
            Ok(dir) => {
                crate::commands::delete::destroy(&state, Status::Stopped)
                    .with_context(|| format!("deleting container {id}"))?;
                dir.remove()?;
            }
            Err(e) if e.kind() == crate::Kind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(code)
}

/// `start` failed (the init died, or a startContainer hook failed): unless --keep, destroy the
/// container (poststop hooks included) as `run`'s own delete would. Returns the start error.
fn abandon(cli: &Cli, a: &RunArgs, state: &crate::state::State, e: crate::Error) -> crate::Error {
    let id = &a.create.id;
    let e = e.context(format!("starting container {id}"));
    if !a.keep {
        if let Ok(dir) = StateDir::open(&cli.root, id) {
            let status = state.status(dir.path());
            match crate::commands::delete::destroy(state, status) {
                Ok(()) => {
                    let _ = dir.remove();
                }
                Err(d) => crate::logging::warn(&format!("deleting container {id}: {d}")),
            }
        }
    }
    e
}

/// Block the signals a foreground `run` or `exec` forwards, and SIGCHLD, before the fork (the
/// child unblocks its copy): they are read from a signalfd afterwards, so none is lost between
/// the fork and the wait. Returns the blocked set, for [`wait_foreground`].
pub(crate) fn block_forwarded() -> Result<SigSet> {
    let mut mask = SigSet::empty();
    for s in FORWARDED {
        mask.add(s);
    }
    mask.add(Signal::SIGCHLD);
    mask.thread_block().context("blocking signals")?;
    Ok(mask)
}

/// The foreground of `run` and `exec`: proxy the pty `master` if there is one (it handles
/// SIGWINCH itself), else just wait, forwarding the signals of `mask` to our child `child`;
/// then unblock `mask`. Returns the child's exit code (128+N on signal N).
pub(crate) fn wait_foreground(mask: SigSet, child: Pid, master: Option<OwnedFd>) -> Result<i32> {
    let code = match master {
        Some(m) => {
            let mut fwd = mask;
            fwd.remove(Signal::SIGWINCH);
            fwd.remove(Signal::SIGCHLD);
            let sfd = SignalFd::with_flags(&fwd, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
                .context("creating signalfd")?;
            crate::console::proxy_forwarding(m, child, &sfd)?
        }
        None => {
            let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).context("creating signalfd")?;
            wait_child(&sfd, child)?
        }
    };
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&mask), None);
    Ok(code)
}

/// Wait for our child `init`, forwarding signals to it; its exit code (128+N on signal N).
pub fn wait_child(sfd: &SignalFd, init: Pid) -> Result<i32> {
    loop {
        // Reap first: the init may have exited before we started listening.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, c)) if p == init => return Ok(c),
                Ok(WaitStatus::Signaled(p, s, _)) if p == init => return Ok(128 + s as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
        match sfd.read_signal() {
            Ok(Some(si)) => {
                let sig = si.ssi_signo as i32;
                if sig != Signal::SIGCHLD as i32 {
                    if let Ok(s) = Signal::try_from(sig) {
                        let _ = kill(init, s);
                    }
                }
            }
            Ok(None) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(crate::Error::sys(e, "reading signalfd")),
        }
    }
}

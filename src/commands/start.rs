//! `husk start`: release the init blocked on the exec fifo, wait for it to exec the program,
//! run the poststart hooks.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::cli::Cli;
use crate::error::{Context, Error, Kind, Result};
use crate::state::{State, StateDir, Status};

pub fn start(cli: &Cli, id: &str) -> Result<()> {
    let mut ph = crate::logging::Phases::start("start");
    let dir = StateDir::open(&cli.root, id)?;
    let st = dir.load()?;
    match st.status(dir.path()) {
        Status::Created => {}
        Status::Stopped => return Err(Error::bad_state(format!("cannot start container {id}: it has stopped"))),
        Status::Running => return Err(Error::bad_state(format!("cannot start container {id}: it is already running"))),
        Status::Paused => return Err(Error::bad_state(format!("cannot start container {id}: it is paused"))),
        Status::Creating => {
            return Err(Error::bad_state(format!("cannot start container {id}: it is still being created")))
        }
    }
    ph.mark("load-state");
    let notify = crate::notify::Relay::bind(dir.path()).with_context(|| format!("starting container {id}"))?;
    let r = start_created(dir, &st).with_context(|| format!("starting container {id}"));
    ph.mark("start");
    r?;
    // systemd's NOTIFY_SOCKET: relay the container's READY=1 (src/notify.rs).
    let init = nix::unistd::Pid::from_raw(st.pid);
    crate::notify::relay(notify, init, init, id)
}

/// Start a created container: release its init, wait until it has exec'd the program (its
/// startContainer hooks ran, or failed: then that is our error), then run the poststart hooks,
/// whose failures are warnings (runtime.md "Lifecycle" steps 7-9). The state dir is unlocked
/// once the init is released: hooks (and others) may ask for the state meanwhile.
pub fn start_created(dir: StateDir, st: &State) -> Result<()> {
    let fifo = release(&dir)?;
    drop(dir);
    wait_exec(&fifo)?;
    if let Some(err) = init_error(&fifo) {
        return Err(Error::new(Kind::System, err));
    }
    if let Some(h) = st.config.hooks().as_ref() {
        let json = st.hook_json(Status::Running);
        crate::hooks::run_hooks_warn(&st.id, "poststart", h.poststart().as_deref().unwrap_or_default(), &json);
    }
    Ok(())
}

/// Write the start byte into the fifo and remove it (its absence means "started"); returns
/// our (write) end of it.
pub fn release(dir: &StateDir) -> Result<File> {
    let p = dir.fifo_path();
    // Non-blocking: if the init is gone there is no reader and open fails with ENXIO
    // instead of hanging.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&p)
        .map_err(|e| Error::io(e, format!("opening exec fifo {} (is the container init alive?)", p.display())))?;
    crate::fault::point("start:opened");
    f.write_all(b"0").map_err(|e| Error::io(e, format!("writing exec fifo {}", p.display())))?;
    crate::fault::point("start:written");
    std::fs::remove_file(&p).map_err(|e| Error::io(e, format!("removing exec fifo {}", p.display())))?;
    Ok(f)
}

/// Wait until the init has exec'd the program or died. Until then it holds the fifo's only
/// read end, close-on-exec; poll on a pipe's write end reports POLLERR once no reader is left.
fn wait_exec(fifo: &File) -> Result<()> {
    loop {
        let mut pfd = [PollFd::new(fifo.as_fd(), PollFlags::empty())];
        match poll(&mut pfd, PollTimeout::NONE) {
            Ok(_) if pfd[0].revents().is_some_and(|r| !r.is_empty()) => return Ok(()),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys(e, "waiting for the container init to exec")),
        }
    }
}

/// What an init that failed between `start` and exec left in the fifo (see
/// launch::START_ERROR_TAG); read through a read end of our own, opened by the fd's /proc link.
fn init_error(fifo: &File) -> Option<String> {
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    let mut r =
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open(path).ok()?;
    let mut buf = Vec::new();
    let _ = r.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    match text.find(crate::launch::START_ERROR_TAG) {
        Some(at) => Some(text[at + crate::launch::START_ERROR_TAG.len()..].trim_end().to_string()),
        // Our start byte is still there: the init died before it read it.
        None if buf.first() == Some(&b'0') => Some("the container init exited before it was started".into()),
        None => None,
    }
}

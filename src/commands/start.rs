//! `husk start`: release the init blocked on the exec fifo.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use crate::cli::Cli;
use crate::error::{Context, Error, Result};
use crate::state::{StateDir, Status};

pub fn start(cli: &Cli, id: &str) -> Result<()> {
    let dir = StateDir::open(&cli.root, id)?;
    let st = dir.load()?;
    match st.status(dir.path()) {
        Status::Created => {}
        Status::Stopped => return Err(Error::bad_state(format!("cannot start container {id}: it has stopped"))),
        Status::Running | Status::Paused => {
            return Err(Error::bad_state(format!("cannot start container {id}: it is already running")))
        }
        Status::Creating => {
            return Err(Error::bad_state(format!("cannot start container {id}: it is still being created")))
        }
    }
    let notify = crate::notify::Relay::bind(dir.path()).with_context(|| format!("starting container {id}"))?;
    release(&dir).with_context(|| format!("starting container {id}"))?;
    if let Some(h) = st.config.hooks().as_ref() {
        let json = st.hook_json(Status::Running);
        if let Err(e) = crate::hooks::run_hooks("poststart", h.poststart().as_deref().unwrap_or_default(), &json) {
            crate::logging::warn(&format!("container {id}: {e}"));
        }
    }
    // Unlocked while we wait for READY: kill and delete must get through.
    drop(dir);
    let init = nix::unistd::Pid::from_raw(st.pid);
    crate::notify::relay(notify, init, init, id)
}

/// Write the start byte into the fifo and remove it (its absence means "started").
pub fn release(dir: &StateDir) -> Result<()> {
    let p = dir.fifo_path();
    // Non-blocking: if the init is gone there is no reader and open fails with ENXIO
    // instead of hanging.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&p)
        .map_err(|e| Error::io(e, format!("opening exec fifo {} (is the container init alive?)", p.display())))?;
    f.write_all(b"0").map_err(|e| Error::io(e, format!("writing exec fifo {}", p.display())))?;
    std::fs::remove_file(&p).map_err(|e| Error::io(e, format!("removing exec fifo {}", p.display())))?;
    Ok(())
}

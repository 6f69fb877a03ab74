//! `NOTIFY_SOCKET`: relaying systemd's sd_notify protocol out of the container, as runc 1.1
//! does it (`podman run --sdnotify=container` relies on it). Runs in the runtime.
//!
//! - `create`/`run` with NOTIFY_SOCKET in our environment: `<root>/<id>/notify/` (0755) is
//!   bind-mounted read-only (nosuid, noexec, nodev) on `/run/notify` in the container, after
//!   the config's mounts, and the container process gets
//!   `NOTIFY_SOCKET=/run/notify/notify.sock` ([`prepare`]).
//! - `start` (and `run`) with NOTIFY_SOCKET set: bind a datagram socket `notify.sock` (0777) in
//!   that directory, release the container, and relay what the container sends to the host's
//!   socket until a `READY=` line arrives; then send `MAINPID=<pid>` and wait for systemd's
//!   acknowledgement with `BARRIER=1` (a pipe's write end, EOF when systemd has processed
//!   everything; 30s at most) ([`Relay`]). The wait also ends when the container's init exits.
//!   `MAINPID` is the init's for `start` and `run -d`, husk's own for a foreground `run` (the
//!   process systemd should watch), as in runc.
//!
//! Unlike runc 1.1, which forwards only the READY line, every sd_notify line received before
//! READY (STATUS=, …) is relayed as well, except the container's own MAINPID= (a pid of the
//! container's pid namespace means nothing to the host). Messages sent after READY are not
//! relayed: nobody listens once `start` has returned (the same as runc).

use std::ffi::CString;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::unistd::Pid;

use crate::error::{Context, Error, Result};
use crate::rootfs::MountOp;

/// The directory under the container's state dir that is mounted into the container.
pub const DIR: &str = "notify";
/// The socket's name in it.
pub const SOCKET: &str = "notify.sock";
/// Where the directory appears in the container.
pub const CONTAINER_DIR: &str = "/run/notify";

/// The host's notify socket, from our environment (`NOTIFY_SOCKET`, non-empty).
pub fn host_socket() -> Option<PathBuf> {
    std::env::var_os("NOTIFY_SOCKET").filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// `create`: make `<state_dir>/notify` and return the bind mount (numbered `index`, i.e.
/// after the config's mounts) and the env entry for the container process.
pub fn prepare(state_dir: &Path, index: usize) -> Result<(MountOp, CString)> {
    let dir = state_dir.join(DIR);
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(&dir)
        .map_err(|e| Error::io(e, format!("creating notify socket directory {}", dir.display())))?;
    // The mode is not left to the umask.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(e, format!("chmod {}", dir.display())))?;
    let opts: Vec<String> = ["bind", "nosuid", "noexec", "nodev", "ro"].iter().map(|s| s.to_string()).collect();
    let op = MountOp {
        index,
        dest: PathBuf::from(CONTAINER_DIR),
        source: Some(dir),
        fstype: None,
        opts: crate::rootfs::options::parse(&opts),
        source_is_file: false,
        detached: None,
    };
    let env = CString::new(format!("NOTIFY_SOCKET={CONTAINER_DIR}/{SOCKET}")).expect("no NUL");
    Ok((op, env))
}

/// The runtime's end: our socket in the state dir and the host's address.
pub struct Relay {
    sock: UnixDatagram,
    host: PathBuf,
}

impl Relay {
    /// `start`/`run`: bind `<state_dir>/notify/notify.sock` when NOTIFY_SOCKET is set. `None`
    /// without NOTIFY_SOCKET, or when the container was created without it (no directory:
    /// runc fails `start` there; there is nothing to relay, so we start the container).
    pub fn bind(state_dir: &Path) -> Result<Option<Relay>> {
        let Some(host) = host_socket() else { return Ok(None) };
        let dir = state_dir.join(DIR);
        if !dir.is_dir() {
            crate::logging::debug("NOTIFY_SOCKET is set but the container was created without it: not relaying");
            return Ok(None);
        }
        let path = dir.join(SOCKET);
        let _ = std::fs::remove_file(&path);
        let sock =
            UnixDatagram::bind(&path).map_err(|e| Error::io(e, format!("binding notify socket {}", path.display())))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
            .map_err(|e| Error::io(e, format!("chmod notify socket {}", path.display())))?;
        Ok(Some(Relay { sock, host }))
    }

    fn connect_host(&self) -> Result<UnixDatagram> {
        let what = || format!("connecting to NOTIFY_SOCKET {}", self.host.display());
        let c = UnixDatagram::unbound().map_err(|e| Error::io(e, what()))?;
        let s = self.host.as_os_str().as_encoded_bytes();
        if let Some(name) = s.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name).map_err(|e| Error::io(e, what()))?;
            c.connect_addr(&addr).map_err(|e| Error::io(e, what()))?;
        } else {
            c.connect(&self.host).map_err(|e| Error::io(e, what()))?;
        }
        Ok(c)
    }

    /// Relay until READY (then MAINPID=`mainpid` and the barrier) or until `init` is gone.
    pub fn relay_until_ready(&self, init: Pid, mainpid: Pid) -> Result<()> {
        let host = self.connect_host()?;
        let mut buf = vec![0u8; 4096];
        loop {
            // Gone or a zombie: nobody will send READY.
            if !matches!(crate::state::proc_start_time(init), Some((st, _)) if st != 'Z' && st != 'X') {
                return Ok(());
            }
            let mut pfd = [PollFd::new(self.sock.as_fd(), PollFlags::POLLIN)];
            match poll(&mut pfd, PollTimeout::from(100u16)) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(Error::sys(e, "waiting on the notify socket")),
            }
            let n = match self.sock.recv(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(e, "reading the notify socket")),
            };
            let text = String::from_utf8_lossy(&buf[..n]);
            let lines: Vec<&str> = text.split('\n').filter(|l| !l.is_empty() && !l.starts_with("MAINPID=")).collect();
            if lines.is_empty() {
                continue;
            }
            let ready = lines.iter().any(|l| l.starts_with("READY="));
            let mut msg = lines.join("\n");
            msg.push('\n');
            if ready {
                msg.push_str(&format!("MAINPID={mainpid}\n"));
            }
            host.send(msg.as_bytes()).map_err(|e| Error::io(e, format!("writing to {}", self.host.display())))?;
            if ready {
                return barrier(&host);
            }
        }
    }
}

/// sd_notify_barrier: send BARRIER=1 with a pipe's write end; systemd closes it once it has
/// processed our messages. A receiver that does not support it: give up after 30s (warn).
fn barrier(host: &UnixDatagram) -> Result<()> {
    let (r, w): (OwnedFd, OwnedFd) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys(e, "creating the barrier pipe"))?;
    let fds = [w.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(b"BARRIER=1")];
    sendmsg::<()>(host.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
        .map_err(|e| Error::sys(e, "sending BARRIER=1 to NOTIFY_SOCKET"))?;
    drop(w);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            crate::logging::warn("NOTIFY_SOCKET: no barrier acknowledgement after 30s; ignored");
            return Ok(());
        }
        let mut pfd = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(left.as_millis().min(10_000)).unwrap_or(10_000);
        match poll(&mut pfd, PollTimeout::from(ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(Error::sys(e, "waiting for the notify barrier")),
        }
        let mut b = [0u8; 1];
        return match nix::unistd::read(r.as_raw_fd(), &mut b) {
            Ok(0) => Ok(()),
            Ok(_) => Err(Error::new(crate::Kind::System, "unexpected read from the notify barrier pipe")),
            Err(e) => Err(Error::sys(e, "reading the notify barrier pipe")),
        };
    }
}

/// For callers that want the error in context.
pub fn relay(relay: Option<Relay>, init: Pid, mainpid: Pid, id: &str) -> Result<()> {
    match relay {
        Some(r) => r.relay_until_ready(init, mainpid).with_context(|| format!("relaying sd_notify of container {id}")),
        None => Ok(()),
    }
}

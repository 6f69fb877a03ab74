//! Terminals for `process.terminal: true`: runc's `--console-socket` protocol and the
//! foreground proxy `run -t`/`exec -t` use when there is no console socket.
//!
//! The protocol: the caller (conmon, containerd-shim) listens on a unix stream socket and
//! passes its path as `--console-socket`. The runtime connects to it before it forks
//! ([`connect_console_socket`]); the container process, after pivot_root, opens a pty on the
//! container's own devpts (`/dev/ptmx`), sends the master over the socket in one `sendmsg`
//! with SCM_RIGHTS and the slave's name (`/dev/pts/N`) as the payload, closes its copy of the
//! master, and makes the slave its controlling terminal and fds 0, 1 and 2
//! ([`setup_console`]). The receiver gets the master with [`recv_pty_master`].
//!
//! No threads here either: [`proxy`] is a single poll loop.

use std::fs::OpenOptions;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{
    connect, sendmsg, socket, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Context, Error, Kind, Result};
use crate::sys;

/// The largest slave name we accept in a console socket message.
const NAME_MAX: usize = 4096;

/// runc's check of `--console-socket` against `process.terminal`, for `create`/`run`/`exec`.
/// `detach` is true for `create` and for `run -d`/`exec -d`.
pub fn check_terminal_args(terminal: bool, console_socket: bool, detach: bool) -> Result<()> {
    if detach && terminal && !console_socket {
        return Err(Error::invalid_arg("cannot allocate tty if husk will detach without setting console socket"));
    }
    if console_socket && (!detach || !terminal) {
        return Err(Error::invalid_arg("cannot use console socket if husk will not detach or allocate tty"));
    }
    Ok(())
}

/// Runtime side, before fork: connect to the caller's console socket `path` (on the host).
/// Paths longer than a sockaddr_un holds are reached through /proc/self/fd of their directory.
/// Returns the connected socket, CLOEXEC.
pub fn connect_console_socket(path: &Path) -> Result<OwnedFd> {
    let what = || format!("connecting to console socket {}", path.display());
    let sock = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| Error::sys(e, "creating a unix socket"))
        .with_context(what)?;
    match UnixAddr::new(path) {
        Ok(addr) => connect(sock.as_raw_fd(), &addr).map_err(|e| Error::sys(e, what()))?,
        Err(Errno::ENAMETOOLONG) => {
            let (dir, name) = match (path.parent(), path.file_name()) {
                (Some(d), Some(n)) => (d, n),
                _ => return Err(Error::invalid_arg(format!("{}: not a socket path", what()))),
            };
            let dir = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
                .open(dir)
                .map_err(|e| Error::io(e, format!("opening {}", dir.display())))
                .with_context(what)?;
            let short = Path::new("/proc/self/fd").join(dir.as_raw_fd().to_string()).join(name);
            let addr = UnixAddr::new(&short).map_err(|e| Error::sys(e, what()))?;
            connect(sock.as_raw_fd(), &addr).map_err(|e| Error::sys(e, what()))?;
        }
        Err(e) => return Err(Error::sys(e, what())),
    }
    Ok(sock)
}

/// A connected pair of unix stream sockets (both CLOEXEC) to stand in for a console socket
/// when `run -t`/`exec -t` has none: give one end to the container side's [`setup_console`],
/// [`recv_pty_master`] on the other, then [`proxy`].
pub fn console_socketpair() -> Result<(OwnedFd, OwnedFd)> {
    socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|e| Error::sys(e, "creating a console socket pair"))
}

/// A freshly allocated pseudo-terminal.
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    /// `/dev/pts/N`, as seen in the mount namespace that opened it.
    pub name: String,
}

/// Open a pty pair from `/dev/ptmx` of the current root and mount namespace (the container's,
/// after pivot_root): master O_RDWR|O_NOCTTY|O_CLOEXEC, slave opened through the master
/// (TIOCGPTPEER, falling back to its path on kernels before 4.13), also O_NOCTTY|O_CLOEXEC.
/// `size` is (rows, cols), i.e. consoleSize (height, width); applied when both are non-zero.
pub fn open_pty(size: Option<(u16, u16)>) -> Result<Pty> {
    let master: OwnedFd = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open("/dev/ptmx")
        .map_err(|e| Error::io(e, "opening /dev/ptmx"))?
        .into();
    sys::tty::unlock_pty(master.as_fd())?;
    let name = format!("/dev/pts/{}", sys::tty::pty_number(master.as_fd())?);
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    let slave = match sys::tty::open_pty_peer(master.as_fd(), flags) {
        Ok(fd) => fd,
        Err(e) if matches!(e.errno(), Some(Errno::EINVAL | Errno::ENOTTY)) => OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&name)
            .map_err(|e| Error::io(e, format!("opening {name}")))?
            .into(),
        Err(e) => return Err(e),
    };
    if let Some((rows, cols)) = size {
        if rows != 0 && cols != 0 {
            sys::tty::set_window_size(master.as_fd(), rows, cols)?;
        }
    }
    Ok(Pty { master, slave, name })
}

/// Send `master` over `sock` as runc does: one message, SCM_RIGHTS with the one fd, `name` as
/// the payload (runc sends its master's file name; receivers use it only as a label).
pub fn send_pty_master(sock: BorrowedFd, master: BorrowedFd, name: &str) -> Result<()> {
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    loop {
        match sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys(e, "sending the pty master over the console socket")),
        }
    }
}

/// Receive a pty master sent by [`send_pty_master`] (or runc, crun...): the fd (CLOEXEC) and
/// the name in the payload.
pub fn recv_pty_master(sock: BorrowedFd) -> Result<(OwnedFd, String)> {
    let mut buf = vec![0u8; NAME_MAX];
    let (bytes, mut fds) =
        sys::socket::recv_with_fds(sock, &mut buf).context("receiving the pty master from the console socket")?;
    if fds.is_empty() {
        return Err(Error::new(
            Kind::System,
            if bytes == 0 {
                "receiving the pty master from the console socket: the peer closed it without sending one"
            } else {
                "receiving the pty master from the console socket: the message carried no file descriptor"
            },
        ));
    }
    // Extra fds (there should be none) are closed as `fds` drops.
    let master = fds.swap_remove(0);
    Ok((master, String::from_utf8_lossy(&buf[..bytes]).into_owned()))
}

/// Make `slave` the controlling terminal and fds 0, 1, 2 of this process: setsid() first
/// unless we already lead a session (TIOCSCTTY needs a session leader without a terminal),
/// then TIOCSCTTY, then dup2 onto 0/1/2 (clearing CLOEXEC there) and close the original.
pub fn make_controlling_stdio(slave: OwnedFd) -> Result<()> {
    let me = nix::unistd::getpid();
    if nix::unistd::getsid(None).map_err(|e| Error::sys(e, "getting the session id"))? != me {
        nix::unistd::setsid().map_err(|e| Error::sys(e, "creating a new session"))?;
    }
    sys::tty::set_controlling_tty(slave.as_fd())?;
    // dup2(n, n) keeps CLOEXEC: move a slave that landed on 0..2 out of the way first.
    let slave = if slave.as_raw_fd() <= 2 {
        // try_clone dups with F_DUPFD_CLOEXEC onto a number >= 3.
        let high = slave.try_clone().map_err(|e| Error::io(e, "duplicating the pty slave"))?;
        // Its number is about to be overwritten by dup2 below, so do not close it.
        let _ = slave.into_raw_fd();
        high
    } else {
        slave
    };
    for target in 0..=2 {
        nix::unistd::dup2(slave.as_raw_fd(), target)
            .map_err(|e| Error::sys(e, format!("making the pty slave fd {target}")))?;
    }
    Ok(())
}

/// Container side, after pivot_root (so `/dev/ptmx` is the container's devpts): open a pty
/// pair, size it (`size` = (height, width) of process.consoleSize), send the master and its
/// name over `sock`, close our master, then make the slave this process's controlling
/// terminal and stdin/stdout/stderr. Run it in the process that will exec the user program,
/// before dropping privileges. `sock` stays open; close it (or let CLOEXEC) afterwards.
pub fn setup_console(sock: BorrowedFd, size: Option<(u16, u16)>, owner: nix::unistd::Uid) -> Result<()> {
    let pty = open_pty(size).context("setting up the console")?;
    give_slave_to(&pty, owner).context("setting up the console")?;
    send_pty_master(sock, pty.master.as_fd(), &pty.name).context("setting up the console")?;
    drop(pty.master);
    make_controlling_stdio(pty.slave).context("setting up the console")
}

/// [`setup_console`] for the container's init (`create`/`run`, not `exec`): also bind-mounts
/// the slave over `/dev/console` (created as an empty 0666 file if missing), as the spec
/// requires when process.terminal is true. Needs the container's /dev to be writable, or
/// /dev/console to exist.
pub fn setup_init_console(sock: BorrowedFd, size: Option<(u16, u16)>, owner: nix::unistd::Uid) -> Result<()> {
    let pty = open_pty(size).context("setting up the console")?;
    give_slave_to(&pty, owner).context("setting up the console")?;
    bind_dev_console(&pty.name).context("setting up the console")?;
    send_pty_master(sock, pty.master.as_fd(), &pty.name).context("setting up the console")?;
    drop(pty.master);
    make_controlling_stdio(pty.slave).context("setting up the console")
}

/// Make the process's user (`owner`, process.user.uid) the owner of the pty slave, as runc
/// does for its stdio before the user switch: the group stays the one devpts gave the slave
/// (its `gid=` mount option, 5 = tty in runc's default config). Only the slave we created is
/// touched, never the caller's stdio. A uid or owner not mapped in the user namespace
/// (EINVAL, EPERM) leaves the slave as it is, as in runc.
fn give_slave_to(pty: &Pty, owner: nix::unistd::Uid) -> Result<()> {
    match nix::unistd::fchown(pty.slave.as_raw_fd(), Some(owner), None) {
        Ok(()) | Err(Errno::EINVAL | Errno::EPERM) => Ok(()),
        Err(e) => Err(Error::sys(e, format!("changing the owner of {} to uid {owner}", pty.name))),
    }
}

fn bind_dev_console(slave_name: &str) -> Result<()> {
    let target = Path::new("/dev/console");
    match OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o666)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(target)
    {
        Ok(_) => {}
        // An existing device node or file we cannot write is still a fine mount point.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM | libc::EROFS | libc::ENXIO)) => {}
        Err(e) => return Err(Error::io(e, "creating /dev/console")),
    }
    nix::mount::mount(Some(slave_name), target, None::<&str>, nix::mount::MsFlags::MS_BIND, None::<&str>)
        .map_err(|e| Error::sys(e, format!("bind-mounting {slave_name} on /dev/console")))
}

/// Puts a terminal in raw mode and restores its settings on drop.
pub struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> RawMode<'a> {
    pub fn enable(fd: BorrowedFd<'a>) -> Result<RawMode<'a>> {
        let saved = tcgetattr(fd).map_err(|e| Error::sys(e, "getting terminal settings"))?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(fd, SetArg::TCSANOW, &raw).map_err(|e| Error::sys(e, "making the terminal raw"))?;
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        let _ = tcsetattr(self.fd, SetArg::TCSANOW, &self.saved);
    }
}

/// Foreground `run -t`/`exec -t` without a console socket: copy our stdin to the pty `master`
/// and the master to our stdout until the container process exits (or, without `child`, the
/// master hangs up). If stdin is a terminal it is made raw (restored on return) and its window
/// size is copied to the pty, now and on every SIGWINCH. With `child` (which must be our child
/// for its status), returns its exit code, 128+N for death by signal N, as runc reports it.
pub fn proxy(master: OwnedFd, child: Option<Pid>) -> Result<i32> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    proxy_fds_with(master, stdin.as_fd(), stdout.as_fd(), child, None)
}

/// [`proxy`] that also forwards the signals read from `forward` (a signalfd of signals the
/// caller blocked; SIGWINCH is handled here already and should not be in it) to `child`, as
/// runc's foreground `run -t`/`exec -t` do.
pub fn proxy_forwarding(master: OwnedFd, child: Pid, forward: &SignalFd) -> Result<i32> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    proxy_fds_with(master, stdin.as_fd(), stdout.as_fd(), Some(child), Some(forward))
}

/// [`proxy`] between `input`, `output` and `master`.
pub fn proxy_fds(master: OwnedFd, input: BorrowedFd, output: BorrowedFd, child: Option<Pid>) -> Result<i32> {
    proxy_fds_with(master, input, output, child, None)
}

fn proxy_fds_with(
    master: OwnedFd,
    input: BorrowedFd,
    output: BorrowedFd,
    child: Option<Pid>,
    forward: Option<&SignalFd>,
) -> Result<i32> {
    let is_tty = nix::unistd::isatty(input.as_raw_fd()).unwrap_or(false);
    let _raw = if is_tty { Some(RawMode::enable(input)?) } else { None };

    // SIGWINCH through a signalfd: block it on this thread (husk is single-threaded), restore
    // the mask on return.
    let mut winch = SigSet::empty();
    winch.add(Signal::SIGWINCH);
    let mut old_mask = SigSet::empty();
    let winch_fd = if is_tty {
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&winch), Some(&mut old_mask)).context("blocking SIGWINCH")?;
        copy_window_size(input, master.as_fd());
        Some(
            SignalFd::with_flags(&winch, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
                .map_err(|e| Error::sys(e, "creating a signalfd for SIGWINCH"))?,
        )
    } else {
        None
    };
    let result = proxy_loop(&master, input, output, child, winch_fd.as_ref(), forward);
    if winch_fd.is_some() {
        drop(winch_fd);
        if !old_mask.contains(Signal::SIGWINCH) {
            sys::process::consume_pending_signal(Signal::SIGWINCH);
        }
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    }
    result
}

/// Copy the caller's terminal size to the pty. A terminal without a size (0x0, e.g. the pty
/// of `script` whose own input is not a terminal) says nothing: the pty keeps the size it has
/// (process.consoleSize, set before the process started).
fn copy_window_size(from: BorrowedFd, to: BorrowedFd) {
    if let Ok((rows, cols)) = sys::tty::window_size(from) {
        if rows != 0 || cols != 0 {
            let _ = sys::tty::set_window_size(to, rows, cols);
        }
    }
}

fn proxy_loop(
    master: &OwnedFd,
    input: BorrowedFd,
    output: BorrowedFd,
    child: Option<Pid>,
    winch: Option<&SignalFd>,
    forward: Option<&SignalFd>,
) -> Result<i32> {
    set_nonblocking(master.as_fd())?;
    let pidfd = child.and_then(|pid| sys::process::pidfd_open(pid).ok());
    let mut input_open = true;
    let mut master_open = true;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];

    loop {
        if let Some(pid) = child {
            if let Some(code) = try_reap(pid)? {
                if master_open {
                    drain_master(master.as_fd(), output, &mut buf)?;
                }
                return Ok(code);
            }
        } else if !master_open {
            return Ok(0);
        }
        // Without a pidfd we look at the child every 50ms.
        let timeout = if child.is_some() && pidfd.is_none() { PollTimeout::from(50u16) } else { PollTimeout::NONE };
        let (in_ready, master_ready, winch_ready) = {
            let mut fds = Vec::with_capacity(4);
            let mut slots = [None; 3];
            if input_open && pending.is_empty() && master_open {
                slots[0] = Some(fds.len());
                fds.push(PollFd::new(input, PollFlags::POLLIN));
            }
            if master_open {
                let mut ev = PollFlags::POLLIN;
                if !pending.is_empty() {
                    ev |= PollFlags::POLLOUT;
                }
                slots[1] = Some(fds.len());
                fds.push(PollFd::new(master.as_fd(), ev));
            }
            if let Some(w) = winch {
                slots[2] = Some(fds.len());
                fds.push(PollFd::new(w.as_fd(), PollFlags::POLLIN));
            }
            if let Some(p) = &pidfd {
                fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
            }
            if let Some(f) = forward {
                fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(Error::sys(e, "polling the terminal")),
            }
            let ready = |slot: Option<usize>| slot.and_then(|i| fds[i].revents()).unwrap_or(PollFlags::empty());
            (ready(slots[0]), ready(slots[1]), ready(slots[2]))
        };

        // Signals to forward (non-blocking read: nothing pending is fine).
        if let (Some(f), Some(pid)) = (forward, child) {
            while let Ok(Some(si)) = f.read_signal() {
                if let Ok(sig) = Signal::try_from(si.ssi_signo as i32) {
                    if sig != Signal::SIGCHLD && sig != Signal::SIGWINCH {
                        let _ = nix::sys::signal::kill(pid, sig);
                    }
                }
            }
        }
        if !winch_ready.is_empty() {
            if let Some(w) = winch {
                while let Ok(Some(_)) = w.read_signal() {}
                copy_window_size(input, master.as_fd());
            }
        }
        if !in_ready.is_empty() {
            match nix::unistd::read(input.as_raw_fd(), &mut buf) {
                Ok(0) => input_open = false,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Err(_) => input_open = false,
            }
        }
        if master_ready.contains(PollFlags::POLLOUT) && !pending.is_empty() {
            match nix::unistd::write(master, &pending) {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Err(_) => pending.clear(),
            }
        }
        if master_ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            // Read what there is; EIO means every slave fd is closed (the hang-up).
            match nix::unistd::read(master.as_raw_fd(), &mut buf) {
                Ok(0) | Err(Errno::EIO) => master_open = false,
                Ok(n) => write_all(output, &buf[..n])?,
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Err(e) => return Err(Error::sys(e, "reading from the pty master")),
            }
        }
    }
}

/// Copy what the master still holds to `output`, without waiting for more.
fn drain_master(master: BorrowedFd, output: BorrowedFd, buf: &mut [u8]) -> Result<()> {
    loop {
        match nix::unistd::read(master.as_raw_fd(), buf) {
            Ok(0) | Err(Errno::EIO | Errno::EAGAIN) => return Ok(()),
            Ok(n) => write_all(output, &buf[..n])?,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::sys(e, "reading from the pty master")),
        }
    }
}

/// `Some(exit code)` once `pid` has exited (reaped), 128+N after signal N.
fn try_reap(pid: Pid) -> Result<Option<i32>> {
    match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Ok(Some(code)),
        Ok(WaitStatus::Signaled(_, sig, _)) => Ok(Some(128 + sig as i32)),
        Ok(_) => Ok(None),
        Err(Errno::EINTR) => Ok(None),
        Err(e) => Err(Error::sys(e, format!("waiting for process {pid}"))),
    }
}

fn write_all(fd: BorrowedFd, mut data: &[u8]) -> Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut p = [PollFd::new(fd, PollFlags::POLLOUT)];
                let _ = poll(&mut p, PollTimeout::from(1000u16));
            }
            Err(e) => return Err(Error::sys(e, "writing terminal output")),
        }
    }
    Ok(())
}

fn set_nonblocking(fd: BorrowedFd) -> Result<()> {
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).map_err(|e| Error::sys(e, "getting pty flags"))?;
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK))
        .map_err(|e| Error::sys(e, "making the pty master non-blocking"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use nix::sys::termios::LocalFlags;
    use nix::unistd::ForkResult;

    /// Fork a child that sets up a console over a socket pair and execs `/bin/sh` with `args`;
    /// returns its pid, the received master and the name payload.
    fn console_child(args: &[&str], size: Option<(u16, u16)>) -> (Pid, OwnedFd, String) {
        let (ours, theirs) = console_socketpair().unwrap();
        match sys::process::fork().unwrap() {
            ForkResult::Child => {
                drop(ours);
                if let Err(e) = setup_console(theirs.as_fd(), size, nix::unistd::getuid()) {
                    eprintln!("child: {e}");
                    std::process::exit(100);
                }
                drop(theirs);
                let e = Command::new("/bin/sh").args(args).env("PS1", "$ ").exec();
                eprintln!("child: exec: {e}");
                std::process::exit(101);
            }
            ForkResult::Parent { child } => {
                drop(theirs);
                let (master, name) = recv_pty_master(ours.as_fd()).unwrap();
                (child, master, name)
            }
        }
    }

    /// Read from `fd` until `needle` shows up (or panic after 10s); returns all read so far.
    fn read_until(fd: BorrowedFd, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {needle:?} in {:?}", String::from_utf8_lossy(&seen));
            let mut p = [PollFd::new(fd, PollFlags::POLLIN)];
            poll(&mut p, PollTimeout::try_from(left).unwrap()).unwrap();
            match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
                Ok(0) | Err(Errno::EIO) => panic!("eof before {needle:?} in {:?}", String::from_utf8_lossy(&seen)),
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                Err(Errno::EAGAIN | Errno::EINTR) => {}
                Err(e) => panic!("read: {e}"),
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    }

    fn tty_nr(pid: Pid) -> i64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let rest = stat.rsplit_once(')').unwrap().1;
        // state ppid pgrp session tty_nr
        rest.split_whitespace().nth(5).unwrap().parse().unwrap()
    }

    #[test]
    fn console_socket_round_trip_with_interactive_shell() {
        let (child, master, name) = console_child(&[], Some((24, 80)));
        let n = name.strip_prefix("/dev/pts/").expect("name is /dev/pts/N");
        assert!(!n.is_empty() && n.chars().all(|c| c.is_ascii_digit()), "{name}");
        // Received CLOEXEC.
        let fdflags = fcntl(master.as_raw_fd(), FcntlArg::F_GETFD).unwrap();
        assert_ne!(fdflags & libc::FD_CLOEXEC, 0);

        let mut m = std::fs::File::from(master);
        m.write_all(b"echo TTY=$(tty) SIZE=$(stty size) OUT-$((40+2))\n").unwrap();
        let out = read_until(m.as_fd(), "OUT-42");
        assert!(out.contains(&format!("TTY={name} ")), "{out}");
        assert!(out.contains("SIZE=24 80 "), "{out}");

        // The slave is the shell's controlling terminal: it leads the session and the
        // terminal's foreground group, and /dev/tty opens.
        assert_eq!(nix::unistd::getsid(Some(child)).unwrap(), child);
        assert_eq!(nix::unistd::tcgetpgrp(m.as_fd()).unwrap(), child);
        assert_ne!(tty_nr(child), 0);
        m.write_all(b": </dev/tty && echo CTTY-$((1+1))\n").unwrap();
        read_until(m.as_fd(), "CTTY-2");
        // stdin, stdout and stderr are all the slave.
        m.write_all(b"ls -l /proc/$$/fd/ >&2; echo FDS-$((3*3))\n").unwrap();
        let out = read_until(m.as_fd(), "FDS-9");
        for fd in 0..=2 {
            assert!(out.contains(&format!(" {fd} -> {name}")), "{out}");
        }

        m.write_all(b"exit 3\n").unwrap();
        assert_eq!(waitpid(child, None).unwrap(), WaitStatus::Exited(child, 3));
    }

    #[test]
    fn init_console_is_bind_mounted_on_dev_console() {
        // In a private mount namespace of a forked child (root needed), like the container init.
        let (ours, theirs) = console_socketpair().unwrap();
        let child = match sys::process::fork().unwrap() {
            ForkResult::Child => {
                drop(ours);
                let ns = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).and_then(|_| {
                    nix::mount::mount(
                        None::<&str>,
                        "/",
                        None::<&str>,
                        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
                        None::<&str>,
                    )
                });
                if ns.is_err() {
                    std::process::exit(102);
                }
                if let Err(e) = setup_init_console(theirs.as_fd(), None, nix::unistd::getuid()) {
                    eprintln!("child: {e}");
                    std::process::exit(100);
                }
                drop(theirs);
                let script = "echo CONSOLE=$(stat -L -c %t:%T /dev/console)/$(stat -L -c %t:%T $(tty)); exit 0";
                let e = Command::new("/bin/sh").args(["-c", script]).exec();
                eprintln!("child: exec: {e}");
                std::process::exit(101);
            }
            ForkResult::Parent { child } => child,
        };
        drop(theirs);
        let (master, _) = recv_pty_master(ours.as_fd()).unwrap();
        let out = read_until(master.as_fd(), "\n");
        let (console, slave) = out.trim().strip_prefix("CONSOLE=").unwrap().split_once('/').unwrap();
        assert_eq!(console, slave, "{out}");
        assert!(console.starts_with("88:"), "pts major is 136 (0x88): {out}");
        assert_eq!(waitpid(child, None).unwrap(), WaitStatus::Exited(child, 0));
    }

    #[test]
    fn proxy_copies_both_ways_and_returns_the_exit_code() {
        let (child, master, _) = console_child(&["-c", "read x; echo \"got-$x\"; exit 7"], None);
        let (in_r, in_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        nix::unistd::write(&in_w, b"abc\n").unwrap();
        drop(in_w);
        let code = proxy_fds(master, in_r.as_fd(), out_w.as_fd(), Some(child)).unwrap();
        drop(out_w);
        assert_eq!(code, 7);
        let mut out = String::new();
        std::fs::File::from(out_r).read_to_string(&mut out).unwrap();
        assert!(out.contains("got-abc"), "{out:?}");
    }

    #[test]
    fn proxy_reports_death_by_signal_as_128_plus_n() {
        let (child, master, _) = console_child(&["-c", "kill -TERM $$"], None);
        let devnull = std::fs::File::open("/dev/null").unwrap();
        let sink = OpenOptions::new().write(true).open("/dev/null").unwrap();
        assert_eq!(proxy_fds(master, devnull.as_fd(), sink.as_fd(), Some(child)).unwrap(), 143);
    }

    #[test]
    fn proxy_without_child_ends_at_hangup() {
        let (child, master, _) = console_child(&["-c", "echo bye"], None);
        let devnull = std::fs::File::open("/dev/null").unwrap();
        let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        assert_eq!(proxy_fds(master, devnull.as_fd(), out_w.as_fd(), None).unwrap(), 0);
        drop(out_w);
        let mut out = String::new();
        std::fs::File::from(out_r).read_to_string(&mut out).unwrap();
        assert_eq!(out, "bye\r\n");
        waitpid(child, None).unwrap();
    }

    #[test]
    fn message_without_fd_is_an_error() {
        let (a, b) = console_socketpair().unwrap();
        nix::unistd::write(&b, b"/dev/pts/0").unwrap();
        let e = recv_pty_master(a.as_fd()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "receiving the pty master from the console socket: the message carried no file descriptor"
        );
        drop(b);
        let e = recv_pty_master(a.as_fd()).unwrap_err();
        assert!(e.to_string().ends_with("the peer closed it without sending one"), "{e}");
    }

    fn listener_at(path: &Path) -> std::os::unix::net::UnixListener {
        // Bind through /proc/self/fd so long paths work here too.
        let dir = std::fs::File::open(path.parent().unwrap()).unwrap();
        let short = format!("/proc/self/fd/{}/{}", dir.as_raw_fd(), path.file_name().unwrap().to_str().unwrap());
        std::os::unix::net::UnixListener::bind(short).unwrap()
    }

    #[test]
    fn connect_send_and_receive_over_a_listening_socket() {
        let base = std::env::temp_dir().join(format!("husk-console-{}", std::process::id()));
        let long = base.join("d".repeat(120));
        std::fs::create_dir_all(&long).unwrap();
        for dir in [&base, &long] {
            let path = dir.join("console.sock");
            let listener = listener_at(&path);
            let sock = connect_console_socket(&path).unwrap();
            let fdflags = fcntl(sock.as_raw_fd(), FcntlArg::F_GETFD).unwrap();
            assert_ne!(fdflags & libc::FD_CLOEXEC, 0);
            let (conn, _) = listener.accept().unwrap();

            let pty = open_pty(Some((10, 20))).unwrap();
            send_pty_master(sock.as_fd(), pty.master.as_fd(), &pty.name).unwrap();
            let (master, name) = recv_pty_master(conn.as_fd()).unwrap();
            assert_eq!(name, pty.name);
            assert_eq!(sys::tty::window_size(master.as_fd()).unwrap(), (10, 20));
            // The received master drives the same slave.
            nix::unistd::write(&master, b"ping\n").unwrap();
            let out = read_until(pty.slave.as_fd(), "ping");
            assert_eq!(out, "ping\n");
        }
        let e = connect_console_socket(&base.join("missing.sock")).unwrap_err();
        assert!(e.to_string().starts_with("connecting to console socket "), "{e}");
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn raw_mode_is_restored_on_drop() {
        let pty = open_pty(None).unwrap();
        let before = tcgetattr(pty.slave.as_fd()).unwrap();
        assert!(before.local_flags.contains(LocalFlags::ICANON | LocalFlags::ECHO));
        {
            let _raw = RawMode::enable(pty.slave.as_fd()).unwrap();
            let now = tcgetattr(pty.slave.as_fd()).unwrap();
            assert!(!now.local_flags.intersects(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG));
        }
        let after = tcgetattr(pty.slave.as_fd()).unwrap();
        assert_eq!(after.local_flags, before.local_flags);
        assert_eq!(after.input_flags, before.input_flags);
        assert_eq!(after.output_flags, before.output_flags);
    }

    #[test]
    fn terminal_arguments_are_checked_as_runc_does() {
        // (terminal, console socket, detach)
        assert!(check_terminal_args(true, true, true).is_ok());
        assert!(check_terminal_args(true, false, false).is_ok());
        assert!(check_terminal_args(false, false, true).is_ok());
        assert!(check_terminal_args(false, false, false).is_ok());
        let e = check_terminal_args(true, false, true).unwrap_err();
        assert_eq!(e.to_string(), "cannot allocate tty if husk will detach without setting console socket");
        assert_eq!(e.kind(), Kind::InvalidArg);
        for (t, d) in [(false, true), (true, false), (false, false)] {
            let e = check_terminal_args(t, true, d).unwrap_err();
            assert_eq!(e.to_string(), "cannot use console socket if husk will not detach or allocate tty");
        }
    }

    /// Runs inside `script` (see below): stdin is a terminal there.
    #[test]
    #[ignore = "run by proxy_under_a_real_terminal"]
    fn tty_proxy_child() {
        if std::env::var_os("HUSK_TTY_CHILD").is_none() {
            return;
        }
        let stdin = std::io::stdin();
        sys::tty::set_window_size(stdin.as_fd(), 33, 77).unwrap();
        let before = tcgetattr(stdin.as_fd()).unwrap();
        let (child, master, _) = console_child(&["-c", "echo SIZE=$(stty size); exit 5"], None);
        assert_eq!(proxy(master, Some(child)).unwrap(), 5);
        let after = tcgetattr(stdin.as_fd()).unwrap();
        assert_eq!(after.local_flags, before.local_flags);
        assert_eq!(after.input_flags, before.input_flags);
        println!("RESTORED-OK");
    }

    #[test]
    fn proxy_under_a_real_terminal() {
        let exe = std::env::current_exe().unwrap();
        let cmd =
            format!("{} --exact console::tests::tty_proxy_child --ignored --nocapture --test-threads=1", exe.display());
        let mut script = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("HUSK_TTY_CHILD", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // Keep script's stdin open (EOF there may end its session early).
        let stdin = script.stdin.take();
        let mut out = String::new();
        script.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        drop(stdin);
        assert!(script.wait().unwrap().success(), "{out}");
        assert!(out.contains("SIZE=33 77"), "{out}");
        assert!(out.contains("RESTORED-OK"), "{out}");
    }
}

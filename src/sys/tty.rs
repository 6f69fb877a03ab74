//! Terminal ioctls for pseudo-terminals: unlock and name the pty, open its peer, size it,
//! and make it a controlling terminal.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use crate::error::{Error, Result};

/// `TIOCSPTLCK 0`: unlock the slave of a pty master so it can be opened.
pub fn unlock_pty(master: BorrowedFd) -> Result<()> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int through the pointer, which is valid for the call.
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) };
    if ret < 0 {
        return Err(Error::sys(Errno::last(), "unlocking the pty slave"));
    }
    Ok(())
}

/// `TIOCGPTN`: the number N of the slave `/dev/pts/N` in the master's devpts instance.
pub fn pty_number(master: BorrowedFd) -> Result<u32> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through the pointer, valid for the call.
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) };
    if ret < 0 {
        return Err(Error::sys(Errno::last(), "getting the pty number"));
    }
    Ok(n)
}

/// `TIOCGPTPEER` (Linux 4.13): open the slave of `master` without a path lookup, so no
/// mount or symlink in the container's /dev/pts can swap it. `flags` are open(2) flags.
pub fn open_pty_peer(master: BorrowedFd, flags: libc::c_int) -> Result<OwnedFd> {
    // SAFETY: TIOCGPTPEER takes the open flags as an integer argument and returns a new fd.
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    if ret < 0 {
        return Err(Error::sys(Errno::last(), "opening the pty slave from its master"));
    }
    // SAFETY: on success ioctl returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret) })
}

/// `TIOCSCTTY 0`: make the terminal `fd` the controlling terminal of the calling session
/// leader (fails with EPERM if the caller is not a session leader or it already has one).
pub fn set_controlling_tty(fd: BorrowedFd) -> Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal from another session).
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0 as libc::c_int) };
    if ret < 0 {
        return Err(Error::sys(Errno::last(), "making the pty the controlling terminal"));
    }
    Ok(())
}

/// `TIOCGWINSZ`: (rows, cols) of the terminal `fd`.
pub fn window_size(fd: BorrowedFd) -> Result<(u16, u16)> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one struct winsize through the pointer, valid for the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    if ret < 0 {
        return Err(Error::sys(Errno::last(), "getting the terminal window size"));
    }
    Ok((ws.ws_row, ws.ws_col))
}

/// `TIOCSWINSZ`: set the window size of the terminal `fd` to `rows` x `cols`.
pub fn set_window_size(fd: BorrowedFd, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one struct winsize through the pointer, valid for the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if ret < 0 {
        return Err(Error::sys(Errno::last(), "setting the terminal window size"));
    }
    Ok(())
}

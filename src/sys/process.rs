//! Process helpers for running hooks: pidfds, the fd hygiene of a spawned child, and
//! consuming a SIGPIPE we blocked.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// `CLOSE_RANGE_CLOEXEC` from <linux/close_range.h> (Linux 5.11); libc does not export it.
const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// `pidfd_open(pid, 0)`: a CLOEXEC fd that polls readable once `pid` has exited.
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and a flags word and touches no memory of ours.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0 as libc::c_uint) };
    if ret < 0 {
        return Err(Error::sys(
            Errno::last(),
            format!("opening a pidfd for pid {pid}"),
        ));
    }
    // SAFETY: on success the syscall returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as libc::c_int) })
}

/// Make `cmd`'s child mark every fd >= 3 close-on-exec right before it execs, so nothing of
/// ours except the stdio `cmd` sets up reaches the program, even fds a caller left inheritable.
/// std's own exec-error pipe is CLOEXEC already, so spawn errors (ENOENT...) still come back.
pub fn cloexec_fds_from_3_in_child(cmd: &mut Command) {
    let hook = || {
        // SAFETY: close_range is a raw system call (async-signal-safe) with integer arguments;
        // CLOSE_RANGE_CLOEXEC only sets flags and closes nothing.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                CLOSE_RANGE_CLOEXEC,
            )
        };
        if ret == 0 {
            return Ok(());
        }
        // Kernels before 5.11: walk the fd table up to the soft limit (no allocation here).
        // SAFETY: sysconf is async-signal-safe in practice (reads the rlimit) and takes an int.
        let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) };
        let max = if max <= 0 {
            1 << 16
        } else {
            max.min(1 << 20) as libc::c_int
        };
        for fd in 3..max {
            // SAFETY: fcntl on an int fd; EBADF for unused numbers is expected and ignored.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        Ok(())
    };
    // SAFETY: the closure runs in the child between fork and exec; it only makes raw system
    // calls (close_range, sysconf, fcntl), allocates nothing and takes no locks.
    unsafe { cmd.pre_exec(hook) };
}

/// Take a pending `sig` off this thread without delivering it (after writing to a pipe whose
/// reader left while SIGPIPE was blocked). Returns whether one was pending.
pub fn consume_pending_signal(sig: Signal) -> bool {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(sig);
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `set` and `ts` are valid for the call; a null siginfo pointer is allowed.
    let ret = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
    ret == sig as libc::c_int
}

/// fork(2) for tests that need a child which runs our code and then execs: the child must
/// stick to what is safe after fork in a multi-threaded parent (glibc keeps malloc usable).
#[cfg(test)]
pub fn fork() -> Result<nix::unistd::ForkResult> {
    // SAFETY: test-only; callers exec or _exit in the child after a few system calls.
    unsafe { nix::unistd::fork() }.map_err(|e| Error::sys(e, "forking a test child"))
}

/// Set SIGPIPE back to SIG_DFL, as a process not written in Rust has it: tests check that
/// hooks survive a reader that went away even then. Only call in a forked test child.
#[cfg(test)]
pub fn default_sigpipe_for_test() {
    use nix::sys::signal::{signal, SigHandler};
    // SAFETY: installs no handler function, only the default disposition.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }.expect("resetting SIGPIPE");
}

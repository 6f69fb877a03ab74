//! seccomp(2) and the user-notification ioctls, which nix does not wrap.
//!
//! Runs in: the container init ([`set_mode_filter`], just before execve), the runtime parent
//! ([`action_available`], [`flag_supported`], [`pidfd_getfd`]) and seccomp agents / tests
//! ([`notif_recv`], [`notif_send`]).

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use seccompiler::sock_filter;

use crate::error::{Error, Result};

/// `struct sock_fprog` from <linux/filter.h>.
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const sock_filter,
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`: load `prog` into the calling thread (all
/// threads with TSYNC). Returns the notification listener when `flags` has NEW_LISTENER.
///
/// Allocates nothing on success: safe to call between fork and exec.
pub fn set_mode_filter(flags: libc::c_ulong, prog: &[sock_filter]) -> Result<Option<OwnedFd>> {
    if prog.is_empty() || prog.len() > u16::MAX as usize {
        return Err(Error::invalid_arg("loading seccomp filter: program length out of range"));
    }
    let fprog = SockFprog { len: prog.len() as libc::c_ushort, filter: prog.as_ptr() };
    // SAFETY: `fprog` points to `prog`, a live slice of `repr(C)` sock_filter (same layout as the
    // kernel's struct sock_filter) of exactly `len` entries; the kernel copies the program during
    // the call and keeps no pointer to our memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            flags,
            &fprog as *const SockFprog,
        )
    };
    if rc < 0 {
        return Err(Error::sys(Errno::last(), "loading seccomp filter"));
    }
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER the return value is a new fd owned by nobody else.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(rc as RawFd) }));
    }
    if rc > 0 {
        // TSYNC without TSYNC_ESRCH: rc is the id of a thread that could not be synchronized.
        return Err(Error::sys(Errno::ESRCH, format!("loading seccomp filter: cannot sync thread {rc}")));
    }
    Ok(None)
}

/// `seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action)`: does the kernel know this return action?
pub fn action_available(action: u32) -> bool {
    let a: u32 = action;
    // SAFETY: the kernel reads one u32 from the valid pointer `&a` and writes nothing.
    let rc = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_GET_ACTION_AVAIL as libc::c_ulong, 0, &a as *const u32)
    };
    rc == 0
}

/// Does the kernel know filter flag `flag`? Asks SET_MODE_FILTER with a NULL program: the kernel
/// checks the flags first (EINVAL if unknown) and only then faults on the NULL pointer (EFAULT),
/// so nothing is ever installed. The probe libseccomp uses too. WAIT_KILLABLE_RECV is only
/// valid with NEW_LISTENER, so it is probed with it.
pub fn flag_supported(flag: libc::c_ulong) -> bool {
    let flag = if flag == libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
        flag | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
    } else {
        flag
    };
    // SAFETY: a NULL program pointer is never dereferenced by us; the kernel reports EFAULT.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            flag,
            std::ptr::null::<SockFprog>(),
        )
    };
    rc < 0 && Errno::last() == Errno::EFAULT
}

/// `pidfd_getfd(pidfd, targetfd, 0)`: duplicate fd `target` of the process behind `pidfd` into
/// the caller (needs ptrace access to it: the runtime, root, over its own child).
pub fn pidfd_getfd(pidfd: BorrowedFd<'_>, target: RawFd) -> Result<OwnedFd> {
    // SAFETY: plain integer arguments; the kernel returns a new fd or -1.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target, 0) };
    if rc < 0 {
        return Err(Error::sys(Errno::last(), format!("taking fd {target} from the container init")));
    }
    // SAFETY: on success rc is a new fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) })
}

/// A notification read from a seccomp listener.
#[derive(Debug, Clone, Copy)]
pub struct Notif {
    pub id: u64,
    pub pid: u32,
    pub nr: i32,
    pub arch: u32,
    pub args: [u64; 6],
}

/// `ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV)`: wait for the next notification.
pub fn notif_recv(listener: BorrowedFd<'_>) -> Result<Notif> {
    // SAFETY: seccomp_notif is plain old data; all-zero is a valid value (the kernel requires
    // the buffer to be zeroed).
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: `n` is a writable seccomp_notif, the type this ioctl number encodes.
    let rc = unsafe { libc::ioctl(listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) };
    if rc < 0 {
        return Err(Error::sys(Errno::last(), "receiving seccomp notification"));
    }
    Ok(Notif { id: n.id, pid: n.pid, nr: n.data.nr, arch: n.data.arch, args: n.data.args })
}

/// `ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND)`: answer notification `id` with return value `val`
/// and error `-errno` (0 for success), or let the call run (`continue_syscall`).
pub fn notif_send(listener: BorrowedFd<'_>, id: u64, val: i64, errno: i32, continue_syscall: bool) -> Result<()> {
    let resp = libc::seccomp_notif_resp {
        id,
        val,
        error: if errno != 0 { -errno } else { 0 },
        flags: if continue_syscall { libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32 } else { 0 },
    };
    // SAFETY: `resp` is a valid seccomp_notif_resp, the type this ioctl number encodes; read only.
    let rc = unsafe { libc::ioctl(listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    if rc < 0 {
        return Err(Error::sys(Errno::last(), "answering seccomp notification"));
    }
    Ok(())
}

/// Raw calls for the seccomp tests: exact arguments, and results untouched by libc caching.
#[cfg(test)]
pub mod test_support {
    use std::os::fd::{FromRawFd, OwnedFd, RawFd};

    /// fork(2). The tests' children only make syscalls and exit.
    pub fn fork() -> nix::unistd::ForkResult {
        // SAFETY: the child runs test code that only makes system calls (the allocator is
        // usable after fork with glibc) and leaves with process::exit.
        unsafe { nix::unistd::fork() }.expect("fork")
    }

    /// getcwd(2) into `buf`, with `buf.len()` as the size argument.
    pub fn getcwd(buf: &mut [u8]) -> libc::c_long {
        // SAFETY: the kernel writes at most buf.len() bytes into buf.
        unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) }
    }

    /// getppid(2), uncached.
    pub fn getppid() -> libc::c_long {
        // SAFETY: no arguments.
        unsafe { libc::syscall(libc::SYS_getppid) }
    }

    /// Own an fd received with SCM_RIGHTS.
    pub fn own(fd: RawFd) -> OwnedFd {
        // SAFETY: the caller just received `fd` and nothing else owns it.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }
}

//! Process-level system calls: fork with namespace flags, pidfds, close_range, rlimits.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::unistd::Pid;

/// What `clone` returned: which side of the fork we are on.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// fork(2) with extra clone flags (CLONE_NEW*, CLONE_PARENT): the child continues on a copy
/// of the caller's stack, exactly like fork. Only sound while the process is single-threaded,
/// which husk is (no threads are ever started before a container is launched).
pub fn fork_with_flags(flags: libc::c_int) -> Result<Forked, Errno> {
    let flags = (flags | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: raw clone with a NULL stack behaves as fork(): the child gets a copy of the
    // address space. The process is single-threaded, so no lock can be held by another thread.
    let ret =
        unsafe { libc::syscall(libc::SYS_clone, flags, std::ptr::null_mut::<libc::c_void>(), 0usize, 0usize, 0usize) };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// pidfd_open(2): a stable handle on a process, immune to pid reuse.
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with integer arguments; the returned fd is new and owned by us.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}

/// pidfd_send_signal(2).
pub fn pidfd_send_signal(pidfd: BorrowedFd, sig: i32) -> Result<(), Errno> {
    // SAFETY: integer arguments and a null siginfo, as the man page allows.
    let ret = unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), sig, std::ptr::null::<libc::siginfo_t>(), 0)
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// close_range(2) over [first, u32::MAX] with `flags` (0 to close, CLOSE_RANGE_CLOEXEC to mark).
pub fn close_range_from(first: u32, flags: u32) -> Result<(), Errno> {
    // SAFETY: integer arguments only; closing fds we own by number is the purpose here.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, flags) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// setrlimit(2) by raw resource number (the OCI names map onto these).
pub fn setrlimit(resource: libc::c_int, soft: u64, hard: u64) -> Result<(), Errno> {
    let lim = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: `lim` is a valid rlimit for the duration of the call.
    let ret = unsafe { libc::setrlimit(resource as _, &lim) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// setdomainname(2) (nix only has sethostname).
pub fn setdomainname(name: &[u8]) -> Result<(), Errno> {
    // SAFETY: pointer and length describe a valid byte slice.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Clear FD_CLOEXEC on one fd (for preserved fds handed to the container).
pub fn clear_cloexec(fd: i32) -> Result<(), Errno> {
    // SAFETY: fcntl on an fd number; an invalid fd just yields EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(Errno::last());
    }
    // SAFETY: as above.
    let ret = unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Exit immediately without running destructors or atexit handlers: the only correct way
/// for a forked child of husk to end.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no user-space state.
    unsafe { libc::_exit(code) }
}

/// Reset one signal's disposition to SIG_DFL.
pub fn default_signal(sig: i32) -> Result<(), Errno> {
    // SAFETY: installing SIG_DFL registers no handler code; the signal number is valid.
    let ret = unsafe { libc::signal(sig, libc::SIG_DFL) };
    if ret == libc::SIG_ERR {
        return Err(Errno::last());
    }
    Ok(())
}

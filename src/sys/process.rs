//! Process-level system calls: fork with namespace flags, pidfds, close_range, rlimits.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

#[cfg(test)]
use crate::error::Error;

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

/// `struct clone_args` of clone3(2), up to its `cgroup` field (CLONE_ARGS_SIZE_VER2, Linux 5.7).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_ARGS_SIZE_VER2: usize = 88;
const _: () = assert!(std::mem::size_of::<CloneArgs>() == CLONE_ARGS_SIZE_VER2);

/// clone3's flag: the child starts in the cgroup2 directory `clone_args.cgroup` (Linux 5.7).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// [`fork_with_flags`] through clone3(2) with CLONE_INTO_CGROUP: the child is born in the cgroup2
/// directory `cgroup` (an fd, O_PATH is enough) and is charged to it from its first instant; it
/// never runs in the caller's cgroup and nobody writes cgroup.procs. Same fork semantics (no
/// stack given: the child continues on a copy of the caller's), same single-thread rule.
/// Kernels before 5.7 answer ENOSYS (no clone3, or a seccomp filter refusing it), E2BIG or
/// EINVAL (no CLONE_INTO_CGROUP): nothing was created, the caller falls back. Any other error
/// is what a write of the child's pid to the directory's cgroup.procs would have met.
pub fn fork_into_cgroup(flags: libc::c_int, cgroup: BorrowedFd) -> Result<Forked, Errno> {
    let args = CloneArgs {
        flags: flags as u32 as u64 | CLONE_INTO_CGROUP,
        // With CLONE_PARENT the child inherits our own exit signal (as with clone), and clone3
        // refuses any other value than 0 (EINVAL).
        exit_signal: if flags & libc::CLONE_PARENT != 0 { 0 } else { libc::SIGCHLD as u64 },
        cgroup: cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: clone3 reads `args` (valid, CLONE_ARGS_SIZE_VER2 bytes) during the call only.
    // Without a stack it behaves as fork(), sound while the process is single-threaded (see
    // fork_with_flags). No pidfd or tid pointers are given, so the kernel writes no memory.
    let ret = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, CLONE_ARGS_SIZE_VER2) };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// Whether a [`fork_into_cgroup`] error may mean only that this kernel (or a seccomp filter) has
/// no clone3 into a cgroup, so that a plain fork and a cgroup.procs write should be tried:
/// ENOSYS, E2BIG, EINVAL (see above), and EPERM, which seccomp filters written as allow-lists
/// (systemd's SystemCallFilter=) return for a system call they do not know. Should the error
/// be real (the namespaces or the cgroup refused), the fallback meets it again and reports it.
pub fn clone3_unsupported(e: Errno) -> bool {
    matches!(e, Errno::ENOSYS | Errno::E2BIG | Errno::EINVAL | Errno::EPERM)
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

/// Make `cmd`'s child move itself into a cgroup before it execs: it writes "0" (itself) to each
/// of `procs` (cgroup.procs files opened for writing by the caller), so that everything the
/// program forks is born there. Any failed write fails the spawn with its errno.
pub fn join_cgroup_in_child(cmd: &mut Command, procs: Vec<OwnedFd>) {
    let hook = move || {
        for fd in &procs {
            // SAFETY: write(2) of a static buffer on an fd we own: async-signal-safe.
            let n = unsafe { libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) };
            if n != 1 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the closure runs in the child between fork and exec; it only calls write(2),
    // allocates nothing and takes no locks.
    unsafe { cmd.pre_exec(hook) };
}

/// Make `cmd`'s child clear its signal mask and mark every fd >= 3 close-on-exec right before it execs, so nothing of
/// ours except the stdio `cmd` sets up reaches the program, even fds a caller left inheritable.
/// std's own exec-error pipe is CLOEXEC already, so spawn errors (ENOENT...) still come back.
pub fn clean_exec_in_child(cmd: &mut Command) {
    let hook = || {
        // An empty signal mask for the program, whatever the spawning thread had blocked.
        // SAFETY: sigemptyset/sigprocmask on a local set are async-signal-safe.
        unsafe {
            let mut set = std::mem::zeroed::<libc::sigset_t>();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        }
        // SAFETY: close_range is a raw system call (async-signal-safe) with integer arguments;
        // CLOSE_RANGE_CLOEXEC only sets flags and closes nothing.
        let ret = unsafe {
            libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC)
        };
        if ret == 0 {
            return Ok(());
        }
        // Kernels before 5.11: walk the fd table up to the soft limit (no allocation here).
        // SAFETY: sysconf is async-signal-safe in practice (reads the rlimit) and takes an int.
        let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) };
        let max = if max <= 0 { 1 << 16 } else { max.min(1 << 20) as libc::c_int };
        for fd in 3..max {
            // SAFETY: fcntl on an int fd; EBADF for unused numbers is expected and ignored.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        Ok(())
    };
    // SAFETY: the closure runs in the child between fork and exec; it only makes raw system
    // calls (sigprocmask, close_range, sysconf, fcntl), allocates nothing and takes no locks.
    unsafe { cmd.pre_exec(hook) };
}

/// A NUL-terminated argv/envp for execve, built before fork so the child allocates nothing.
struct ExecArgs {
    path: CString,
    _strings: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

// SAFETY: the pointers point into `_strings` and `path`, owned by the same value and never
// mutated; the value is only read (in the forked child).
unsafe impl Send for ExecArgs {}
// SAFETY: as above: shared read-only access.
unsafe impl Sync for ExecArgs {}

/// Make `cmd`'s child execve `path` with exactly `argv` and `envp` (in order, duplicates kept)
/// after std has set up its stdio and process group and the earlier `pre_exec` hooks ran. If the
/// execve fails, std reports its errno as the spawn error. Fails on a NUL byte in any string.
pub fn exec_in_child(cmd: &mut Command, path: &[u8], argv: &[&[u8]], envp: &[&[u8]]) -> Result<(), Errno> {
    let cstr = |b: &[u8]| CString::new(b).map_err(|_| Errno::EINVAL);
    let path = cstr(path)?;
    let argv_c = argv.iter().map(|a| cstr(a)).collect::<Result<Vec<_>, _>>()?;
    let envp_c = envp.iter().map(|e| cstr(e)).collect::<Result<Vec<_>, _>>()?;
    let ptrs = |v: &[CString]| v.iter().map(|c| c.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    let argv = ptrs(&argv_c);
    let envp = ptrs(&envp_c);
    let mut strings = argv_c;
    strings.extend(envp_c);
    let args = ExecArgs { path, _strings: strings, argv, envp };
    let hook = move || {
        let args = &args; // the whole value (Send + Sync), not its fields
                          // SAFETY: execve with NUL-terminated strings and NULL-terminated pointer arrays that
                          // `args` owns; async-signal-safe; returns only on failure.
        unsafe { libc::execve(args.path.as_ptr(), args.argv.as_ptr(), args.envp.as_ptr()) };
        Err(std::io::Error::last_os_error())
    };
    // SAFETY: the closure runs in the child between fork and exec; it makes one raw system
    // call on memory prepared before the fork, allocates nothing and takes no locks.
    unsafe { cmd.pre_exec(hook) };
    Ok(())
}

/// Take a pending `sig` off this thread without delivering it (after writing to a pipe whose
/// reader left while SIGPIPE was blocked). Returns whether one was pending.
pub fn consume_pending_signal(sig: Signal) -> bool {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(sig);
    let ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `set` and `ts` are valid for the call; a null siginfo pointer is allowed.
    let ret = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
    ret == sig as libc::c_int
}

/// fork(2) for tests that need a child which runs our code and then execs: the child must
/// stick to what is safe after fork in a multi-threaded parent (glibc keeps malloc usable).
#[cfg(test)]
pub fn fork() -> crate::error::Result<nix::unistd::ForkResult> {
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

/// keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): a new session keyring, so the container does
/// not share the caller's (runc does the same unless --no-new-keyring). Returns its serial.
pub fn join_session_keyring(name: &std::ffi::CStr) -> Result<i64, Errno> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
    let ret = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(ret)
}

/// keyctl(KEYCTL_SETPERM, key, perm).
pub fn keyctl_setperm(key: i64, perm: u32) -> Result<(), Errno> {
    const KEYCTL_SETPERM: libc::c_int = 5;
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, key, perm) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

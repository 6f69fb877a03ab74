//! File-system system calls nix lacks: openat2 (RESOLVE_IN_ROOT), mount_setattr.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

pub const RESOLVE_NO_XDEV: u64 = 0x01;
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

/// openat2(2): open `path` relative to `dir` with resolution restrictions.
pub fn openat2(dir: BorrowedFd, path: &CStr, flags: i32, mode: u32, resolve: u64) -> Result<OwnedFd, Errno> {
    let how = OpenHow { flags: (flags | libc::O_CLOEXEC) as u64, mode: mode as u64, resolve };
    loop {
        // SAFETY: `path` is NUL-terminated, `how` is a valid open_how of the size passed.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if ret >= 0 {
            // SAFETY: a fresh fd returned by the kernel, owned by nobody else.
            return Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) });
        }
        match Errno::last() {
            // openat2 returns EAGAIN when a concurrent rename raced the lookup: retry.
            Errno::EAGAIN | Errno::EINTR => continue,
            e => return Err(e),
        }
    }
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x01;
pub const MOUNT_ATTR_NOSUID: u64 = 0x02;
pub const MOUNT_ATTR_NODEV: u64 = 0x04;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x08;
pub const MOUNT_ATTR__ATIME: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x00;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// mount_setattr(2) on the mount at `fd` (an O_PATH fd of the mount point), recursively.
pub fn mount_setattr_recursive(fd: BorrowedFd, set: u64, clr: u64) -> Result<(), Errno> {
    let attr = MountAttr { attr_set: set, attr_clr: clr, propagation: 0, userns_fd: 0 };
    let empty = c"";
    // SAFETY: `attr` is a valid mount_attr of the size passed; empty path + AT_EMPTY_PATH
    // makes the call act on `fd` itself.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Take ownership of an fd number returned by a nix call that hands out raw fds.
pub fn own_fd(fd: std::os::fd::RawFd) -> OwnedFd {
    // SAFETY: callers pass an fd just returned by a successful open call, owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

pub const OPEN_TREE_CLONE: u32 = 1;
pub const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;

/// open_tree(2) with OPEN_TREE_CLONE: a detached bind mount of `path` (a file or directory),
/// attached to no mount namespace, alive as long as the returned fd (or an exec of it) is.
pub fn open_tree_clone(path: &CStr) -> Result<OwnedFd, Errno> {
    // SAFETY: `path` is NUL-terminated; the call takes no other pointers.
    let ret = unsafe {
        libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a fresh fd returned by the kernel, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}

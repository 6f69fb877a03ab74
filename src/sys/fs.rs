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

/// Copy the extended attributes of `src` onto `dst` (fds of regular files or directories
/// opened for reading, not O_PATH), best effort: names the destination filesystem refuses
/// (a namespace it lacks, a trusted.* name without the right) are skipped.
pub fn copy_xattrs(src: BorrowedFd, dst: BorrowedFd) -> Result<(), Errno> {
    const LIMIT: usize = 1 << 20;
    let mut names = vec![0u8; 1024];
    let len = loop {
        // SAFETY: the buffer is valid for `names.len()` bytes.
        let r = unsafe { libc::flistxattr(src.as_raw_fd(), names.as_mut_ptr().cast(), names.len()) };
        if r >= 0 {
            break r as usize;
        }
        match Errno::last() {
            Errno::ERANGE if names.len() < LIMIT => names.resize(names.len() * 8, 0),
            Errno::ENOTSUP => return Ok(()),
            e => return Err(e),
        }
    };
    let mut value = vec![0u8; 1024];
    for name in names[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let Ok(name) = std::ffi::CString::new(name) else { continue };
        let vlen = loop {
            // SAFETY: `name` is NUL-terminated; the buffer is valid for `value.len()` bytes.
            let r = unsafe { libc::fgetxattr(src.as_raw_fd(), name.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
            if r >= 0 {
                break Some(r as usize);
            }
            match Errno::last() {
                Errno::ERANGE if value.len() < LIMIT => value.resize(value.len() * 8, 0),
                // Gone meanwhile, or not readable by us: nothing to copy.
                _ => break None,
            }
        };
        if let Some(vlen) = vlen {
            // SAFETY: `name` is NUL-terminated; `value` holds `vlen` initialized bytes.
            unsafe { libc::fsetxattr(dst.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), vlen, 0) };
        }
    }
    Ok(())
}

/// open_tree(2) with OPEN_TREE_CLONE of `path` (recursively with `recursive`): a detached copy
/// of the mount, made with the caller's rights, that a process in another mount and user
/// namespace can attach with [`move_mount_onto`].
pub fn open_tree_detached(path: &CStr, recursive: bool) -> Result<OwnedFd, Errno> {
    let rec = if recursive { libc::AT_RECURSIVE as u32 } else { 0 };
    // SAFETY: `path` is NUL-terminated; the call takes no other pointers.
    let ret = unsafe {
        libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec)
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a fresh fd returned by the kernel, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}

const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

/// move_mount(2): attach the detached mount `from` (an [`open_tree_detached`] fd) on the
/// object `to` refers to (an O_PATH fd).
pub fn move_mount_onto(from: BorrowedFd, to: BorrowedFd) -> Result<(), Errno> {
    let empty = c"";
    // SAFETY: both paths are the empty NUL-terminated string, used with the EMPTY_PATH flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            empty.as_ptr(),
            to.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// mount_setattr(2) with MOUNT_ATTR_IDMAP on the detached mount `tree` (an
/// [`open_tree_detached`] fd): its files are seen through the mappings of the user namespace
/// `userns` (on-disk id → id in that namespace's parent). With `recursive`, every mount of the
/// tree is idmapped, not only its top.
pub fn mount_setattr_idmap(tree: BorrowedFd, userns: BorrowedFd, recursive: bool) -> Result<(), Errno> {
    let attr =
        MountAttr { attr_set: MOUNT_ATTR_IDMAP, attr_clr: 0, propagation: 0, userns_fd: userns.as_raw_fd() as u64 };
    let rec = if recursive { libc::AT_RECURSIVE } else { 0 };
    let empty = c"";
    // SAFETY: `attr` is a valid mount_attr of the size passed; empty path + AT_EMPTY_PATH
    // makes the call act on `tree` itself.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            (libc::AT_EMPTY_PATH | rec) as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// fsetxattr(2): set the extended attribute `name` of the file open at `fd` (not O_PATH).
pub fn set_xattr(fd: BorrowedFd, name: &CStr, value: &[u8]) -> Result<(), Errno> {
    // SAFETY: `name` is NUL-terminated; `value` is valid for `value.len()` bytes.
    let r = unsafe { libc::fsetxattr(fd.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if r < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

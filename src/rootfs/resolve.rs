//! Path resolution inside the container's rootfs that never leaves it: every lookup goes
//! through openat2(RESOLVE_IN_ROOT), so `..` and symlinks (absolute or relative) are
//! resolved as if the rootfs were `/` (CVE-2021-30465, CVE-2023-27561). Mounts are then made
//! on the opened fd (`/proc/self/fd/N`), never on a re-resolved path.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{mkdirat, Mode};

use crate::error::{Error, Result};
use crate::sys::fs::{openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};

/// `/a/../b/./c` → `b/c`: the path relative to the root, lexically cleaned. `..` at the top
/// stays at the top, as it would in the container.
pub fn clean_relative(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::invalid_spec(format!("path {} contains NUL", p.display())))
}

/// Open `path` (relative to the rootfs) with O_PATH, confined to `root`.
pub fn open_in_root(root: BorrowedFd, path: &Path, flags: i32) -> std::result::Result<OwnedFd, Errno> {
    let rel = clean_relative(path);
    let c = if rel.as_os_str().is_empty() {
        c".".to_owned()
    } else {
        CString::new(rel.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?
    };
    openat2(root, &c, flags, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
}

/// What to create at a destination that does not exist yet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Create {
    Dir,
    File,
}

/// Open `path` inside the root as an O_PATH fd, creating missing parent directories (0755)
/// and the final component (a directory, or an empty file for file bind mounts). A
/// dangling symlink on the way is followed inside the root and its target created there.
pub fn ensure_in_root(root: BorrowedFd, path: &Path, last: Create) -> Result<OwnedFd> {
    ensure_depth(root, &clean_relative(path), last, 0)
        .map_err(|e| e.context(format!("resolving {} in rootfs", path.display())))
}

fn ensure_depth(root: BorrowedFd, rel: &Path, last: Create, depth: u32) -> Result<OwnedFd> {
    if depth > 40 {
        return Err(Error::sys(Errno::ELOOP, "following symlinks"));
    }
    match open_in_root(root, rel, libc::O_PATH) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(Error::sys(e, format!("opening {}", rel.display()))),
    }
    // Walk down, creating what is missing. Each step re-resolves from the root, so a
    // symlink met on the way is followed inside the root only.
    let comps: Vec<&OsStr> = rel.iter().collect();
    let mut cur = PathBuf::new();
    for (i, name) in comps.iter().enumerate() {
        let parent = open_in_root(root, &cur, libc::O_PATH | libc::O_DIRECTORY)
            .map_err(|e| Error::sys(e, format!("opening {}", cur.display())))?;
        let parent_path = cur.clone();
        cur.push(name);
        let is_last = i + 1 == comps.len();
        match open_in_root(root, &cur, libc::O_PATH) {
            Ok(fd) if is_last => return Ok(fd),
            Ok(_) => continue,
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(Error::sys(e, format!("opening {}", cur.display()))),
        }
        // A dangling symlink: continue at its target, resolved inside the root.
        if let Ok(target) = nix::fcntl::readlinkat(Some(parent.as_raw_fd()), *name) {
            let target = Path::new(&target);
            let mut next =
                if target.is_absolute() { clean_relative(target) } else { clean_relative(&parent_path.join(target)) };
            for rest in &comps[i + 1..] {
                next.push(rest);
            }
            return ensure_depth(root, &next, last, depth + 1);
        }
        let res = if is_last && last == Create::File {
            openat(
                Some(parent.as_raw_fd()),
                *name,
                OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o644),
            )
            .map(|fd| drop(unsafe_owned(fd)))
        } else {
            mkdirat(Some(parent.as_raw_fd()), *name, Mode::from_bits_truncate(0o755))
        };
        match res {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::sys(e, format!("creating {}", cur.display()))),
        }
        if is_last {
            return open_in_root(root, &cur, libc::O_PATH)
                .map_err(|e| Error::sys(e, format!("opening {}", cur.display())));
        }
    }
    open_in_root(root, rel, libc::O_PATH).map_err(|e| Error::sys(e, format!("opening {}", rel.display())))
}

fn unsafe_owned(fd: std::os::fd::RawFd) -> OwnedFd {
    crate::sys::fs::own_fd(fd)
}

/// `/proc/self/fd/N` for an fd: the target to hand to mount(2) so the kernel uses exactly
/// the object we opened. Valid while `/proc` of the caller's mount namespace is the host's.
pub fn fd_path(fd: BorrowedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

pub fn path_cstr(p: &Path) -> Result<CString> {
    cstr(p)
}

/// Does `fd` (O_PATH) refer to a directory?
pub fn is_dir(fd: &OwnedFd) -> bool {
    nix::sys::stat::fstat(fd.as_fd().as_raw_fd()).map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn clean_paths() {
        assert_eq!(clean_relative(Path::new("/a/../b/./c")), PathBuf::from("b/c"));
        assert_eq!(clean_relative(Path::new("/../../etc")), PathBuf::from("etc"));
        assert_eq!(clean_relative(Path::new("/")), PathBuf::new());
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let base = std::env::temp_dir().join(format!("husk-resolve-{}", std::process::id()));
        let root = base.join("root");
        let outside = base.join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        symlink(&outside, root.join("evil")).unwrap();
        symlink("../../../outside", root.join("rel")).unwrap();
        let rfd =
            nix::fcntl::open(&root, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).unwrap();
        let rfd = unsafe_owned(rfd);
        ensure_in_root(rfd.as_fd(), Path::new("/evil/sub"), Create::Dir).unwrap();
        ensure_in_root(rfd.as_fd(), Path::new("/rel/f"), Create::File).unwrap();
        // Both were created inside the root (where the links point when resolved in it).
        assert!(root.join(outside.strip_prefix("/").unwrap()).join("sub").is_dir());
        assert!(root.join("outside/f").is_file());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "nothing may be created outside the root");
        std::fs::remove_dir_all(&base).unwrap();
    }
}

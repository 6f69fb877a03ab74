//! `tmpcopyup`: fill a fresh tmpfs with the image's content of the directory it covers (as
//! runc and crun do for podman's tmpfs mounts). The source is an fd of the covered directory
//! opened before the tmpfs was mounted; everything is done relative to directory fds, never
//! through paths, and symlinks are copied as links (never followed).

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstatat, futimens, mkdirat, mknodat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, symlinkat, Gid, Uid};

use crate::error::{Context, Error, Result};
use crate::sys::fs::{copy_xattrs, own_fd};

/// Deeper trees than this are refused rather than risking the init's stack.
const MAX_DEPTH: u32 = 128;

/// Copy the entries of directory `src` into directory `dst` (both opened O_RDONLY|O_DIRECTORY):
/// files with their content, directories recursively, symlinks, device nodes, fifos and
/// sockets, each with its owner, mode, timestamps and (where the tmpfs takes them) xattrs.
/// `dst` itself keeps its owner (as runc); its mode comes from the mount's `mode=`.
pub fn copy_dir(src: BorrowedFd, dst: BorrowedFd) -> Result<()> {
    copy_entries(src, dst, 0)
}

fn copy_entries(src: BorrowedFd, dst: BorrowedFd, depth: u32) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::sys(Errno::ELOOP, "copying a directory tree deeper than 128 levels"));
    }
    let mut dir =
        Dir::openat(Some(src.as_raw_fd()), ".", OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
            .context("reading a directory of the image")?;
    for entry in dir.iter() {
        let entry = entry.context("reading a directory of the image")?;
        let name = entry.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        let what = || format!("copying {}", name.to_string_lossy());
        copy_entry(src, dst, name, depth).with_context(what)?;
    }
    Ok(())
}

fn copy_entry(src: BorrowedFd, dst: BorrowedFd, name: &std::ffi::CStr, depth: u32) -> Result<()> {
    let st = fstatat(Some(src.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
    let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
    let (uid, gid) = (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid));
    let times = (TimeSpec::new(st.st_atime, st.st_atime_nsec), TimeSpec::new(st.st_mtime, st.st_mtime_nsec));
    let ro = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match kind {
        SFlag::S_IFDIR => {
            mkdirat(Some(dst.as_raw_fd()), name, Mode::from_bits_truncate(0o700))?;
            let s = own_fd(openat(Some(src.as_raw_fd()), name, ro | OFlag::O_DIRECTORY, Mode::empty())?);
            let d = own_fd(openat(Some(dst.as_raw_fd()), name, ro | OFlag::O_DIRECTORY, Mode::empty())?);
            copy_entries(s.as_fd(), d.as_fd(), depth + 1)?;
            finish_fd(&s, &d, uid, gid, perm, times)
        }
        SFlag::S_IFREG => {
            let s = own_fd(openat(Some(src.as_raw_fd()), name, ro, Mode::empty())?);
            let d = own_fd(openat(
                Some(dst.as_raw_fd()),
                name,
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )?);
            let mut from = File::from(s);
            let mut to = File::from(d);
            std::io::copy(&mut from, &mut to).map_err(|e| Error::io(e, "copying the content"))?;
            finish_fd(&OwnedFd::from(from), &OwnedFd::from(to), uid, gid, perm, times)
        }
        SFlag::S_IFLNK => {
            let target = readlinkat(Some(src.as_raw_fd()), name)?;
            symlinkat(target.as_os_str(), Some(dst.as_raw_fd()), name)?;
            fchownat(Some(dst.as_raw_fd()), name, Some(uid), Some(gid), AtFlags::AT_SYMLINK_NOFOLLOW)?;
            Ok(())
        }
        _ => {
            // Device nodes, fifos, sockets: the node itself, not its content.
            mknodat(Some(dst.as_raw_fd()), name, kind, perm, st.st_rdev)?;
            fchownat(Some(dst.as_raw_fd()), name, Some(uid), Some(gid), AtFlags::AT_SYMLINK_NOFOLLOW)?;
            nix::sys::stat::fchmodat(Some(dst.as_raw_fd()), name, perm, nix::sys::stat::FchmodatFlags::FollowSymlink)?;
            Ok(())
        }
    }
}

/// Owner, then mode (chown clears set-id bits), xattrs and timestamps of a copied file or
/// directory, through its fds.
fn finish_fd(src: &OwnedFd, dst: &OwnedFd, uid: Uid, gid: Gid, perm: Mode, times: (TimeSpec, TimeSpec)) -> Result<()> {
    fchown(dst.as_raw_fd(), Some(uid), Some(gid))?;
    fchmod(dst.as_raw_fd(), perm)?;
    copy_xattrs(src.as_fd(), dst.as_fd()).context("copying extended attributes")?;
    futimens(dst.as_raw_fd(), &times.0, &times.1)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    fn dir_fd(p: &std::path::Path) -> OwnedFd {
        own_fd(nix::fcntl::open(p, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).unwrap())
    }

    #[test]
    fn copies_content_modes_links_and_nested_dirs() {
        let base = std::env::temp_dir().join(format!("husk-copyup-{}", std::process::id()));
        let (src, dst) = (base.join("src"), base.join("dst"));
        std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        std::fs::write(src.join("f"), b"content").unwrap();
        std::fs::set_permissions(src.join("f"), std::fs::Permissions::from_mode(0o4750)).unwrap();
        std::fs::write(src.join("sub/deeper/g"), b"nested").unwrap();
        std::fs::set_permissions(src.join("sub"), std::fs::Permissions::from_mode(0o711)).unwrap();
        symlink("/outside/of/the/root", src.join("abs")).unwrap();
        copy_dir(dir_fd(&src).as_fd(), dir_fd(&dst).as_fd()).unwrap();
        assert_eq!(std::fs::read(dst.join("f")).unwrap(), b"content");
        assert_eq!(std::fs::metadata(dst.join("f")).unwrap().mode() & 0o7777, 0o4750);
        assert_eq!(std::fs::metadata(dst.join("sub")).unwrap().mode() & 0o7777, 0o711);
        assert_eq!(std::fs::read(dst.join("sub/deeper/g")).unwrap(), b"nested");
        // copied as a link, never followed
        assert_eq!(std::fs::read_link(dst.join("abs")).unwrap(), std::path::Path::new("/outside/of/the/root"));
        assert_eq!(
            std::fs::metadata(src.join("f")).unwrap().modified().unwrap(),
            std::fs::metadata(dst.join("f")).unwrap().modified().unwrap()
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}

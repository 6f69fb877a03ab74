//! /dev in the container: device nodes (mknod, or binds of the host's nodes in a user
//! namespace) and the standard symlinks. Runs in the init, in its mount namespace.

use super::*;

impl RootfsPlan {
    pub(super) fn create_devices(&self, root: &OwnedFd) -> Result<()> {
        for d in &self.devices {
            self.create_device(root, d)?;
        }
        Ok(())
    }

    pub(super) fn create_device(&self, root: &OwnedFd, d: &DeviceOp) -> Result<()> {
        let what = || format!("creating device {} in rootfs {}", d.path.display(), self.rootfs.display());
        let parent_rel = d.path.parent().unwrap_or(Path::new("/"));
        let name =
            d.path.file_name().ok_or_else(|| Error::invalid_spec(format!("device path {}", d.path.display())))?;
        let parent = ensure_in_root(root.as_fd(), parent_rel, Create::Dir).with_context(what)?;
        let dir = own_fd(
            nix::fcntl::openat(
                Some(parent.as_raw_fd()),
                ".",
                OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .with_context(what)?,
        );
        if self.userns {
            // mknod is not allowed in a user namespace: bind the host's node onto a file.
            let host = d.path.clone();
            let target = ensure_in_root(root.as_fd(), &d.path, Create::File).with_context(what)?;
            return mount(Some(host.as_path()), &fd_path(target.as_fd()), None::<&str>, MsFlags::MS_BIND, None::<&str>)
                .with_context(what);
        }
        let _ = nix::unistd::unlinkat(Some(dir.as_raw_fd()), name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        let dev = nix::sys::stat::makedev(d.major, d.minor);
        mknodat(Some(dir.as_raw_fd()), name, d.kind, Mode::from_bits_truncate(d.mode), dev).with_context(what)?;
        fchmodat(Some(dir.as_raw_fd()), name, Mode::from_bits_truncate(d.mode), FchmodatFlags::NoFollowSymlink)
            .or_else(|e| if e == Errno::EOPNOTSUPP { Ok(()) } else { Err(e) })
            .with_context(what)?;
        fchownat(
            Some(dir.as_raw_fd()),
            name,
            Some(Uid::from_raw(d.uid)),
            Some(Gid::from_raw(d.gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .with_context(what)?;
        Ok(())
    }

    pub(super) fn dev_symlinks(&self, root: &OwnedFd) -> Result<()> {
        let dev = ensure_in_root(root.as_fd(), Path::new("/dev"), Create::Dir)?;
        let dev = own_fd(nix::fcntl::openat(
            Some(dev.as_raw_fd()),
            ".",
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?);
        let mut links = vec![
            ("/proc/self/fd", "fd"),
            ("/proc/self/fd/0", "stdin"),
            ("/proc/self/fd/1", "stdout"),
            ("/proc/self/fd/2", "stderr"),
        ];
        if Path::new("/proc/kcore").exists() {
            links.push(("/proc/kcore", "core"));
        }
        let has_pts = self.mounts.iter().any(|m| m.dest == Path::new("/dev/pts"));
        if has_pts {
            let _ = nix::unistd::unlinkat(Some(dev.as_raw_fd()), "ptmx", nix::unistd::UnlinkatFlags::NoRemoveDir);
            links.push(("pts/ptmx", "ptmx"));
        }
        for (target, name) in links {
            match nix::unistd::symlinkat(target, Some(dev.as_raw_fd()), name) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => {
                    return Err(Error::sys(
                        e,
                        format!("creating symlink /dev/{name} in rootfs {}", self.rootfs.display()),
                    ))
                }
            }
        }
        Ok(())
    }
}

/// After the root change: stdio fds on the host's /dev/null (a detached `create` hands the
/// caller's stdio over) are reopened on the container's own /dev/null, as runc does. A file of
/// a mount outside the container would otherwise stay open in it, which CRIU cannot dump ("Can't
/// lookup mount"). Only a container /dev/null that is the real 1:3 character device is used.
pub fn reopen_dev_null() -> Result<()> {
    use nix::sys::stat::{fstat, major, minor};
    let is_null = |st: &nix::sys::stat::FileStat| {
        SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR
            && major(st.st_rdev) == 1
            && minor(st.st_rdev) == 3
    };
    let on_null: Vec<i32> = (0..3).filter(|&fd| fstat(fd).is_ok_and(|st| is_null(&st))).collect();
    if on_null.is_empty() {
        return Ok(());
    }
    let null = match nix::fcntl::open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW, Mode::empty())
    {
        Ok(fd) => crate::sys::fs::own_fd(fd),
        // No usable /dev/null in the container: the fds stay as they are.
        Err(_) => return Ok(()),
    };
    if !fstat(null.as_raw_fd()).is_ok_and(|st| is_null(&st)) {
        return Ok(());
    }
    for fd in on_null {
        nix::unistd::dup2(null.as_raw_fd(), fd)
            .map_err(|e| Error::sys(e, format!("reopening /dev/null as fd {fd}")))?;
    }
    Ok(())
}

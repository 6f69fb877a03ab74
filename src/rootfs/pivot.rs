//! Changing the init's root: pivot_root, `--no-pivot`'s move + chroot (hiding the host's
//! procfs and sysfs first), or a plain chroot without a mount namespace. Runs in the init.

use super::*;

impl RootfsPlan {
    pub(super) fn switch_root(&self, root: &Path) -> Result<()> {
        if self.shared_mount_ns {
            // The caller's namespace: only our own root changes.
            chdir(root).with_context(|| format!("entering rootfs {}", root.display()))?;
            chroot(".").with_context(|| format!("chroot into rootfs {}", root.display()))?;
            chdir("/").context("entering / after chroot")?;
            return Ok(());
        }
        if self.no_pivot {
            hide_host_proc_sys(root)?;
            chdir(root).with_context(|| format!("entering rootfs {}", root.display()))?;
            mount(Some(root), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
                .with_context(|| format!("moving rootfs {} to /", root.display()))?;
            chroot(".").with_context(|| format!("chroot into rootfs {}", root.display()))?;
            chdir("/").context("entering / after chroot")?;
            return Ok(());
        }
        // pivot_root(".", ".") stacks the old root under the new one; detaching "." then
        // removes it without needing a directory for it in the rootfs.
        let old = own_fd(
            open("/", OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                .context("opening the old root")?,
        );
        chdir(root).with_context(|| format!("entering rootfs {}", root.display()))?;
        pivot_root(".", ".").with_context(|| format!("pivot_root into rootfs {}", root.display()))?;
        nix::unistd::fchdir(old.as_raw_fd()).context("entering the old root")?;
        mount(None::<&str>, ".", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
            .context("making the old root a slave")?;
        umount2(".", MntFlags::MNT_DETACH).context("detaching the old root")?;
        chdir("/").context("entering the new root")?;
        Ok(())
    }
}

/// Before `--no-pivot` moves the rootfs over `/`: detach every full procfs and sysfs mount of
/// the namespace outside the rootfs (covering it with an empty tmpfs where detaching is not
/// allowed), as runc 1.1.5 does. The host's mounts stay in the namespace under the chroot;
/// a fully visible procfs there would let the container mount a fresh, unmasked one (the
/// kernel only checks that some full mount of the filesystem type exists in the namespace).
pub(super) fn hide_host_proc_sys(rootfs: &Path) -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    let mut targets = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = post.split(' ').next().unwrap_or("");
        let mut fields = pre.split(' ').skip(3);
        let (Some(fs_root), Some(mount_point)) = (fields.next(), fields.next()) else {
            continue;
        };
        if (fstype != "proc" && fstype != "sysfs") || fs_root != "/" {
            continue;
        }
        let mount_point = PathBuf::from(unescape_mountinfo(mount_point));
        if !mount_point.starts_with(rootfs) {
            targets.push(mount_point);
        }
    }
    for p in targets {
        let what = || format!("hiding the host's {} from the --no-pivot container", p.display());
        match mount(None::<&str>, &p, None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>) {
            // Already gone with a parent detached before.
            Err(Errno::ENOENT) => continue,
            r => r.with_context(what)?,
        }
        match umount2(&p, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(Errno::EINVAL) | Err(Errno::EPERM) => {
                mount(Some("tmpfs"), &p, Some("tmpfs"), MsFlags::empty(), None::<&str>).with_context(what)?
            }
            Err(e) => return Err(Error::sys(e, what())),
        }
    }
    Ok(())
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
pub(crate) fn unescape_mountinfo(s: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    std::ffi::OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo("/a\\040b\\011c\\134d"), std::ffi::OsString::from("/a b\tc\\d"));
        assert_eq!(unescape_mountinfo("/plain\\04"), std::ffi::OsString::from("/plain\\04"));
    }
}

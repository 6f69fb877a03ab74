//! The container's filesystem: rootfs bind, `mounts`, /dev, masked and readonly paths,
//! pivot_root. [`RootfsPlan::from_spec`] runs in the runtime before fork (pure, allocating);
//! [`RootfsPlan::apply`] runs in the container init, in its new mount namespace, before the
//! root changes. Every destination is resolved inside the rootfs (see [`resolve`]).

pub mod copyup;
mod dev;
pub use dev::reopen_dev_null;
pub mod idmap;
pub mod options;
mod pivot;
pub(crate) use pivot::unescape_mountinfo;
mod plan;
pub mod resolve;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fchmodat, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{chdir, chroot, fchownat, pivot_root, Gid, Uid};
use oci_spec::runtime::{LinuxDeviceType, Spec};

use crate::error::{Context, Error, Result};
use crate::sys::fs::{mount_setattr_recursive, own_fd};
use options::MountOptions;
use resolve::{ensure_in_root, fd_path, open_in_root, Create};

/// One entry of `mounts`, ready to apply.
#[derive(Debug, Clone)]
pub struct MountOp {
    pub index: usize,
    pub dest: PathBuf,
    pub source: Option<PathBuf>,
    pub fstype: Option<String>,
    pub opts: MountOptions,
    /// For bind mounts: whether the source is a file (the destination is then a file).
    pub source_is_file: bool,
    /// In a new user namespace: the bind source as a detached mount made by the runtime (with
    /// the caller's rights) before the fork, attached in the container's namespace with
    /// move_mount. The container's root may not be able to reach the source's path (a 0700
    /// directory of the host's root), as with runc's mount source fds.
    pub detached: Option<Arc<OwnedFd>>,
}

/// A device node to create in /dev.
#[derive(Debug, Clone)]
pub struct DeviceOp {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// One v1 hierarchy to expose under a `cgroup` mount: directory name and host path.
#[derive(Debug, Clone)]
pub struct CgroupBind {
    pub name: String,
    pub host_path: PathBuf,
    /// Controllers that get a symlink to `name` (cpu and cpuacct for "cpu,cpuacct").
    pub links: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RootfsPlan {
    pub rootfs: PathBuf,
    /// Propagation of `/` in the new mount namespace before anything is mounted.
    pub root_propagation: MsFlags,
    /// rootfsPropagation applied to the new root after pivot, when it asks for shared/unbindable.
    pub late_propagation: Option<MsFlags>,
    pub mounts: Vec<MountOp>,
    /// /dev is a fresh mount of ours: create the default devices and symlinks in it.
    pub populate_dev: bool,
    pub devices: Vec<DeviceOp>,
    pub masked: Vec<PathBuf>,
    pub readonly: Vec<PathBuf>,
    pub readonly_root: bool,
    pub no_pivot: bool,
    /// The container has no mount namespace of its own (see [`RootfsPlan::share_mount_ns`]).
    pub shared_mount_ns: bool,
    /// In a new user namespace, or the runtime runs in one: device nodes are bind-mounted from
    /// the host instead of mknod.
    pub userns: bool,
    /// The runtime runs as a non-root user: mount errors the kernel gives an unprivileged user
    /// namespace say so.
    pub rootless: bool,
    /// In a new user namespace: a detached clone of the rootfs made by the runtime, attached in
    /// the container's namespace when its root cannot reach the rootfs by path.
    pub rootfs_tree: Option<Arc<OwnedFd>>,
    /// `rootfs_tree` is an idmapped clone of the rootfs (a `mounts` entry for "/" with
    /// mappings, see [`idmap`]): it is always attached, instead of the bind onto itself.
    pub rootfs_idmapped: bool,
    /// For `cgroup` mounts on a v1 host: the container's cgroup in each hierarchy.
    pub cgroup_v1: Vec<CgroupBind>,
    /// For `cgroup` mounts on a v2 host: the container's cgroup dir (bind when no cgroup ns).
    pub cgroup_v2_path: Option<PathBuf>,
    pub cgroupns: bool,
    /// process.cwd: created inside the rootfs if missing, as runc does.
    pub cwd: Option<PathBuf>,
    /// linux.sysctl, written through the container's /proc before readonly paths apply.
    pub sysctl: Vec<(String, String)>,
    /// linux.mountLabel as the `context="..."` mount option (SELinux), see security::lsm.
    pub mount_context: Option<String>,
}

const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

impl RootfsPlan {
    /// Every device node made is one of the default six (which the container's devices
    /// cgroup always allows): creating them before the init is in its cgroup is the same.
    pub fn only_default_devices(&self) -> bool {
        self.devices.iter().all(|d| {
            DEFAULT_DEVICES.iter().any(|&(p, maj, min)| d.path == Path::new(p) && d.major == maj && d.minor == min)
        })
    }

    /// The container shares the caller's mount namespace (`linux.namespaces` has no `mount`):
    /// as runc, its mounts are made under the rootfs in that namespace and the init enters the
    /// rootfs with chroot. Unlike runc, husk never changes the propagation of the caller's `/`,
    /// never binds the rootfs onto itself there (chroot needs no mount point) and never pivots
    /// or moves mounts over the caller's `/` (runc's --no-pivot would move the rootfs over the
    /// host's `/`). Masked and read-only paths are refused (as runc); root.readonly is not
    /// applied (as runc).
    pub fn share_mount_ns(&mut self) -> Result<()> {
        if self.rootfs_idmapped {
            return Err(Error::invalid_spec(
                "mounts: an idmapped rootfs (a mount for \"/\" with mappings) needs a mount namespace of its own",
            ));
        }
        if !self.masked.is_empty() || !self.readonly.is_empty() {
            // runc's words.
            return Err(Error::invalid_spec(
                "linux.maskedPaths, linux.readonlyPaths: unable to restrict sys entries without a private MNT namespace",
            ));
        }
        // As runc (which skips its finalizeRootfs without a mount namespace), root.readonly
        // is not applied: remounting would change a mount of the caller's namespace.
        self.readonly_root = false;
        self.shared_mount_ns = true;
        self.late_propagation = None;
        Ok(())
    }

    /// Container init, new mount namespace, still on the host's root: build the container's
    /// tree under the rootfs, then switch root into it.
    pub fn apply(&self) -> Result<()> {
        let at = self.mount_all()?;
        self.finish(&at)
    }

    /// The first part of [`RootfsPlan::apply`]: propagation of /, the rootfs bind, the mounts of
    /// config.json and the devices. As runc, the createRuntime and createContainer hooks run
    /// after this and before [`RootfsPlan::finish`] (runtime-spec: "after the mount namespace was
    /// created and set up", "before pivot_root").
    /// Returns where the rootfs is mounted in the container's namespace: its own path, or
    /// [`STAGE`] when the container's root cannot reach that path.
    pub fn mount_all(&self) -> Result<PathBuf> {
        let mut at = self.rootfs.clone();
        if !self.shared_mount_ns {
            mount(None::<&str>, "/", None::<&str>, self.root_propagation, None::<&str>)
                .context("setting propagation of / in the container's mount namespace")?;
            // pivot_root needs the new root to be a mount point.
            let bind = if self.rootfs_idmapped {
                // Attach the idmapped clone on the rootfs path (or at STAGE below).
                Err(Errno::EACCES)
            } else {
                mount(Some(&self.rootfs), &self.rootfs, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
            };
            match (bind, &self.rootfs_tree) {
                (Ok(()), _) => {}
                (Err(_), Some(tree)) if self.rootfs_idmapped && self.attach_at_rootfs_path(tree)? => {}
                // A user namespace whose root may not enter the bundle (a 0700 directory of the
                // host's root): attach the runtime's clone of the rootfs at STAGE instead.
                (Err(Errno::EACCES), Some(tree)) => {
                    let stage = own_fd(
                        open(STAGE, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
                            .with_context(|| format!("opening {STAGE} to attach the rootfs"))?,
                    );
                    crate::sys::fs::move_mount_onto(tree.as_fd(), stage.as_fd()).with_context(|| {
                        format!("attaching rootfs {} (cloned by the runtime) at {STAGE}", self.rootfs.display())
                    })?;
                    at = PathBuf::from(STAGE);
                    // A clone of a shared host mount is its peer: make it what the bind in our
                    // (already rslave) namespace would have been.
                    mount(None::<&str>, &at, None::<&str>, self.root_propagation, None::<&str>)
                        .context("setting propagation of the attached rootfs")?;
                }
                (Err(e), _) => {
                    return Err(Error::sys(e, format!("bind-mounting rootfs {} onto itself", self.rootfs.display())))
                }
            }
        }
        let root = own_fd(
            open(&at, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
                .with_context(|| format!("opening rootfs {}", self.rootfs.display()))?,
        );
        for m in &self.mounts {
            self.mount_one(&root, m).map_err(|e| self.rootless_hint(e, m)).with_context(|| {
                format!(
                    "mounting {} ({}) at {} in rootfs {}",
                    m.source.as_deref().unwrap_or(Path::new("none")).display(),
                    m.fstype.as_deref().unwrap_or("bind"),
                    m.dest.display(),
                    self.rootfs.display()
                )
            })?;
            if m.dest == Path::new("/dev") && self.populate_dev {
                // Devices before later mounts (e.g. /dev/pts, /dev/shm) cover /dev.
            }
        }
        if self.populate_dev {
            self.create_devices(&root)?;
            self.dev_symlinks(&root)?;
        } else {
            for d in &self.devices {
                self.create_device(&root, d)?;
            }
        }
        Ok(at)
    }

    /// Attach the idmapped rootfs clone `tree` on the rootfs path. False when the container's
    /// root cannot reach that path (the caller attaches it at [`STAGE`] then).
    fn attach_at_rootfs_path(&self, tree: &OwnedFd) -> Result<bool> {
        let target = match open(&self.rootfs, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()) {
            Ok(fd) => own_fd(fd),
            Err(Errno::EACCES) => return Ok(false),
            Err(e) => return Err(Error::sys(e, format!("opening rootfs {}", self.rootfs.display()))),
        };
        crate::sys::fs::move_mount_onto(tree.as_fd(), target.as_fd())
            .with_context(|| format!("attaching the idmapped rootfs {}", self.rootfs.display()))?;
        mount(None::<&str>, &self.rootfs, None::<&str>, self.root_propagation, None::<&str>)
            .context("setting propagation of the idmapped rootfs")?;
        Ok(true)
    }

    /// The rest after [`RootfsPlan::mount_all`] (and the createRuntime/createContainer hooks):
    /// sysctls, masked and read-only paths, cwd, pivot_root, the read-only root, late propagation.
    pub fn finish(&self, at: &Path) -> Result<()> {
        let root = own_fd(
            open(at, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
                .with_context(|| format!("opening rootfs {}", self.rootfs.display()))?,
        );
        for (k, v) in &self.sysctl {
            write_sysctl(&root, k, v)?;
        }
        for p in &self.masked {
            mask_path(&root, p)
                .with_context(|| format!("masking {} in rootfs {}", p.display(), self.rootfs.display()))?;
        }
        for p in &self.readonly {
            readonly_path(&root, p)
                .with_context(|| format!("making {} read-only in rootfs {}", p.display(), self.rootfs.display()))?;
        }
        if let Some(cwd) = &self.cwd {
            ensure_in_root(root.as_fd(), cwd, Create::Dir)
                .with_context(|| format!("creating cwd {} in rootfs {}", cwd.display(), self.rootfs.display()))?;
        }
        for m in self.mounts.iter().filter(|m| delays_readonly(m)) {
            let flags = if m.opts.is_bind() {
                m.opts.bind_remount_flags()
            } else {
                m.opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
            };
            reopen(&root, &m.dest)
                .and_then(|fd| remount_keep_flags(&fd_path(fd.as_fd()), flags | MsFlags::MS_RDONLY))
                .with_context(|| {
                    format!("remounting {} read-only in rootfs {}", m.dest.display(), self.rootfs.display())
                })?;
        }
        drop(root);
        self.switch_root(at)?;
        if self.readonly_root {
            remount_keep_flags(Path::new("/"), MsFlags::MS_RDONLY).context("remounting the root read-only")?;
        }
        if let Some(p) = self.late_propagation {
            mount(None::<&str>, "/", None::<&str>, p, None::<&str>).context("applying rootfsPropagation to /")?;
        }
        Ok(())
    }

    /// A mount the kernel refuses to an unprivileged user's namespace: say it is that, and name
    /// the field.
    fn rootless_hint(&self, e: Error, m: &MountOp) -> Error {
        if self.rootless && matches!(e.errno(), Some(Errno::EPERM) | Some(Errno::EACCES)) {
            e.context(format!(
                "mounts[{}]: not permitted to a rootless container (the kernel refuses it to an unprivileged user \
                 namespace, or the user cannot reach the source)",
                m.index
            ))
        } else {
            e
        }
    }

    fn mount_one(&self, root: &OwnedFd, m: &MountOp) -> Result<()> {
        let fstype = m.fstype.as_deref().unwrap_or("");
        if fstype == "cgroup" || fstype == "cgroup2" {
            return self.mount_cgroup(root, m);
        }
        let is_bind = m.opts.is_bind();
        if !is_bind && (fstype == "proc" || fstype == "sysfs") {
            // As runc: never mount procfs or sysfs through a symlink of the image (a link to
            // itself, or to a place where masking would then miss it).
            if let Ok(fd) = open_in_root(root.as_fd(), &m.dest, libc::O_PATH | libc::O_NOFOLLOW) {
                if !resolve::is_dir(&fd) {
                    return Err(Error::new(
                        crate::Kind::System,
                        format!("filesystem {fstype:?} must be mounted on ordinary directory"),
                    ));
                }
            }
        }
        let tmpfs = !is_bind && fstype == "tmpfs";
        // The directory a tmpfs covers, opened before the mount: its mode becomes the tmpfs
        // root's unless `mode=` is given (as runc), its content is what tmpcopyup copies.
        let covered = if tmpfs {
            open_in_root(root.as_fd(), &m.dest, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC).ok()
        } else {
            None
        };
        let create = if is_bind && m.source_is_file { Create::File } else { Create::Dir };
        let target = ensure_in_root(root.as_fd(), &m.dest, create)?;
        let mut data = m.opts.data_string();
        if let Some(ctx) =
            self.mount_context.as_deref().filter(|_| crate::security::lsm::takes_context(fstype, is_bind))
        {
            let sep = if data.is_empty() { "" } else { "," };
            data = format!("{data}{sep}{ctx}");
        }
        if let (Some(dir), false) = (&covered, m.opts.has_mode()) {
            let st = nix::sys::stat::fstat(dir.as_raw_fd()).context("reading the mode of the covered directory")?;
            let sep = if data.is_empty() { "" } else { "," };
            data = format!("mode={:o}{sep}{data}", st.st_mode & 0o7777);
        }
        let data = if data.is_empty() { None } else { Some(data.as_str()) };
        // Read-only /dev and tmpfs mounts are made read-only at the end (finish): devices,
        // submounts and copied content go in first.
        let late_ro = if delays_readonly(m) { MsFlags::MS_RDONLY } else { MsFlags::empty() };
        if is_bind {
            if let Some(tree) = &m.detached {
                crate::sys::fs::move_mount_onto(tree.as_fd(), target.as_fd())
                    .context("attaching the bind source cloned by the runtime")?;
                // The clone of a shared host mount is its peer: make it a slave, as a bind made
                // from our rslave namespace is (mounts in the container must not reach the host).
                let attached = reopen(root, &m.dest)?;
                mount(
                    None::<&str>,
                    &fd_path(attached.as_fd()),
                    None::<&str>,
                    MsFlags::MS_SLAVE | MsFlags::MS_REC,
                    None::<&str>,
                )
                .context("making the attached bind source a slave")?;
            } else {
                let flags = MsFlags::MS_BIND | (m.opts.flags & MsFlags::MS_REC);
                mount(m.source.as_deref(), &fd_path(target.as_fd()), None::<&str>, flags, None::<&str>)?;
            }
            let extra = m.opts.bind_remount_flags() & !late_ro;
            if !extra.is_empty() {
                let mounted = reopen(root, &m.dest)?;
                remount_keep_flags(&fd_path(mounted.as_fd()), extra)?;
            }
        } else {
            // proc and sysfs must land on a real directory of the rootfs.
            if (fstype == "proc" || fstype == "sysfs") && !resolve::is_dir(&target) {
                return Err(Error::sys(Errno::ENOTDIR, "destination is not a directory"));
            }
            let source = m.source.as_deref().map(Path::as_os_str).unwrap_or(std::ffi::OsStr::new(fstype));
            let flags = m.opts.flags & !(MsFlags::MS_REMOUNT | late_ro);
            let res = mount(Some(source), &fd_path(target.as_fd()), Some(fstype), flags, data);
            match res {
                // sysfs in a network namespace we don't own: fall back to a read-only rbind
                // of the host's /sys as runc does.
                Err(Errno::EPERM) if fstype == "sysfs" => rbind_remount(
                    root,
                    Path::new("/sys"),
                    target.as_fd(),
                    &m.dest,
                    MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                )?,
                r => r?,
            }
            if let Some(label) = self
                .mount_context
                .as_deref()
                .and_then(crate::security::lsm::mqueue_label)
                .filter(|_| fstype == "mqueue")
            {
                // runc labels the mqueue root instead of passing context= (SetFileLabel).
                let mounted = open_in_root(root.as_fd(), &m.dest, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)
                    .map_err(|e| Error::sys(e, "opening the new mqueue mount"))?;
                crate::sys::fs::set_xattr(mounted.as_fd(), c"security.selinux", label.as_bytes())
                    .with_context(|| format!("labelling the mqueue mount {label:?}"))?;
            }
            if let (Some(image), true) = (&covered, m.opts.copyup) {
                let fresh = open_in_root(root.as_fd(), &m.dest, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)
                    .map_err(|e| Error::sys(e, "tmpcopyup: opening the new tmpfs"))?;
                copyup::copy_dir(image.as_fd(), fresh.as_fd())
                    .context("tmpcopyup: copying the image's content into the tmpfs")?;
            }
        }
        if m.opts.rec_set != 0 || m.opts.rec_clr != 0 || !m.opts.propagation.is_empty() {
            let mounted = reopen(root, &m.dest)?;
            if m.opts.rec_set != 0 || m.opts.rec_clr != 0 {
                mount_setattr_recursive(mounted.as_fd(), m.opts.rec_set, m.opts.rec_clr)
                    .context("setting recursive mount attributes")?;
            }
            for p in &m.opts.propagation {
                mount(None::<&str>, &fd_path(mounted.as_fd()), None::<&str>, *p, None::<&str>)
                    .context("changing mount propagation")?;
            }
        }
        Ok(())
    }

    /// `cgroup` mounts: on a v1 host a tmpfs with the container's cgroup of each hierarchy
    /// bind-mounted in (as runc does); on a v2 host cgroup2 itself (own cgroup namespace)
    /// or a bind of the container's cgroup directory.
    fn mount_cgroup(&self, root: &OwnedFd, m: &MountOp) -> Result<()> {
        let target = ensure_in_root(root.as_fd(), &m.dest, Create::Dir)?;
        let ro = m.opts.flags.contains(MsFlags::MS_RDONLY);
        let base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        if let Some(v2) = &self.cgroup_v2_path {
            let flags = base | (m.opts.flags & MsFlags::MS_RDONLY);
            if self.cgroupns {
                match mount(Some("cgroup2"), &fd_path(target.as_fd()), Some("cgroup2"), flags, None::<&str>) {
                    // As runc: when the kernel refuses a cgroup2 mount here, bind the container's
                    // own cgroup instead (what the namespace would show). EBUSY: the target is
                    // already the host's cgroup2 mount (a rootless `/sys` rbind carries it), and
                    // the kernel does not stack a superblock on itself; EPERM: no say over it.
                    Err(Errno::EBUSY) | Err(Errno::EPERM) => rbind_remount(root, v2, target.as_fd(), &m.dest, flags)?,
                    r => r?,
                }
            } else {
                rbind_remount(root, v2, target.as_fd(), &m.dest, flags)?;
            }
            return Ok(());
        }
        let data = match &self.mount_context {
            Some(ctx) => format!("mode=755,{ctx}"),
            None => "mode=755".to_string(),
        };
        mount(Some("tmpfs"), &fd_path(target.as_fd()), Some("tmpfs"), base, Some(data.as_str()))?;
        for b in &self.cgroup_v1 {
            let dest = m.dest.join(&b.name);
            if !b.host_path.exists() {
                // A hierarchy the container has no cgroup in (name=systemd): nothing to show.
                continue;
            }
            let t = ensure_in_root(root.as_fd(), &dest, Create::Dir)?;
            let flags = base | if ro { MsFlags::MS_RDONLY } else { MsFlags::empty() };
            rbind_remount(root, &b.host_path, t.as_fd(), &dest, flags)
                .with_context(|| format!("binding {} at {}", b.host_path.display(), dest.display()))?;
            for l in &b.links {
                let dir = reopen(root, &m.dest)?;
                match nix::unistd::symlinkat(b.name.as_str(), Some(dir.as_raw_fd()), l.as_str()) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(Error::sys(e, format!("linking {l} to {}", b.name))),
                }
            }
        }
        if ro {
            let mounted = reopen(root, &m.dest)?;
            remount_keep_flags(&fd_path(mounted.as_fd()), base | MsFlags::MS_RDONLY)?;
        }
        Ok(())
    }
}

/// Where the rootfs is attached in the container's mount namespace when the container's root
/// cannot reach its path (see [`RootfsPlan::mount_all`]); covered only in that namespace.
pub const STAGE: &str = "/tmp";

/// A read-only /dev (tmpfs or bind) or tmpfs is mounted read-write first and made read-only in
/// [`RootfsPlan::finish`], as runc does: device nodes, mounts under /dev and tmpcopyup content
/// must be created in it before.
fn delays_readonly(m: &MountOp) -> bool {
    m.opts.flags.contains(MsFlags::MS_RDONLY)
        && (m.dest == Path::new("/dev") || (!m.opts.is_bind() && m.fstype.as_deref() == Some("tmpfs")))
}

/// Write one sysctl through the container's /proc/sys (resolved inside the rootfs), refusing
/// anything that is not procfs: a fake /proc in the rootfs must not redirect the write
/// (CVE-2025-52881).
fn write_sysctl(root: &OwnedFd, key: &str, value: &str) -> Result<()> {
    let what = || format!("setting sysctl {key}={value}");
    let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
    let fd = open_in_root(root.as_fd(), &path, libc::O_WRONLY | libc::O_NOFOLLOW).map_err(|e| Error::sys(e, what()))?;
    let st = nix::sys::statfs::fstatfs(&fd).with_context(what)?;
    if st.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(Error::sys(Errno::EXDEV, format!("{}: {} is not on procfs", what(), path.display())));
    }
    nix::unistd::write(&fd, value.as_bytes()).with_context(what)?;
    Ok(())
}

fn reopen(root: &OwnedFd, dest: &Path) -> Result<OwnedFd> {
    open_in_root(root.as_fd(), dest, libc::O_PATH)
        .map_err(|e| Error::sys(e, format!("reopening {} after mounting", dest.display())))
}

/// Bind `source` recursively onto `target` (opened at `dest` in the rootfs `root`), then remount
/// the new mount, reopened at `dest`, with `flags` added to the flags it must keep.
fn rbind_remount(root: &OwnedFd, source: &Path, target: BorrowedFd, dest: &Path, flags: MsFlags) -> Result<()> {
    mount(Some(source), &fd_path(target), None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)?;
    let mounted = reopen(root, dest)?;
    remount_keep_flags(&fd_path(mounted.as_fd()), flags)
}

/// Remount a bind mount with `flags` added to the flags it already has: a mount in a user
/// namespace has "locked" flags (nosuid, nodev...) that a remount must keep.
pub fn remount_keep_flags(target: &Path, flags: MsFlags) -> Result<()> {
    let current = nix::sys::statvfs::statvfs(target).map(|s| s.flags()).unwrap_or(nix::sys::statvfs::FsFlags::empty());
    let mut keep = MsFlags::empty();
    use nix::sys::statvfs::FsFlags as F;
    for (f, m) in [
        (F::ST_NOSUID, MsFlags::MS_NOSUID),
        (F::ST_NODEV, MsFlags::MS_NODEV),
        (F::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (F::ST_NOATIME, MsFlags::MS_NOATIME),
        (F::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (F::ST_RELATIME, MsFlags::MS_RELATIME),
        (F::ST_RDONLY, MsFlags::MS_RDONLY),
    ] {
        if current.contains(f) {
            keep |= m;
        }
    }
    let base = MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match mount(None::<&str>, target, None::<&str>, base | flags, None::<&str>) {
        Err(Errno::EPERM) => {
            mount(None::<&str>, target, None::<&str>, base | flags | keep, None::<&str>).context("remounting")
        }
        r => r.context("remounting"),
    }
}

/// Mask a path: a directory gets an empty read-only tmpfs, anything else /dev/null bound
/// over it. The /dev/null used is the host's, checked to be the real 1:3 character device
/// (CVE-2025-31133: a symlink or fake node must not be what we bind).
fn mask_path(root: &OwnedFd, p: &Path) -> Result<()> {
    let fd = match open_in_root(root.as_fd(), p, libc::O_PATH | libc::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(()),
        Err(e) => return Err(Error::sys(e, "opening")),
    };
    let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFLNK => Ok(()),
        libc::S_IFDIR => {
            mount(Some("tmpfs"), &fd_path(fd.as_fd()), Some("tmpfs"), MsFlags::MS_RDONLY, None::<&str>)?;
            Ok(())
        }
        _ => {
            let null = own_fd(
                open("/dev/null", OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
                    .context("opening /dev/null")?,
            );
            let nst = nix::sys::stat::fstat(null.as_raw_fd())?;
            if nst.st_mode & libc::S_IFMT != libc::S_IFCHR || nst.st_rdev != nix::sys::stat::makedev(1, 3) {
                return Err(Error::sys(Errno::EPERM, "/dev/null is not the 1:3 character device"));
            }
            mount(Some(&fd_path(null.as_fd())), &fd_path(fd.as_fd()), None::<&str>, MsFlags::MS_BIND, None::<&str>)?;
            Ok(())
        }
    }
}

fn readonly_path(root: &OwnedFd, p: &Path) -> Result<()> {
    let fd = match open_in_root(root.as_fd(), p, libc::O_PATH | libc::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(()),
        Err(e) => return Err(Error::sys(e, "opening")),
    };
    let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    rbind_remount(root, &fd_path(fd.as_fd()), fd.as_fd(), p, ro)
}

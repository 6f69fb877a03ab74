//! What of a container lives outside it, for CRIU: the bind mounts husk made from the host
//! (bundle mounts, the cgroup mount without a cgroup namespace, masked files, device binds),
//! and the namespaces it joined by path. CRIU cannot dump these; they are named at dump time
//! (`--external mnt[DEST]:DEST`, `net[INODE]:extRootNetNS`) and supplied again at restore
//! (`mnt[DEST]:SOURCE`, an inherited fd for the namespace), as runc does. The mount list comes
//! from the same [`RootfsPlan`] create uses, so both agree on what was bound.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Context, Error, Result};
use crate::rootfs::RootfsPlan;

/// A bind mount from the host: where it is in the container and what it binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    pub dest: String,
    pub source: PathBuf,
    /// A `mounts` entry (not the cgroup mount or a device): its mount point may be missing in a
    /// rootfs the container was not created in, and is made at restore.
    pub from_mounts: bool,
}

/// The external name CRIU uses for masked files (runc's: every masked file is /dev/null).
pub const MASKED: &str = "/dev/null";

/// The external key of a terminal container's /dev/console mount (a bind of its pty slave).
pub const CONSOLE: &str = "husk-console";

/// Namespaces that stay external when the container joined them by path, with runc's keys.
pub const EXTERNAL_NS: [(LinuxNamespaceType, &str, &str); 2] =
    [(LinuxNamespaceType::Network, "net", "extRootNetNS"), (LinuxNamespaceType::Pid, "pid", "extRootPidNS")];

fn has_ns(spec: &Spec, t: LinuxNamespaceType) -> bool {
    spec.linux().as_ref().and_then(|l| l.namespaces().as_ref()).is_some_and(|n| n.iter().any(|n| n.typ() == t))
}

/// The host binds of a container with `spec`, bundle `bundle`, rootfs `rootfs`, cgroup
/// `cgroup_path` (as create computes them).
pub fn bind_mounts(spec: &Spec, bundle: &Path, rootfs: &Path, cgroup_path: &str) -> Result<Vec<BindMount>> {
    let userns = has_ns(spec, LinuxNamespaceType::User);
    let cgroupns = has_ns(spec, LinuxNamespaceType::Cgroup);
    let plan = RootfsPlan::from_spec(spec, bundle, rootfs.to_path_buf(), false, userns, cgroupns, cgroup_path)?;
    let mut out = Vec::new();
    for m in &plan.mounts {
        let dest = m.dest.to_string_lossy().into_owned();
        let fstype = m.fstype.as_deref().unwrap_or("");
        if fstype == "cgroup" || fstype == "cgroup2" {
            if let Some(dir) = &plan.cgroup_v2_path {
                if !plan.cgroupns {
                    out.push(BindMount { dest, source: dir.clone(), from_mounts: false });
                }
            } else {
                for b in plan.cgroup_v1.iter().filter(|b| b.host_path.exists()) {
                    out.push(BindMount {
                        dest: format!("{dest}/{}", b.name),
                        source: b.host_path.clone(),
                        from_mounts: false,
                    });
                }
            }
            continue;
        }
        if m.opts.is_bind() {
            let src = m.source.clone().unwrap_or_default();
            let source = if src.is_absolute() { src } else { bundle.join(src) };
            out.push(BindMount { dest, source, from_mounts: true });
        }
    }
    if plan.userns {
        // Device nodes are bound from the host in a user namespace.
        for d in &plan.devices {
            let p = d.path.to_string_lossy().into_owned();
            out.push(BindMount { dest: p.clone(), source: d.path.clone(), from_mounts: false });
        }
    }
    Ok(out)
}

/// Make the mount points of `binds` from `mounts` that are missing in `rootfs` (a directory, or
/// an empty file for a file source), resolved inside the rootfs as create does.
pub fn make_mountpoints(rootfs: &Path, binds: &[BindMount]) -> Result<()> {
    use crate::rootfs::resolve::{ensure_in_root, Create};
    let root = std::fs::File::open(rootfs).map_err(|e| Error::io(e, format!("opening rootfs {}", rootfs.display())))?;
    for b in binds.iter().filter(|b| b.from_mounts) {
        let last = if b.source.is_file() { Create::File } else { Create::Dir };
        ensure_in_root(std::os::fd::AsFd::as_fd(&root), Path::new(&b.dest), last)
            .with_context(|| format!("creating the mount point {} for {}", b.dest, b.source.display()))?;
    }
    Ok(())
}

/// The masked paths that are files in the running container `pid` (bound to /dev/null;
/// masked directories are tmpfs mounts CRIU dumps itself).
pub fn masked_files(spec: &Spec, pid: i32) -> Vec<String> {
    let masked = spec.linux().as_ref().and_then(|l| l.masked_paths().clone()).unwrap_or_default();
    masked
        .into_iter()
        .filter(|p| {
            std::fs::metadata(format!("/proc/{pid}/root/{}", p.trim_start_matches('/'))).is_ok_and(|m| !m.is_dir())
        })
        .collect()
}

/// `--external` pairs for a dump.
pub fn dump_externals(spec: &Spec, binds: &[BindMount], masked: &[String]) -> Result<Vec<(String, String)>> {
    let mut ext: Vec<(String, String)> = binds.iter().map(|b| (format!("mnt[{}]", b.dest), b.dest.clone())).collect();
    ext.extend(masked.iter().map(|p| (format!("mnt[{p}]"), MASKED.to_string())));
    for (t, name, key) in EXTERNAL_NS {
        if let Some(path) = joined_ns_path(spec, t) {
            let ino = std::fs::metadata(&path)
                .map_err(|e| Error::io(e, format!("reading the {name} namespace {}", path.display())))?
                .ino();
            ext.push((format!("{name}[{ino}]"), key.to_string()));
        }
    }
    Ok(ext)
}

/// `--external` pairs for a restore (the namespaces go as inherited fds, see [`joined_ns_path`]).
pub fn restore_externals(binds: &[BindMount], any_masked: bool) -> Vec<(String, String)> {
    let mut ext: Vec<(String, String)> =
        binds.iter().map(|b| (format!("mnt[{}]", b.dest), b.source.to_string_lossy().into_owned())).collect();
    if any_masked {
        ext.push((format!("mnt[{MASKED}]"), MASKED.to_string()));
    }
    ext
}

/// The path of a namespace of type `t` the container joins (linux.namespaces[].path).
pub fn joined_ns_path(spec: &Spec, t: LinuxNamespaceType) -> Option<PathBuf> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|n| n.iter().find(|n| n.typ() == t))
        .and_then(|n| n.path().clone())
        .filter(|p| !p.as_os_str().is_empty())
}

/// Open the namespaces the container joins by path, without close-on-exec (CRIU inherits
/// them): (fd, key) pairs for `--inherit-fd fd[N]:KEY`.
pub fn open_joined_ns(spec: &Spec) -> Result<Vec<(std::os::fd::OwnedFd, &'static str)>> {
    let mut out = Vec::new();
    for (t, name, key) in EXTERNAL_NS {
        if let Some(path) = joined_ns_path(spec, t) {
            let f = std::fs::File::open(&path)
                .map_err(|e| Error::io(e, format!("opening the {name} namespace {}", path.display())))?;
            let fd: std::os::fd::OwnedFd = f.into();
            crate::sys::process::clear_cloexec(std::os::fd::AsRawFd::as_raw_fd(&fd))
                .map_err(|e| Error::sys(e, format!("passing the {name} namespace to criu")))?;
            out.push((fd, key));
        }
    }
    Ok(out)
}

/// The file in the image directory holding the console's external tty key (see [`console_tty`]).
pub const TTY_KEY: &str = "husk-tty.key";

/// The init's console (its fd 0, a pty slave of the container's devpts whose master is held
/// outside the container) as CRIU's external tty key `tty[RDEV:DEV]` (hex, CRIU's format).
pub fn console_tty(pid: i32) -> Result<String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let p = format!("/proc/{pid}/fd/0");
    let m = std::fs::metadata(&p).map_err(|e| Error::io(e, format!("stat of the init's terminal {p}")))?;
    if !m.file_type().is_char_device() {
        return Err(Error::new(
            crate::Kind::System,
            format!("process.terminal: the init's stdin {p} is not a terminal"),
        ));
    }
    Ok(format!("tty[{:x}:{:x}]", m.rdev(), m.dev()))
}

pub fn write_tty_key(image_dir: &Path, key: &str) -> Result<()> {
    let p = image_dir.join(TTY_KEY);
    std::fs::write(&p, key).map_err(|e| Error::io(e, format!("writing {}", p.display())))
}

pub fn read_tty_key(image_dir: &Path) -> Result<String> {
    let p = image_dir.join(TTY_KEY);
    let key = std::fs::read_to_string(&p).map_err(|e| {
        Error::io(e, format!("reading {} (a terminal container's checkpoint made by husk holds it)", p.display()))
    })?;
    Ok(key.trim().to_string())
}

/// The init's fds 0-2 as link targets ("pipe:[123]", "/dev/null"), for [`super::DESCRIPTORS`].
pub fn init_descriptors(pid: i32) -> Vec<String> {
    (0..3)
        .map(|i| {
            std::fs::read_link(format!("/proc/{pid}/fd/{i}"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "/dev/null".into())
        })
        .collect()
}

/// The `--inherit-fd` pairs for the pipes among saved descriptors: our own fd N stands in for
/// the init's fd N (runc's rule: only pipes are re-attached).
pub fn inherited_pipes(descriptors: &[String]) -> Vec<(i32, String)> {
    descriptors.iter().enumerate().filter(|(_, d)| d.starts_with("pipe:")).map(|(i, d)| (i as i32, d.clone())).collect()
}

pub fn read_descriptors(image_dir: &Path) -> Result<Vec<String>> {
    let p = image_dir.join(super::DESCRIPTORS);
    match std::fs::read(&p) {
        Ok(data) => serde_json::from_slice(&data)
            .map_err(|e| Error::new(crate::Kind::System, format!("reading {}: {e}", p.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(e, format!("reading {}", p.display()))),
    }
}

pub fn write_descriptors(image_dir: &Path, descriptors: &[String]) -> Result<()> {
    let p = image_dir.join(super::DESCRIPTORS);
    let data = serde_json::to_vec(descriptors).expect("strings");
    std::fs::write(&p, data)
        .map_err(|e| Error::io(e, format!("writing {}", p.display())))
        .context("saving the init's descriptors")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> Spec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn binds_and_masks_become_externals() {
        let s = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind"]},
                {"destination": "/etc/x", "source": "x", "options": ["bind", "ro"]}
            ],
            "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}
        }));
        let b = std::env::temp_dir().join(format!("husk-externals-{}", std::process::id()));
        std::fs::create_dir_all(b.join("rootfs")).unwrap();
        std::fs::write(b.join("x"), "").unwrap();
        let binds = bind_mounts(&s, &b, &b.join("rootfs"), "/c");
        std::fs::remove_dir_all(&b).unwrap();
        let binds = binds.unwrap();
        assert_eq!(
            binds,
            vec![
                BindMount { dest: "/data".into(), source: "/tmp".into(), from_mounts: true },
                BindMount { dest: "/etc/x".into(), source: b.join("x"), from_mounts: true },
            ]
        );
        let d = dump_externals(&s, &binds, &["/proc/kcore".to_string()]).unwrap();
        assert_eq!(
            d,
            vec![
                ("mnt[/data]".to_string(), "/data".to_string()),
                ("mnt[/etc/x]".into(), "/etc/x".into()),
                ("mnt[/proc/kcore]".into(), "/dev/null".into())
            ]
        );
        let r = restore_externals(&binds, true);
        assert_eq!(r[0], ("mnt[/data]".to_string(), "/tmp".to_string()));
        assert_eq!(r[2], ("mnt[/dev/null]".to_string(), "/dev/null".to_string()));
    }

    #[test]
    fn joined_namespaces_are_external() {
        let s = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {"namespaces": [{"type": "network", "path": "/proc/self/ns/net"}, {"type": "pid"}]}
        }));
        let d = dump_externals(&s, &[], &[]).unwrap();
        let ino = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
        assert_eq!(d, vec![(format!("net[{ino}]"), "extRootNetNS".to_string())]);
        let fds = open_joined_ns(&s).unwrap();
        assert_eq!(fds.len(), 1);
        assert_eq!(fds[0].1, "extRootNetNS");
    }

    #[test]
    fn only_pipes_are_inherited() {
        let d = vec!["/dev/null".to_string(), "pipe:[42]".into(), "pipe:[43]".into()];
        assert_eq!(inherited_pipes(&d), vec![(1, "pipe:[42]".to_string()), (2, "pipe:[43]".to_string())]);
    }
}

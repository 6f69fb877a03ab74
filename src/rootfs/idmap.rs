//! Idmapped bind mounts (runtime-spec config.md "POSIX-platform Mounts": a mount's
//! `uidMappings`/`gidMappings`, the `idmap` and `ridmap` options). Made by the runtime before
//! the fork: open_tree(OPEN_TREE_CLONE) of the source (AT_RECURSIVE for rbind and ridmap),
//! mount_setattr(MOUNT_ATTR_IDMAP) with a user namespace carrying the mappings
//! ([`crate::userns::UsernsCache`]; AT_RECURSIVE for ridmap), and the detached tree is attached
//! by the init with move_mount on the destination resolved in the rootfs (`MountOp::detached`).

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType, Mount};

use crate::error::{Context, Error, Result};
use crate::userns::UsernsCache;

use super::options::MountOptions;

/// Where an idmapped mount's mappings come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idmap {
    /// uid and gid mappings: a user namespace carrying them is made ([`UsernsCache`]).
    Maps(Vec<LinuxIdMapping>, Vec<LinuxIdMapping>),
    /// The user namespace the container joins (linux.namespaces, by path): its own mappings.
    Joined(PathBuf),
}

/// How a mount is idmapped, or None for a plain mount. Validated as the spec says: mappings
/// need a user namespace; `idmap`/`ridmap` are for bind mounts only; without mappings of its
/// own the mount takes the container's (linux.uidMappings/gidMappings, or those of the user
/// namespace it joins).
pub fn mappings(
    i: usize,
    m: &Mount,
    opts: &MountOptions,
    is_bind: bool,
    linux: Option<&Linux>,
    userns: bool,
) -> Result<Option<Idmap>> {
    let uids = m.uid_mappings().clone().unwrap_or_default();
    let gids = m.gid_mappings().clone().unwrap_or_default();
    if !opts.idmap && uids.is_empty() && gids.is_empty() {
        return Ok(None);
    }
    let what = format!("mounts[{i}] ({})", m.destination().display());
    if !is_bind {
        let t = m.typ().as_deref().unwrap_or("none");
        return Err(Error::invalid_spec(format!(
            "{what}: idmapped mounts are only supported for bind mounts, not type {t:?}"
        )));
    }
    if !userns {
        return Err(Error::invalid_spec(format!(
            "{what}: idmapped mounts need a user namespace, and linux.namespaces has no \"user\""
        )));
    }
    if uids.is_empty() != gids.is_empty() {
        return Err(Error::invalid_spec(format!("{what}: uidMappings and gidMappings must be given together")));
    }
    if !uids.is_empty() {
        return Ok(Some(Idmap::Maps(uids, gids)));
    }
    let joined = linux
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|ns| ns.iter().find(|n| n.typ() == LinuxNamespaceType::User))
        .and_then(|n| n.path().clone());
    if let Some(path) = joined {
        return Ok(Some(Idmap::Joined(path)));
    }
    let uids = linux.and_then(|l| l.uid_mappings().clone()).unwrap_or_default();
    let gids = linux.and_then(|l| l.gid_mappings().clone()).unwrap_or_default();
    if uids.is_empty() || gids.is_empty() {
        return Err(Error::invalid_spec(format!(
            "{what}: idmap without mappings of its own takes the container's, and linux.uidMappings/gidMappings are empty"
        )));
    }
    Ok(Some(Idmap::Maps(uids, gids)))
}

/// A detached, idmapped clone of `source` for the mount at `dest`.
pub fn clone_idmapped(
    source: &Path,
    dest: &Path,
    recursive_tree: bool,
    recursive_idmap: bool,
    idmap: &Idmap,
    cache: &mut UsernsCache,
) -> Result<OwnedFd> {
    let c = super::resolve::path_cstr(source)?;
    let tree = crate::sys::fs::open_tree_detached(&c, recursive_tree)
        .map_err(|e| Error::sys(e, format!("cloning bind source {} for {}", source.display(), dest.display())))?;
    let ns = match idmap {
        Idmap::Maps(uids, gids) => cache.get(uids, gids)?,
        Idmap::Joined(path) => std::sync::Arc::new(crate::sys::fs::own_fd(
            open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).with_context(|| {
                format!("opening user namespace {} for the idmapped mount {}", path.display(), dest.display())
            })?,
        )),
    };
    crate::sys::fs::mount_setattr_idmap(tree.as_fd(), ns.as_fd(), recursive_idmap).map_err(|e| {
        let fs = fs_name(&tree);
        let why = if e == Errno::EINVAL {
            format!("filesystem {fs} cannot be idmapped (or a submount of it, with ridmap)")
        } else {
            format!("filesystem {fs}")
        };
        Error::sys(e, format!("idmapping bind source {} for {}: {why}", source.display(), dest.display()))
    })?;
    Ok(tree)
}

/// The name of the filesystem `fd` is on, for messages.
fn fs_name(fd: &OwnedFd) -> String {
    let Ok(st) = nix::sys::statfs::fstatfs(fd) else { return "(unknown)".into() };
    let magic = st.filesystem_type().0 as u64;
    let name = match magic {
        0xEF53 => "ext4",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlay",
        0x858458F6 => "ramfs",
        0x9FA0 => "proc",
        0x6265_6572 => "sysfs",
        0x6969 => "nfs",
        0x6573_5546 => "fuse",
        0x0102_1997 => "9p",
        0x4D44 => "vfat",
        0x6367_7270 => "cgroup2",
        0x0027_E0EB => "cgroup",
        0x1CD1 => "devpts",
        0x7371_7368 => "squashfs",
        0x6462_6720 => "debugfs",
        0x7472_6163 => "tracefs",
        _ => return format!("of type {magic:#x}"),
    };
    name.to_string()
}

/// The idmapped clone of the rootfs asked for by `mounts[i]` (destination "/"): its source
/// must be root.path (relative to the bundle, as root.path is).
pub fn rootfs_clone(
    i: usize,
    m: &Mount,
    rootfs: &Path,
    bundle: &Path,
    opts: &MountOptions,
    idmap: &Idmap,
    cache: &mut UsernsCache,
) -> Result<OwnedFd> {
    let src = m.source().as_ref().map(|s| bundle.join(s));
    let same = src.as_ref().and_then(|s| std::fs::canonicalize(s).ok()).is_some_and(|s| s == rootfs);
    if !same {
        return Err(Error::invalid_spec(format!(
            "mounts[{i}] (/): an idmapped mount for \"/\" idmaps the rootfs, so its source must be root.path ({}), not {}",
            rootfs.display(),
            src.as_deref().unwrap_or(Path::new("none")).display()
        )));
    }
    // The rootfs is always bound recursively (as the bind onto itself it replaces).
    clone_idmapped(rootfs, Path::new("/"), true, opts.ridmap, idmap, cache)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::options::parse;
    use serde_json::json;

    fn mount(v: serde_json::Value) -> Mount {
        serde_json::from_value(v).unwrap()
    }

    fn linux() -> Linux {
        serde_json::from_value(json!({
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}],
        }))
        .unwrap()
    }

    fn check(m: serde_json::Value, userns: bool) -> Result<Option<Idmap>> {
        let m = mount(m);
        let opts = parse(m.options().as_deref().unwrap_or_default());
        let is_bind = opts.is_bind() || m.typ().as_deref() == Some("bind");
        mappings(3, &m, &opts, is_bind, Some(&linux()), userns)
    }

    #[test]
    fn plain_mounts_are_not_idmapped() {
        assert!(check(json!({"destination": "/d", "type": "bind", "source": "/s", "options": ["rbind"]}), true)
            .unwrap()
            .is_none());
    }

    #[test]
    fn idmap_takes_the_containers_mappings() {
        let m = json!({"destination": "/d", "type": "bind", "source": "/s", "options": ["idmap"]});
        let Some(Idmap::Maps(u, g)) = check(m, true).unwrap() else { panic!() };
        assert_eq!(crate::userns::map_text(&u), "0 100000 65536\n");
        assert_eq!(crate::userns::map_text(&g), "0 200000 65536\n");
    }

    #[test]
    fn mount_mappings_win_and_imply_idmap() {
        let mm =
            json!([{"containerID": 0, "hostID": 5000, "size": 10}, {"containerID": 10, "hostID": 7000, "size": 1}]);
        let Some(Idmap::Maps(u, _)) = check(
            json!({"destination": "/d", "source": "/s", "options": ["bind"], "uidMappings": mm, "gidMappings": mm}),
            true,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(crate::userns::map_text(&u), "0 5000 10\n10 7000 1\n");
    }

    #[test]
    fn idmap_in_a_joined_user_namespace_takes_its_mappings() {
        let m = mount(json!({"destination": "/d", "type": "bind", "source": "/s", "options": ["idmap"]}));
        let linux: Linux =
            serde_json::from_value(json!({"namespaces": [{"type": "user", "path": "/proc/7/ns/user"}]})).unwrap();
        let opts = parse(m.options().as_deref().unwrap_or_default());
        assert_eq!(
            mappings(0, &m, &opts, true, Some(&linux), true).unwrap(),
            Some(Idmap::Joined("/proc/7/ns/user".into()))
        );
    }

    #[test]
    fn refusals_name_the_mount_and_reason() {
        let mm = json!([{"containerID": 0, "hostID": 5000, "size": 10}]);
        let e = check(json!({"destination": "/d", "type": "bind", "source": "/s", "options": ["idmap"]}), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("mounts[3] (/d)") && e.contains("user namespace"), "{e}");
        let e = check(json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("mounts[3] (/t)") && e.contains("bind mounts") && e.contains("tmpfs"), "{e}");
        let e = check(json!({"destination": "/d", "type": "bind", "source": "/s", "uidMappings": mm}), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("together"), "{e}");
    }
}

//! Mount options of config.json (`"nosuid"`, `"rbind"`, `"rro"`, `"mode=755"`...) → mount(2)
//! flags, propagation changes, recursive mount_setattr attributes and the fs data string.
//! Pure logic, checked by unit tests.

use nix::mount::MsFlags;

use crate::sys::fs as sysfs;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags passed to mount(2).
    pub flags: MsFlags,
    /// Flags an option explicitly turned off ("rw", "suid", "exec"...).
    pub cleared: MsFlags,
    /// Propagation changes applied after the mount, in order.
    pub propagation: Vec<MsFlags>,
    /// mount_setattr(AT_RECURSIVE) attributes to set / clear ("rro", "rnosuid"...).
    pub rec_set: u64,
    pub rec_clr: u64,
    /// Options the kernel flags don't know: passed as the data string ("mode=755,size=65536k").
    pub data: Vec<String>,
    /// "idmap" / "ridmap" requested: an idmapped bind mount (see rootfs::idmap).
    pub idmap: bool,
    /// "ridmap": every mount of a recursive bind is idmapped, not only its top.
    pub ridmap: bool,
    /// "tmpcopyup" (tmpfs only, as runc and crun): the image's content of the destination is
    /// copied into the fresh tmpfs.
    pub copyup: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            rec_set: 0,
            rec_clr: 0,
            data: Vec::new(),
            idmap: false,
            ridmap: false,
            copyup: false,
        }
    }
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    pub fn data_string(&self) -> String {
        self.data.join(",")
    }

    /// Whether the data string sets the tmpfs root's mode ("mode=1777").
    pub fn has_mode(&self) -> bool {
        self.data.iter().any(|d| d.starts_with("mode="))
    }

    /// Flags that need a remount after a bind mount to take effect (bind ignores them).
    pub fn bind_remount_flags(&self) -> MsFlags {
        self.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
    }
}

/// Every option [`parse`] turns into mount flags, a propagation change or a recursive attribute
/// (what `husk features` lists as mountOptions), and "tmpcopyup" (tmpfs only; ignored elsewhere, as
/// runc), "idmap" and "ridmap" (idmapped bind mounts, see rootfs::idmap); anything else is passed
/// to the filesystem as data.
pub const KNOWN_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

pub fn parse(opts: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    for opt in opts {
        let s = opt.as_str();
        if let Some((set, flag)) = flag_option(s) {
            if set {
                o.flags |= flag;
                o.cleared &= !flag;
            } else {
                o.flags &= !flag;
                o.cleared |= flag;
            }
        } else if let Some(p) = propagation_option(s) {
            o.propagation.push(p);
        } else if let Some((set, attr)) = recursive_option(s) {
            if set {
                o.rec_set |= attr;
                o.rec_clr &= !attr;
            } else {
                o.rec_clr |= attr;
                o.rec_set &= !attr;
            }
            if attr & sysfs::MOUNT_ATTR__ATIME != 0 || attr == sysfs::MOUNT_ATTR_RELATIME {
                // Changing the atime mode needs the whole atime field cleared first.
                o.rec_clr |= sysfs::MOUNT_ATTR__ATIME;
            }
        } else if s == "idmap" || s == "ridmap" {
            o.idmap = true;
            o.ridmap |= s == "ridmap";
        } else if s == "tmpcopyup" {
            o.copyup = true;
        } else if s == "defaults" || s.is_empty() {
        } else {
            o.data.push(opt.clone());
        }
    }
    o
}

/// (true = set, flag) for the classic flag options.
fn flag_option(s: &str) -> Option<(bool, MsFlags)> {
    let nosymfollow = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);
    Some(match s {
        "async" => (false, MsFlags::MS_SYNCHRONOUS),
        "atime" => (false, MsFlags::MS_NOATIME),
        "bind" => (true, MsFlags::MS_BIND),
        "dev" => (false, MsFlags::MS_NODEV),
        "diratime" => (false, MsFlags::MS_NODIRATIME),
        "dirsync" => (true, MsFlags::MS_DIRSYNC),
        "exec" => (false, MsFlags::MS_NOEXEC),
        "iversion" => (true, MsFlags::MS_I_VERSION),
        "lazytime" => (true, MsFlags::MS_LAZYTIME),
        "loud" => (false, MsFlags::MS_SILENT),
        "mand" => (true, MsFlags::MS_MANDLOCK),
        "noatime" => (true, MsFlags::MS_NOATIME),
        "nodev" => (true, MsFlags::MS_NODEV),
        "nodiratime" => (true, MsFlags::MS_NODIRATIME),
        "noexec" => (true, MsFlags::MS_NOEXEC),
        "noiversion" => (false, MsFlags::MS_I_VERSION),
        "nolazytime" => (false, MsFlags::MS_LAZYTIME),
        "nomand" => (false, MsFlags::MS_MANDLOCK),
        "norelatime" => (false, MsFlags::MS_RELATIME),
        "nostrictatime" => (false, MsFlags::MS_STRICTATIME),
        "nosuid" => (true, MsFlags::MS_NOSUID),
        "nosymfollow" => (true, nosymfollow),
        "symfollow" => (false, nosymfollow),
        "rbind" => (true, MsFlags::MS_BIND | MsFlags::MS_REC),
        "relatime" => (true, MsFlags::MS_RELATIME),
        "remount" => (true, MsFlags::MS_REMOUNT),
        "ro" => (true, MsFlags::MS_RDONLY),
        "rw" => (false, MsFlags::MS_RDONLY),
        "silent" => (true, MsFlags::MS_SILENT),
        "strictatime" => (true, MsFlags::MS_STRICTATIME),
        "suid" => (false, MsFlags::MS_NOSUID),
        "sync" => (true, MsFlags::MS_SYNCHRONOUS),
        _ => return None,
    })
}

fn propagation_option(s: &str) -> Option<MsFlags> {
    Some(match s {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// The recursive forms (runc ≥1.1): applied with mount_setattr(AT_RECURSIVE).
fn recursive_option(s: &str) -> Option<(bool, u64)> {
    Some(match s {
        "rro" => (true, sysfs::MOUNT_ATTR_RDONLY),
        "rrw" => (false, sysfs::MOUNT_ATTR_RDONLY),
        "rnosuid" => (true, sysfs::MOUNT_ATTR_NOSUID),
        "rsuid" => (false, sysfs::MOUNT_ATTR_NOSUID),
        "rnodev" => (true, sysfs::MOUNT_ATTR_NODEV),
        "rdev" => (false, sysfs::MOUNT_ATTR_NODEV),
        "rnoexec" => (true, sysfs::MOUNT_ATTR_NOEXEC),
        "rexec" => (false, sysfs::MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (true, sysfs::MOUNT_ATTR_NODIRATIME),
        "rdiratime" => (false, sysfs::MOUNT_ATTR_NODIRATIME),
        "rrelatime" => (true, sysfs::MOUNT_ATTR_RELATIME),
        "rnorelatime" => (false, sysfs::MOUNT_ATTR_RELATIME),
        "rnoatime" => (true, sysfs::MOUNT_ATTR_NOATIME),
        "ratime" => (false, sysfs::MOUNT_ATTR_NOATIME),
        "rstrictatime" => (true, sysfs::MOUNT_ATTR_STRICTATIME),
        "rnostrictatime" => (false, sysfs::MOUNT_ATTR_STRICTATIME),
        "rnosymfollow" => (true, sysfs::MOUNT_ATTR_NOSYMFOLLOW),
        "rsymfollow" => (false, sysfs::MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> MountOptions {
        parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn known_options_are_all_understood() {
        for o in KNOWN_OPTIONS {
            let idmap = *o == "idmap" || *o == "ridmap";
            let known = *o == "defaults"
                || *o == "tmpcopyup"
                || idmap
                || flag_option(o).is_some()
                || propagation_option(o).is_some()
                || recursive_option(o).is_some();
            assert!(known, "{o}");
            let m = p(&[o]);
            assert!(m.data.is_empty() && m.idmap == idmap && m.ridmap == (*o == "ridmap"), "{o}");
        }
        let mut sorted = KNOWN_OPTIONS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, KNOWN_OPTIONS);
    }

    #[test]
    fn runc_default_dev_mount() {
        let o = p(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data_string(), "mode=755,size=65536k");
        assert!(!o.is_bind());
    }

    #[test]
    fn later_options_win() {
        let o = p(&["ro", "rw"]);
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        assert!(o.cleared.contains(MsFlags::MS_RDONLY));
        let o = p(&["rw", "ro"]);
        assert!(o.flags.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn bind_and_propagation() {
        let o = p(&["rbind", "ro", "rprivate", "shared"]);
        assert!(o.is_bind());
        assert!(o.flags.contains(MsFlags::MS_REC));
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC, MsFlags::MS_SHARED]);
        assert_eq!(o.bind_remount_flags(), MsFlags::MS_RDONLY);
    }

    #[test]
    fn podman_tmpfs_options() {
        let o = p(&["rw", "rprivate", "nosuid", "nodev", "tmpcopyup", "size=65536k"]);
        assert!(o.copyup);
        assert_eq!(o.data_string(), "size=65536k");
        assert!(!o.has_mode());
        assert!(p(&["mode=755"]).has_mode());
    }

    #[test]
    fn recursive_attrs() {
        let o = p(&["rbind", "rro", "rnosuid", "rnoatime"]);
        assert_eq!(o.rec_set, sysfs::MOUNT_ATTR_RDONLY | sysfs::MOUNT_ATTR_NOSUID | sysfs::MOUNT_ATTR_NOATIME);
        assert_eq!(o.rec_clr, sysfs::MOUNT_ATTR__ATIME);
        let o = p(&["rro", "rrw"]);
        assert_eq!(o.rec_set, 0);
        assert_eq!(o.rec_clr & sysfs::MOUNT_ATTR_RDONLY, sysfs::MOUNT_ATTR_RDONLY);
    }
}

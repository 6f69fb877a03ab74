//! Building the [`RootfsPlan`] from the spec: every mount checked and classified (binds,
//! idmapped and detached sources, rootless id options), the devices, masked and read-only
//! paths, sysctls and the cgroup binds. Runs in the runtime, before the fork.

use super::*;

impl RootfsPlan {
    /// Build the plan from the spec. `rootfs` is the absolute, canonical rootfs path.
    pub fn from_spec(
        spec: &Spec,
        bundle: &Path,
        rootfs: PathBuf,
        no_pivot: bool,
        userns: bool,
        cgroupns: bool,
        cgroup_path: &str,
    ) -> Result<Self> {
        let linux = spec.linux().as_ref();
        let rootless = !nix::unistd::geteuid().is_root();
        let mut mounts = Vec::new();
        let mut dev_is_bind = false;
        let mut dev_mounted = false;
        let mut userns_cache = crate::userns::UsernsCache::default();
        let mut rootfs_idmapped = None;
        for (i, m) in spec.mounts().as_deref().unwrap_or_default().iter().enumerate() {
            let opts = options::parse(m.options().as_deref().unwrap_or_default());
            let fstype = m.typ().clone();
            let is_bind = opts.is_bind() || fstype.as_deref() == Some("bind");
            let mut opts = opts;
            if fstype.as_deref() == Some("bind") && !opts.is_bind() {
                opts.flags |= MsFlags::MS_BIND;
            }
            if rootless && userns {
                rootless_id_options(&mut opts, i, fstype.as_deref(), linux)?;
            }
            let idmap = idmap::mappings(i, m, &opts, is_bind, linux, userns)?;
            let dest = PathBuf::from("/").join(m.destination());
            if let (Some(how), true) = (&idmap, dest == Path::new("/")) {
                // The rootfs itself, idmapped: one image unpacked on the host serves containers
                // of any mapping.
                let fd = idmap::rootfs_clone(i, m, &rootfs, bundle, &opts, how, &mut userns_cache)?;
                rootfs_idmapped = Some(Arc::new(fd));
                continue;
            }
            let mut source = m.source().clone();
            let mut source_is_file = false;
            let mut detached = None;
            if is_bind {
                let src = source
                    .as_ref()
                    .ok_or_else(|| Error::invalid_spec(format!("mounts[{i}].source: a bind mount needs a source")))?;
                let abs = if src.is_absolute() { src.clone() } else { bundle.join(src) };
                let meta = std::fs::metadata(&abs).map_err(|e| {
                    Error::io(
                        e,
                        format!("mounts[{i}]: bind source {} for {}", abs.display(), m.destination().display()),
                    )
                })?;
                source_is_file = !meta.is_dir();
                if let Some(how) = &idmap {
                    let rec = opts.flags.contains(MsFlags::MS_REC);
                    let fd = idmap::clone_idmapped(
                        &abs,
                        m.destination(),
                        rec || opts.ridmap,
                        opts.ridmap,
                        how,
                        &mut userns_cache,
                    )
                    .map_err(|e| e.context(format!("mounts[{i}]")))?;
                    detached = Some(Arc::new(fd));
                } else if userns && !rootless {
                    // A rootless runtime has no privilege over the host's mounts (open_tree's
                    // clone is EPERM): the init binds by path from its own user namespace.
                    let c = resolve::path_cstr(&abs)?;
                    let fd = crate::sys::fs::open_tree_detached(&c, opts.flags.contains(MsFlags::MS_REC))
                        .with_context(|| format!("mounts[{i}]: cloning bind source {}", abs.display()))?;
                    detached = Some(Arc::new(fd));
                }
                source = Some(abs);
            }
            if dest == Path::new("/dev") {
                dev_mounted = true;
                dev_is_bind = is_bind;
            }
            mounts.push(MountOp { index: i, dest, source, fstype, opts, source_is_file, detached });
        }
        let mut devices = Vec::new();
        for (i, d) in linux.and_then(|l| l.devices().as_ref()).map(Vec::as_slice).unwrap_or_default().iter().enumerate()
        {
            let kind = match d.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
                LinuxDeviceType::B => SFlag::S_IFBLK,
                LinuxDeviceType::P => SFlag::S_IFIFO,
                LinuxDeviceType::A => {
                    return Err(Error::invalid_spec(format!("linux.devices[{i}].type: \"a\" is not a device type")))
                }
            };
            if !d.path().is_absolute() || !d.path().starts_with("/dev") {
                return Err(Error::invalid_spec(format!(
                    "linux.devices[{i}].path: {} is not under /dev",
                    d.path().display()
                )));
            }
            devices.push(DeviceOp {
                path: d.path().clone(),
                kind,
                major: d.major() as u64,
                minor: d.minor() as u64,
                mode: d.file_mode().unwrap_or(0o666) & 0o7777,
                uid: d.uid().unwrap_or(0),
                gid: d.gid().unwrap_or(0),
            });
        }
        let populate_dev = dev_mounted && !dev_is_bind;
        if populate_dev {
            for (p, maj, min) in DEFAULT_DEVICES {
                if !devices.iter().any(|d| d.path == Path::new(p)) {
                    devices.push(DeviceOp {
                        path: p.into(),
                        kind: SFlag::S_IFCHR,
                        major: maj,
                        minor: min,
                        mode: 0o666,
                        uid: 0,
                        gid: 0,
                    });
                }
            }
        }
        let rootfs_prop = linux.and_then(|l| l.rootfs_propagation().as_deref()).filter(|s| !s.is_empty());
        let (root_propagation, late_propagation) = match rootfs_prop {
            None => (MsFlags::MS_SLAVE | MsFlags::MS_REC, None),
            Some(p) => {
                let o = options::parse(&[p.to_string()]);
                let Some(&flag) = o.propagation.first() else {
                    return Err(Error::invalid_spec(format!("linux.rootfsPropagation: unknown value {p:?}")));
                };
                if flag.intersects(MsFlags::MS_SLAVE | MsFlags::MS_PRIVATE) {
                    (flag | MsFlags::MS_REC, None)
                } else {
                    (MsFlags::MS_SLAVE | MsFlags::MS_REC, Some(flag))
                }
            }
        };
        let needs_cgroup =
            mounts.iter().any(|m| m.fstype.as_deref() == Some("cgroup") || m.fstype.as_deref() == Some("cgroup2"));
        let (cgroup_v1, cgroup_v2_path) = if needs_cgroup { cgroup_binds(cgroup_path)? } else { (Vec::new(), None) };
        // Only a fallback (see mount_all): without it the bind by path is tried and its error
        // reported.
        let rootfs_tree = if rootfs_idmapped.is_some() {
            rootfs_idmapped.clone()
        } else if userns && !rootless {
            let c = resolve::path_cstr(&rootfs)?;
            crate::sys::fs::open_tree_detached(&c, true).ok().map(Arc::new)
        } else {
            None
        };
        Ok(RootfsPlan {
            rootfs,
            root_propagation,
            late_propagation,
            mounts,
            populate_dev,
            devices,
            masked: linux
                .and_then(|l| l.masked_paths().clone())
                .unwrap_or_default()
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            readonly: linux
                .and_then(|l| l.readonly_paths().clone())
                .unwrap_or_default()
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            readonly_root: spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false),
            no_pivot,
            shared_mount_ns: false,
            rootfs_tree,
            rootfs_idmapped: rootfs_idmapped.is_some(),
            // Also when we run in a user namespace ourselves (root in rootless podman's): mknod
            // is refused there too, as runc's createDevices knows (RunningInUserNS).
            userns: userns || crate::namespaces::in_user_namespace(),
            rootless,
            cgroup_v1,
            cgroup_v2_path,
            cgroupns,
            cwd: None,
            sysctl: Vec::new(),
            mount_context: crate::security::lsm::mount_context(linux.and_then(|l| l.mount_label().as_deref()))?,
        })
    }
}

/// Rootless: `uid=`/`gid=` mount options must name ids mapped in the container's user
/// namespace (the kernel refuses others with EINVAL). A devpts `gid=` whose group is unmapped
/// (gid 5 with a single-entry map, as in runc's own default spec) is dropped, as runc 1.2 does:
/// pty slaves then belong to the caller's group. Any other unmapped id is refused by name, as
/// runc 1.1.5 refuses it.
pub(super) fn rootless_id_options(
    opts: &mut options::MountOptions,
    i: usize,
    fstype: Option<&str>,
    linux: Option<&oci_spec::runtime::Linux>,
) -> Result<()> {
    let mapped = |maps: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>, id: u32| {
        maps.is_some_and(|m| m.iter().any(|e| id >= e.container_id() && (id - e.container_id()) < e.size()))
    };
    let mut keep = Vec::with_capacity(opts.data.len());
    for d in std::mem::take(&mut opts.data) {
        let (key, val) = d.split_once('=').unwrap_or((&d, ""));
        let maps = match key {
            "uid" => linux.and_then(|l| l.uid_mappings().as_ref()),
            "gid" => linux.and_then(|l| l.gid_mappings().as_ref()),
            _ => {
                keep.push(d);
                continue;
            }
        };
        let Ok(id) = val.parse::<u32>() else {
            keep.push(d);
            continue;
        };
        if mapped(maps, id) {
            keep.push(d);
        } else if key == "gid" && fstype == Some("devpts") {
            crate::logging::debug(&format!("mounts[{i}].options: dropping {d}: gid {id} is not mapped (rootless)"));
        } else {
            return Err(Error::invalid_spec(format!(
                "mounts[{i}].options: {d}: {key} {id} is not mapped in the container's user namespace (a rootless \
                 container can only use mapped ids)"
            )));
        }
    }
    opts.data = keep;
    Ok(())
}

/// The container's cgroup in each mounted hierarchy of the host: v1 hierarchies from
/// /proc/self/mountinfo, or the unified path on a pure v2 host.
pub(super) fn cgroup_binds(cgroup_path: &str) -> Result<(Vec<CgroupBind>, Option<PathBuf>)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    let rel = cgroup_path.trim_start_matches('/');
    let mut v1 = Vec::new();
    let mut v2_root = None;
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or("");
        let super_opts = post.nth(1).unwrap_or("");
        let mount_point = pre.split(' ').nth(4).unwrap_or("");
        if fstype == "cgroup2" && mount_point == "/sys/fs/cgroup" {
            v2_root = Some(PathBuf::from(mount_point).join(rel));
        }
        if fstype != "cgroup" {
            continue;
        }
        let name = Path::new(mount_point).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let known = [
            "cpu",
            "cpuacct",
            "cpuset",
            "memory",
            "devices",
            "freezer",
            "blkio",
            "pids",
            "net_cls",
            "net_prio",
            "hugetlb",
            "perf_event",
            "rdma",
            "misc",
        ];
        let links = if name.contains(',') {
            name.split(',').filter(|c| known.contains(c)).map(str::to_string).collect()
        } else {
            Vec::new()
        };
        let _ = super_opts;
        v1.push(CgroupBind { host_path: PathBuf::from(mount_point).join(rel), name, links });
    }
    if v1.is_empty() {
        return Ok((v1, v2_root));
    }
    Ok((v1, None))
}

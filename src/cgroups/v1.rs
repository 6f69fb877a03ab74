//! cgroup v1 / hybrid back end: one directory per mounted hierarchy (each at its own path when the
//! caller sits in different cgroups per hierarchy), limits mapped onto v1 controllers.

use std::fs;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};
use serde_json::Value;

use super::devices::{self, device_rules};
use super::files::{all_pids, mkdir_leaf, read_trimmed, write_file};
use super::hugetlb::{apply_hugetlb_unified, hugetlb_stats_v2, validate_page_size};
use super::limits;
use super::mounts::CgroupMounts;
use super::stats::{stats_to_runc, v1_stats};
use super::{under, CgroupConfig, CGROUP_PROCS, UNIFIED_KEY};
use crate::error::{Context, Error, Kind, Result};

/// One v1 hierarchy the container is placed in.
#[derive(Debug)]
pub(super) struct Hierarchy {
    pub(super) key: String,
    pub(super) controllers: Vec<String>,
    pub(super) mount: PathBuf,
    /// Path of the container's cgroup inside this hierarchy.
    pub(super) rel: String,
    pub(super) dir: PathBuf,
}

impl Hierarchy {
    pub(super) fn has(&self, ctrl: &str) -> bool {
        self.controllers.iter().any(|c| c == ctrl)
    }
}

pub(super) struct V1 {
    pub(super) hierarchies: Vec<Hierarchy>,
    /// Hybrid host: the container's directory in the cgroup2 hierarchy (mount, dir).
    pub(super) unified: Option<(PathBuf, PathBuf)>,
}

impl V1 {
    pub(super) fn new(cfg: &CgroupConfig, mounts: CgroupMounts) -> Self {
        let hierarchies = mounts
            .v1
            .into_iter()
            .map(|(key, controllers, mount)| {
                let rel = cfg.per_hierarchy.get(&key).unwrap_or(&cfg.path).clone();
                let dir = under(&mount, &rel);
                Hierarchy { key, controllers, mount, rel, dir }
            })
            .collect();
        let unified = mounts.unified.map(|m| {
            let rel = cfg.per_hierarchy.get(UNIFIED_KEY).unwrap_or(&cfg.path);
            let dir = under(&m, rel);
            (m, dir)
        });
        V1 { hierarchies, unified }
    }

    pub(super) fn hierarchy(&self, ctrl: &str) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.has(ctrl))
    }

    pub(super) fn freezer(&self) -> Option<&Path> {
        self.hierarchy("freezer").map(|h| h.dir.as_path())
    }

    pub(super) fn create(&self, resources: Option<&LinuxResources>) -> Result<()> {
        // Refuse what this host cannot do before any directory is made (runc validates the
        // config before its cgroup manager exists).
        if let Some(r) = resources {
            plan_v1(r, &|c| self.hierarchy(c).is_some(), self.unified.is_some())?;
        }
        let mut created = Vec::new();
        let r = self.create_dirs(&mut created).and_then(|()| match resources {
            Some(r) => self.apply(r),
            None => Ok(()),
        });
        if r.is_err() {
            for d in created.iter().rev() {
                let _ = fs::remove_dir(d);
            }
        }
        r
    }

    pub(super) fn create_dirs(&self, created: &mut Vec<PathBuf>) -> Result<()> {
        for h in &self.hierarchies {
            if mkdir_leaf(&h.dir)
                .map_err(|e| Error::io(e, format!("creating cgroup {} in the {} hierarchy", h.rel, h.key)))?
            {
                created.push(h.dir.clone());
            }
            if h.has("cpuset") {
                // A new v1 cpuset is empty and refuses tasks (ENOSPC) until cpus and mems are set.
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    inherit_cpuset(&h.mount, &h.dir, f)?;
                }
            }
        }
        if let Some((_, dir)) = &self.unified {
            // Best effort, as the unified hierarchy of a hybrid host only tracks processes (and
            // may not be writable for us): limits live in the v1 hierarchies.
            if let Ok(true) = mkdir_leaf(dir) {
                created.push(dir.clone());
            }
        }
        Ok(())
    }

    pub(super) fn add_task(&self, pid: Pid) -> Result<()> {
        let pid = pid.to_string();
        // The unified hierarchy first: its migration pays the kernel's RCU synchronisation of the
        // cgroup threadgroup lock (~0.6 ms here), which the v1 migrations right after then skip.
        // In the other order the first v1 write pays it too (~0.9 ms more per container).
        if let Some((_, dir)) = &self.unified {
            // Best effort like its creation: a failure here only loses cgroup.kill.
            let _ = write_file(&dir.join(CGROUP_PROCS), &pid);
        }
        for h in &self.hierarchies {
            write_file(&h.dir.join(CGROUP_PROCS), &pid)?;
        }
        Ok(())
    }

    pub(super) fn pids(&self) -> Result<Vec<Pid>> {
        // Like runc and libcgroups: the devices hierarchy is the reference (never optional).
        let dir = self
            .hierarchy("devices")
            .or(self.hierarchies.first())
            .map(|h| h.dir.as_path())
            .ok_or_else(|| Error::new(Kind::System, "no cgroup v1 hierarchy is mounted"))?;
        all_pids(dir)
    }

    pub(super) fn apply(&self, res: &LinuxResources) -> Result<()> {
        let plan = plan_v1(res, &|c| self.hierarchy(c).is_some(), self.unified.is_some())?;
        if let Some(rules) = &plan.devices {
            let h = self.hierarchy("devices").expect("checked by plan_v1");
            devices::transition(&h.dir, rules).context("applying device rules")?;
        }
        if plan.blkio_weight {
            let h = self.hierarchy("blkio").expect("checked by plan_v1");
            if !h.dir.join("blkio.weight").exists() && !h.dir.join("blkio.bfq.weight").exists() {
                return Err(Error::new(
                    Kind::System,
                    "setting blkio weight: this kernel has neither blkio.weight nor blkio.bfq.weight (no CFQ/BFQ \
                     I/O scheduler)",
                ));
            }
        }
        // Each controller is written in its own hierarchy's directory (per_hierarchy paths).
        if let Some(r) = &plan.resources {
            limits::apply(r, &|c| self.hierarchy(c).map(|h| h.dir.as_path()))?;
        }
        if !plan.hugetlb_v2.is_empty() {
            let (mount, dir) = self.unified.as_ref().expect("checked by plan_v1");
            apply_hugetlb_unified(mount, dir, &plan.hugetlb_v2)?;
        }
        Ok(())
    }

    /// Statistics read from each hierarchy's own directory.
    pub(super) fn stats(&self) -> Result<Value> {
        let stats = v1_stats(&|c| self.hierarchy(c).map(|h| h.dir.clone()))?;
        let mut v = stats_to_runc(&stats);
        // Hybrid host: hugetlb is only on the cgroup2 hierarchy.
        if self.hierarchy("hugetlb").is_none() {
            if let Some((_, dir)) = &self.unified {
                v["hugetlb"] = hugetlb_stats_v2(dir);
            }
        }
        Ok(v)
    }
}

/// What applying a LinuxResources on v1 takes, after working around libcgroups' gaps.
#[derive(Debug, Default)]
pub(super) struct V1Plan {
    /// The limits to write ([`limits::apply`]), devices and unified-hierarchy hugepages removed
    /// (None: nothing to write).
    pub(super) resources: Option<LinuxResources>,
    /// v1 controllers the limits are written to.
    pub(super) controllers: Vec<&'static str>,
    /// Hugepage limits for the cgroup2 hierarchy of a hybrid host: (page size, limit).
    pub(super) hugetlb_v2: Vec<(String, i64)>,
    /// A blkio weight is requested: check that this kernel has weight files.
    pub(super) blkio_weight: bool,
    /// The device rules to reach ([`devices::transition`]), when the resources have any.
    pub(super) devices: Option<Vec<LinuxDeviceCgroup>>,
}

pub(super) fn missing(ctrl: &str, what: &str) -> Error {
    Error::new(Kind::System, format!("setting {what}: the {ctrl} cgroup controller is not mounted on this host"))
}

/// Map linux.resources onto v1 controllers: which are needed, what libcgroups gets, what we write
/// ourselves, and a clear error for anything this host cannot do. `has` says whether a v1
/// controller is mounted; `hybrid` whether a cgroup2 hierarchy is mounted next to them.
pub(super) fn plan_v1(res: &LinuxResources, has: &dyn Fn(&str) -> bool, hybrid: bool) -> Result<V1Plan> {
    let mut plan = V1Plan::default();
    let mut r = res.clone();
    let need = |ctrl: &'static str, what: &str, plan: &mut V1Plan| -> Result<()> {
        if !has(ctrl) {
            return Err(missing(ctrl, what));
        }
        if !plan.controllers.contains(&ctrl) {
            plan.controllers.push(ctrl);
        }
        Ok(())
    };

    if let Some(u) = res.unified() {
        if !u.is_empty() {
            // runc: "invalid configuration: cannot use unified on cgroup v1".
            return Err(Error::new(
                Kind::InvalidSpec,
                "invalid configuration: linux.resources.unified: cannot use unified on cgroup v1 (cgroup v2 keys \
                 on a v1/hybrid host)",
            ));
        }
    }
    r.set_unified(None);
    if res.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        // Neither this host nor libcgroups has the rdma controller.
        return Err(missing("rdma", "rdma limits"));
    }
    r.set_rdma(None);

    if let Some(m) = res.memory() {
        let mut m = *m;
        // Kernel memory limits: kernels ≥ 5.16 accept the write and ignore it (the value stays
        // unlimited, checked on this host), and runc ≥ 1.1 ignores the field: drop it.
        m.set_kernel(None);
        let set = m.limit().is_some()
            || m.reservation().is_some()
            || m.swap().is_some()
            || m.kernel_tcp().is_some()
            || m.swappiness().is_some()
            || m.disable_oom_killer().is_some();
        if set {
            need("memory", "memory limits", &mut plan)?;
            r.set_memory(Some(m));
        } else {
            r.set_memory(None);
        }
    }

    if let Some(c) = res.cpu() {
        let cpu_set = c.shares().is_some()
            || c.quota().is_some()
            || c.period().is_some()
            || c.realtime_runtime().is_some()
            || c.realtime_period().is_some()
            || c.idle().is_some();
        if cpu_set || c.burst().is_some() {
            need("cpu", "cpu limits", &mut plan)?;
        }
        if c.cpus().is_some() || c.mems().is_some() {
            need("cpuset", "cpuset cpus/mems", &mut plan)?;
        }
        if !cpu_set && c.burst().is_none() && c.cpus().is_none() && c.mems().is_none() {
            r.set_cpu(None);
        }
    }

    if res.pids().is_some() {
        need("pids", "the pids limit", &mut plan)?;
    }

    if let Some(b) = res.block_io() {
        let throttle = nonempty(b.throttle_read_bps_device())
            || nonempty(b.throttle_write_bps_device())
            || nonempty(b.throttle_read_iops_device())
            || nonempty(b.throttle_write_iops_device());
        let weighted = b.weight().is_some_and(|w| w != 0)
            || b.leaf_weight().is_some_and(|w| w != 0)
            || nonempty(b.weight_device());
        if throttle || weighted {
            need("blkio", "blkio limits", &mut plan)?;
        }
        // blkio.weight exists only with the CFQ/BFQ schedulers: runc fails
        // with a bare ENOENT; say why instead (checked when applying).
        plan.blkio_weight = weighted;
        if !throttle && !weighted {
            r.set_block_io(None);
        }
    }

    if let Some(h) = res.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
        if has("hugetlb") {
            need("hugetlb", "hugepage limits", &mut plan)?;
        } else if hybrid {
            // The hugetlb controller is on the cgroup2 hierarchy here; libcgroups' v1 manager would
            // report it as "required but not supported".
            for l in h {
                validate_page_size(l.page_size())?;
                plan.hugetlb_v2.push((l.page_size().clone(), l.limit()));
            }
            r.set_hugepage_limits(None);
        } else {
            return Err(missing("hugetlb", "hugepage limits"));
        }
    } else {
        r.set_hugepage_limits(None);
    }

    if let Some(n) = res.network() {
        // libcgroups requires both net_cls and net_prio as soon as `network` is present.
        let class = n.class_id().is_some();
        let prio = n.priorities().as_ref().is_some_and(|p| !p.is_empty());
        if class {
            need("net_cls", "the network classID", &mut plan)?;
        }
        if prio {
            need("net_prio", "network priorities", &mut plan)?;
        }
        if class && !has("net_prio") || prio && !has("net_cls") {
            return Err(Error::new(
                Kind::System,
                "setting network classID/priorities: libcgroups needs both net_cls and net_prio mounted",
            ));
        }
        if !class && !prio {
            r.set_network(None);
        }
    }

    if res.devices().is_some() && !has("devices") {
        return Err(missing("devices", "device rules"));
    }

    if r.devices().is_some() {
        plan.devices = Some(device_rules(&r));
    }
    r.set_devices(None);
    let anything = r.memory().is_some()
        || r.cpu().is_some()
        || r.pids().is_some()
        || r.block_io().is_some()
        || r.hugepage_limits().is_some()
        || r.network().is_some();
    if anything {
        plan.resources = Some(r);
    }
    Ok(plan)
}

pub(super) fn nonempty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

/// Copy cpuset.cpus / cpuset.mems down from the nearest non-empty ancestor into every empty
/// cgroup between it and `dir`.
pub(super) fn inherit_cpuset(mount: &Path, dir: &Path, file: &str) -> Result<String> {
    let v = read_trimmed(&dir.join(file))?;
    if !v.is_empty() || dir == mount {
        return Ok(v);
    }
    let parent = dir.parent().unwrap_or(mount);
    let v = inherit_cpuset(mount, parent, file)?;
    write_file(&dir.join(file), &v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::super::mounts::parse_mountinfo;
    use super::super::path::resolve_relative;
    use super::*;
    use crate::error::Kind;
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxHugepageLimitBuilder, LinuxMemoryBuilder, LinuxNetworkBuilder,
        LinuxPidsBuilder, LinuxResourcesBuilder,
    };
    use std::collections::HashMap;

    #[test]
    fn v1_directories_follow_per_hierarchy_paths() {
        let mounts = parse_mountinfo(
            "1 0 0:1 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
             2 0 0:2 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             3 0 0:3 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n",
        );
        let cfg = resolve_relative("c1", "3:cpu,cpuacct:/\n2:memory:/agent/x\n0::/\n").unwrap();
        let v1 = V1::new(&cfg, mounts);
        let dirs: Vec<(&str, &Path)> = v1.hierarchies.iter().map(|h| (h.key.as_str(), h.dir.as_path())).collect();
        assert_eq!(
            dirs,
            [
                ("memory", Path::new("/sys/fs/cgroup/memory/agent/x/c1")),
                ("cpu,cpuacct", Path::new("/sys/fs/cgroup/cpu,cpuacct/c1")),
            ]
        );
        assert_eq!(v1.unified.as_ref().unwrap().1, Path::new("/sys/fs/cgroup/unified/c1"));
        assert_eq!(v1.freezer(), None);
        assert!(v1.hierarchy("cpuacct").is_some());
    }

    /// This host: v1 controllers except hugetlb/net_cls/net_prio/rdma, plus a cgroup2 hierarchy.
    fn host_has(c: &str) -> bool {
        ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"].contains(&c)
    }

    #[test]
    fn empty_resources_touch_nothing() {
        let r = LinuxResources::default();
        let p = plan_v1(&r, &host_has, true).unwrap();
        assert!(p.resources.is_none() && p.devices.is_none() && p.hugetlb_v2.is_empty());
        // Present but empty sections are dropped too.
        let r = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().build().unwrap())
            .cpu(LinuxCpuBuilder::default().build().unwrap())
            .network(LinuxNetworkBuilder::default().build().unwrap())
            .hugepage_limits(vec![])
            .build()
            .unwrap();
        let p = plan_v1(&r, &host_has, true).unwrap();
        assert!(p.resources.is_none(), "{p:?}");
    }

    #[test]
    fn resources_map_to_controllers() {
        let r = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(1 << 26).kernel(1 << 20).build().unwrap())
            .cpu(LinuxCpuBuilder::default().shares(512u64).cpus("0").build().unwrap())
            .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
            .build()
            .unwrap();
        let p = plan_v1(&r, &host_has, true).unwrap();
        assert_eq!(p.controllers, ["memory", "cpu", "cpuset", "pids"]);
        let lib = p.resources.unwrap();
        assert_eq!(lib.memory().unwrap().kernel(), None, "kernel memory is dropped");
        assert_eq!(lib.memory().unwrap().limit(), Some(1 << 26));

        // cpu burst alone is kept (libcgroups used to skip it).
        let r = LinuxResourcesBuilder::default()
            .cpu(LinuxCpuBuilder::default().burst(1000u64).build().unwrap())
            .build()
            .unwrap();
        let p = plan_v1(&r, &host_has, true).unwrap();
        assert_eq!(p.resources.as_ref().and_then(|r| r.cpu().as_ref()).and_then(|c| c.burst()), Some(1000));
        assert_eq!(p.controllers, ["cpu"]);

        // blkio weight: flagged for the weight-file check.
        let r = LinuxResourcesBuilder::default()
            .block_io(LinuxBlockIoBuilder::default().weight(500u16).build().unwrap())
            .build()
            .unwrap();
        let p = plan_v1(&r, &host_has, true).unwrap();
        assert!(p.blkio_weight);
        assert_eq!(p.controllers, ["blkio"]);
    }

    #[test]
    fn missing_controllers_are_named() {
        let hp = LinuxHugepageLimitBuilder::default().page_size("2MB").limit(1 << 21).build().unwrap();
        let r = LinuxResourcesBuilder::default().hugepage_limits(vec![hp]).build().unwrap();
        // Hybrid: hugetlb goes to the cgroup2 hierarchy.
        let p = plan_v1(&r, &host_has, true).unwrap();
        assert_eq!(p.hugetlb_v2, [("2MB".to_string(), 1 << 21)]);
        assert!(p.resources.is_none());
        // Pure v1 without hugetlb: an error naming it.
        let e = plan_v1(&r, &host_has, false).unwrap_err();
        assert!(e.to_string().contains("hugetlb cgroup controller is not mounted"), "{e}");

        let r = LinuxResourcesBuilder::default()
            .network(LinuxNetworkBuilder::default().class_id(0x100001u32).build().unwrap())
            .build()
            .unwrap();
        let e = plan_v1(&r, &host_has, true).unwrap_err();
        assert!(e.to_string().contains("net_cls"), "{e}");

        let r = LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
            .build()
            .unwrap();
        let e = plan_v1(&r, &|c| c != "pids" && host_has(c), true).unwrap_err();
        assert_eq!(e.to_string(), "setting the pids limit: the pids cgroup controller is not mounted on this host");

        let r = LinuxResourcesBuilder::default()
            .unified(HashMap::from([("memory.max".to_string(), "1".to_string())]))
            .build()
            .unwrap();
        let e = plan_v1(&r, &host_has, true).unwrap_err();
        assert_eq!(e.kind(), Kind::InvalidSpec);

        let bad = LinuxHugepageLimitBuilder::default().page_size("3MB").limit(1).build().unwrap();
        let r = LinuxResourcesBuilder::default().hugepage_limits(vec![bad]).build().unwrap();
        assert!(plan_v1(&r, &host_has, true).unwrap_err().to_string().contains("3MB"));
    }
}

//! cgroup v1 limits: linux.resources written controller by controller into the container's
//! directory of the hierarchy that holds each controller (which may sit at a different path in
//! each hierarchy), in runc's order and with runc's write sequences. Runs in `create`/`run` (the
//! runtime process, before the init joins) and in `update`.

use std::path::Path;

use nix::errno::Errno;
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources, LinuxThrottleDevice};

use super::files::{read_trimmed, write_file};
use crate::error::{Context, Error, Kind, Result};

/// The container's directory for a v1 controller (None: not mounted; `plan_v1` has already
/// refused resources whose controller is missing).
pub(super) type DirOf<'a> = &'a dyn Fn(&str) -> Option<&'a Path>;

/// Write every set field of `res` except devices, hugepages on the unified hierarchy and the
/// fields `plan_v1` routes elsewhere. Controllers in runc's order: cpuset, memory, cpu, pids,
/// blkio, hugetlb, net_cls, net_prio.
pub(super) fn apply(res: &LinuxResources, dir: DirOf) -> Result<()> {
    let need = |ctrl: &str| {
        dir(ctrl).ok_or_else(|| {
            Error::new(Kind::System, format!("the {ctrl} cgroup controller is not mounted on this host"))
        })
    };
    if let Some(c) = res.cpu() {
        if c.cpus().is_some() || c.mems().is_some() {
            cpuset(c, need("cpuset")?)?;
        }
    }
    if let Some(m) = res.memory() {
        memory(m, need("memory")?).context("setting memory limits")?;
    }
    if let Some(c) = res.cpu() {
        let any = c.shares().is_some()
            || c.quota().is_some()
            || c.period().is_some()
            || c.burst().is_some()
            || c.realtime_runtime().is_some()
            || c.realtime_period().is_some()
            || c.idle().is_some();
        if any {
            cpu(c, need("cpu")?).context("setting cpu limits")?;
        }
    }
    if let Some(p) = res.pids() {
        let v = if p.limit() > 0 { p.limit().to_string() } else { "max".to_string() };
        write_file(&need("pids")?.join("pids.max"), &v).context("setting the pids limit")?;
    }
    if let Some(b) = res.block_io() {
        blkio(b, need("blkio")?).context("setting blkio limits")?;
    }
    for l in res.hugepage_limits().iter().flatten() {
        let d = need("hugetlb")?;
        write_file(&d.join(format!("hugetlb.{}.limit_in_bytes", l.page_size())), &l.limit().to_string())?;
    }
    if let Some(n) = res.network() {
        if let Some(id) = n.class_id() {
            write_file(&need("net_cls")?.join("net_cls.classid"), &id.to_string())?;
        }
        for p in n.priorities().iter().flatten() {
            write_file(&need("net_prio")?.join("net_prio.ifpriomap"), &format!("{} {}", p.name(), p.priority()))?;
        }
    }
    Ok(())
}

fn cpuset(c: &LinuxCpu, dir: &Path) -> Result<()> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        write_file(&dir.join("cpuset.cpus"), cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        write_file(&dir.join("cpuset.mems"), mems)?;
    }
    Ok(())
}

/// runc's memory Set: limit and memsw in the order the kernel accepts (memsw ≥ limit at every
/// step), then reservation, kernel TCP, OOM killer, swappiness. Kernel memory limits are
/// ignored (this kernel has none, and runc ≥ 1.1 ignores them).
fn memory(m: &LinuxMemory, dir: &Path) -> Result<()> {
    const LIMIT: &str = "memory.limit_in_bytes";
    const MEMSW: &str = "memory.memsw.limit_in_bytes";
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    if limit == -1 && swap == 0 {
        swap = -1;
    }
    if limit != 0 && swap != 0 {
        let cur: i128 = read_trimmed(&dir.join(LIMIT))?.parse().unwrap_or(i128::MAX);
        if swap == -1 || cur < i128::from(swap) {
            write_file(&dir.join(MEMSW), &swap.to_string())?;
            write_file(&dir.join(LIMIT), &limit.to_string())?;
        } else {
            write_file(&dir.join(LIMIT), &limit.to_string())?;
            write_file(&dir.join(MEMSW), &swap.to_string())?;
        }
    } else {
        if limit != 0 {
            write_file(&dir.join(LIMIT), &limit.to_string())?;
        }
        if swap != 0 {
            write_file(&dir.join(MEMSW), &swap.to_string())?;
        }
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        write_file(&dir.join("memory.soft_limit_in_bytes"), &r.to_string())?;
    }
    if let Some(t) = m.kernel_tcp().filter(|t| *t != 0) {
        write_file(&dir.join("memory.kmem.tcp.limit_in_bytes"), &t.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        write_file(&dir.join("memory.oom_control"), "1")?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Error::invalid_spec(format!(
                "linux.resources.memory.swappiness: invalid value {s} (valid range is 0-100)"
            )));
        }
        write_file(&dir.join("memory.swappiness"), &s.to_string())?;
    }
    Ok(())
}

/// runc's cpu Set. The period goes first, but a kernel refusal of it (EINVAL: with the current
/// quota, the new period would exceed the parent's limit, as in a pod cgroup with a pod-level
/// limit) is retried after the quota is written, when a quota is part of the update.
fn cpu(c: &LinuxCpu, dir: &Path) -> Result<()> {
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        write_file(&dir.join("cpu.shares"), &s.to_string())?;
        let got: u64 = read_trimmed(&dir.join("cpu.shares"))?.parse().unwrap_or(s);
        if got != s {
            let which = if s > got { "maximum" } else { "minimum" };
            return Err(Error::new(
                Kind::InvalidSpec,
                format!("linux.resources.cpu.shares: {s} is out of range (the {which} allowed cpu-shares is {got})"),
            ));
        }
    }
    let quota = c.quota().filter(|q| *q != 0);
    let mut period_later = None;
    if let Some(p) = c.period().filter(|p| *p != 0) {
        match write_file(&dir.join("cpu.cfs_period_us"), &p.to_string()) {
            Err(e) if e.errno() == Some(Errno::EINVAL) && quota.is_some() => period_later = Some(p),
            r => r?,
        }
    }
    if let Some(q) = quota {
        write_file(&dir.join("cpu.cfs_quota_us"), &q.to_string())?;
    }
    if let Some(p) = period_later {
        write_file(&dir.join("cpu.cfs_period_us"), &p.to_string())?;
    }
    if let Some(b) = c.burst() {
        write_file(&dir.join("cpu.cfs_burst_us"), &b.to_string())?;
    }
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        write_file(&dir.join("cpu.rt_period_us"), &p.to_string())?;
    }
    if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
        write_file(&dir.join("cpu.rt_runtime_us"), &r.to_string())?;
    }
    if let Some(i) = c.idle() {
        write_file(&dir.join("cpu.idle"), &i.to_string())?;
    }
    Ok(())
}

/// runc's blkio Set: weights (CFQ's files, else BFQ's), per-device weights, throttles. A weight
/// file this kernel lacks is named in the error.
fn blkio(b: &LinuxBlockIo, dir: &Path) -> Result<()> {
    let weight_file = |cfq: &str, bfq: &str| -> Result<std::path::PathBuf> {
        let p = dir.join(cfq);
        if p.exists() {
            return Ok(p);
        }
        let q = dir.join(bfq);
        if q.exists() {
            return Ok(q);
        }
        Err(Error::new(Kind::System, format!("this kernel has neither {cfq} nor {bfq} (no CFQ/BFQ I/O scheduler)")))
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        write_file(&weight_file("blkio.weight", "blkio.bfq.weight")?, &w.to_string())
            .context("setting blkio weight")?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        let p = dir.join("blkio.leaf_weight");
        if !p.exists() {
            return Err(Error::new(
                Kind::System,
                "setting blkio leafWeight: this kernel has no blkio.leaf_weight (only the CFQ scheduler had it)",
            ));
        }
        write_file(&p, &w.to_string())?;
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            let f = weight_file("blkio.weight_device", "blkio.bfq.weight_device")?;
            write_file(&f, &format!("{}:{} {w}", wd.major(), wd.minor()))?;
        }
        if let Some(w) = wd.leaf_weight() {
            let p = dir.join("blkio.leaf_weight_device");
            if !p.exists() {
                return Err(Error::new(
                    Kind::System,
                    "setting blkio leafWeight: this kernel has no blkio.leaf_weight_device (only the CFQ scheduler \
                     had it)",
                ));
            }
            write_file(&p, &format!("{}:{} {w}", wd.major(), wd.minor()))?;
        }
    }
    let throttle = |file: &str, devs: &Option<Vec<LinuxThrottleDevice>>| -> Result<()> {
        for d in devs.iter().flatten() {
            write_file(&dir.join(file), &format!("{}:{} {}", d.major(), d.minor(), d.rate()))?;
        }
        Ok(())
    };
    throttle("blkio.throttle.read_bps_device", b.throttle_read_bps_device())?;
    throttle("blkio.throttle.write_bps_device", b.throttle_write_bps_device())?;
    throttle("blkio.throttle.read_iops_device", b.throttle_read_iops_device())?;
    throttle("blkio.throttle.write_iops_device", b.throttle_write_iops_device())?;
    Ok(())
}

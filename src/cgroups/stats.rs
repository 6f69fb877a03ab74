//! Statistics in the shape of runc's `events --stats` data.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use libcgroups::stats::{BlkioDeviceStat, Stats};
use serde_json::{json, Value};

use super::files::read_trimmed;
use crate::error::{Error, Kind, Result};

/// v2's cpu.stat counts microseconds and libcgroups passes them on; runc's stats (and v1's
/// cpuacct) are nanoseconds.
pub(super) fn v2_cpu_ns(mut s: Stats) -> Stats {
    let u = &mut s.cpu.usage;
    for v in [&mut u.usage_total, &mut u.usage_user, &mut u.usage_kernel, &mut s.cpu.throttling.throttled_time] {
        *v = v.saturating_mul(1000);
    }
    s
}

/// libcgroups' Stats → the `data` object of runc's stats event (runc's types.Stats field names).
pub(super) fn stats_to_runc(s: &Stats) -> Value {
    let mem_entry = |d: &libcgroups::stats::MemoryData| json!({"limit": d.limit, "usage": d.usage, "max": d.max_usage, "failcnt": d.fail_count});
    let blk = |v: &[libcgroups::stats::BlkioDeviceStat]| -> Value {
        v.iter()
            .map(|e| {
                json!({"major": e.major, "minor": e.minor, "op": e.op_type.clone().unwrap_or_default(), "value": e.value})
            })
            .collect()
    };
    let raw: serde_json::Map<String, Value> =
        s.memory.stats.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<BTreeMap<_, _>>().into_iter().collect();
    let hugetlb: serde_json::Map<String, Value> = s
        .hugetlb
        .iter()
        .map(|(k, h)| (k.clone(), json!({"usage": h.usage, "max": h.max_usage, "failcnt": h.fail_count})))
        .collect::<HashMap<_, _>>()
        .into_iter()
        .collect();
    let u = &s.cpu.usage;
    json!({
        "cpu": {
            "usage": {
                "total": u.usage_total,
                "percpu": u.per_core_usage_total,
                "percpu_kernel": u.per_core_usage_kernel,
                "percpu_user": u.per_core_usage_user,
                "kernel": u.usage_kernel,
                "user": u.usage_user,
            },
            "throttling": {
                "periods": s.cpu.throttling.periods,
                "throttledPeriods": s.cpu.throttling.throttled_periods,
                "throttledTime": s.cpu.throttling.throttled_time,
            },
        },
        "memory": {
            "cache": s.memory.cache,
            "usage": mem_entry(&s.memory.memory),
            "swap": mem_entry(&s.memory.memswap),
            "kernel": mem_entry(&s.memory.kernel),
            "kernelTCP": mem_entry(&s.memory.kernel_tcp),
            "raw": raw,
        },
        "pids": {"current": s.pids.current, "limit": s.pids.limit},
        "blkio": {
            "ioServiceBytesRecursive": blk(&s.blkio.service_bytes),
            "ioServicedRecursive": blk(&s.blkio.serviced),
            "ioQueueRecursive": blk(&s.blkio.queued),
            "ioServiceTimeRecursive": blk(&s.blkio.service_time),
            "ioWaitTimeRecursive": blk(&s.blkio.wait_time),
            "ioMergedRecursive": blk(&s.blkio.merged),
            "ioTimeRecursive": blk(&s.blkio.time),
            "sectorsRecursive": blk(&s.blkio.sectors),
        },
        "hugetlb": hugetlb,
    })
}

/// cpuacct.stat counts USER_HZ (100 on Linux) ticks.
const NS_PER_TICK: u64 = 1_000_000_000 / 100;

/// cgroup v1 statistics read from each controller's own directory (`dir`: the container's
/// directory in the hierarchy holding a controller), so that a container placed at different
/// paths in different hierarchies is read where it is. The files libcgroups' v1 reader reads;
/// a controller that is not mounted leaves its part zeroed.
pub(super) fn v1_stats(dir: &dyn Fn(&str) -> Option<PathBuf>) -> Result<Stats> {
    let mut s = Stats::default();
    if let Some(d) = dir("cpu") {
        let t = flat(&d.join("cpu.stat"))?;
        s.cpu.throttling.periods = t.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttling.throttled_periods = t.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttling.throttled_time = t.get("throttled_time").copied().unwrap_or(0);
    }
    if let Some(d) = dir("cpuacct") {
        let u = &mut s.cpu.usage;
        let t = flat(&d.join("cpuacct.stat"))?;
        // USER_HZ ticks, in nanoseconds as runc reports them.
        u.usage_user = t.get("user").copied().unwrap_or(0).saturating_mul(NS_PER_TICK);
        u.usage_kernel = t.get("system").copied().unwrap_or(0).saturating_mul(NS_PER_TICK);
        u.usage_total = number(&d.join("cpuacct.usage"))?;
        u.per_core_usage_total = read_trimmed(&d.join("cpuacct.usage_percpu"))?
            .split_ascii_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if let Ok(all) = read_trimmed(&d.join("cpuacct.usage_all")) {
            for l in all.lines().skip(1) {
                let f: Vec<&str> = l.split_ascii_whitespace().collect();
                if let [_, user, sys] = f[..] {
                    u.per_core_usage_user.push(user.parse().unwrap_or(0));
                    u.per_core_usage_kernel.push(sys.parse().unwrap_or(0));
                }
            }
        }
    }
    if let Some(d) = dir("pids") {
        s.pids.current = number(&d.join("pids.current"))?;
        // "max" (no limit) reads as 0, as runc reports it.
        s.pids.limit = read_trimmed(&d.join("pids.max"))?.parse().unwrap_or(0);
    }
    if let Some(d) = dir("memory") {
        let m = &mut s.memory;
        for (data, prefix) in [
            (&mut m.memory, "memory"),
            (&mut m.memswap, "memory.memsw"),
            (&mut m.kernel, "memory.kmem"),
            (&mut m.kernel_tcp, "memory.kmem.tcp"),
        ] {
            let f = |n: &str| number(&d.join(format!("{prefix}.{n}"))).unwrap_or(0);
            data.usage = f("usage_in_bytes");
            data.max_usage = f("max_usage_in_bytes");
            data.limit = f("limit_in_bytes");
            data.fail_count = f("failcnt");
        }
        m.hierarchy = read_trimmed(&d.join("memory.use_hierarchy")).is_ok_and(|v| v == "1");
        m.stats = flat(&d.join("memory.stat"))?;
        m.cache = m.stats.get("cache").copied().unwrap_or(0);
    }
    if let Some(d) = dir("blkio") {
        let b = &mut s.blkio;
        if d.join("blkio.weight").exists() {
            b.time = blkio_file(&d.join("blkio.time_recursive"));
            b.sectors = blkio_file(&d.join("blkio.sectors_recursive"));
            b.service_bytes = blkio_file(&d.join("blkio.io_service_bytes_recursive"));
            b.serviced = blkio_file(&d.join("blkio.io_serviced_recursive"));
            b.service_time = blkio_file(&d.join("blkio.io_service_time_recursive"));
            b.wait_time = blkio_file(&d.join("blkio.io_wait_time_recursive"));
            b.queued = blkio_file(&d.join("blkio.io_queued_recursive"));
            b.merged = blkio_file(&d.join("blkio.io_merged_recursive"));
        } else {
            b.service_bytes = blkio_file(&d.join("blkio.throttle.io_service_bytes"));
            b.serviced = blkio_file(&d.join("blkio.throttle.io_serviced"));
        }
    }
    if let Some(d) = dir("hugetlb") {
        for size in libcgroups::stats::supported_page_sizes().unwrap_or_default() {
            let f = |n: &str| number(&d.join(format!("hugetlb.{size}.{n}"))).unwrap_or(0);
            let h = libcgroups::stats::HugeTlbStats {
                usage: f("usage_in_bytes"),
                max_usage: f("max_usage_in_bytes"),
                fail_count: f("failcnt"),
            };
            s.hugetlb.insert(size, h);
        }
    }
    Ok(s)
}

/// A single-number cgroup file ("max" reads as u64::MAX).
fn number(path: &Path) -> Result<u64> {
    let v = read_trimmed(path)?;
    if v == "max" {
        return Ok(u64::MAX);
    }
    v.parse().map_err(|_| Error::new(Kind::System, format!("parsing {}: not a number: {v:?}", path.display())))
}

fn flat(path: &Path) -> Result<HashMap<String, u64>> {
    let text = read_trimmed(path)?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect())
}

/// "MAJ:MIN Op value" (or "MAJ:MIN value") lines; an unreadable file has none.
fn blkio_file(path: &Path) -> Vec<BlkioDeviceStat> {
    let text = read_trimmed(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_ascii_whitespace().collect();
            let (dev, op, value) = match f[..] {
                [dev, op, v] => (dev, Some(op.to_string()), v),
                [dev, v] => (dev, None, v),
                _ => return None,
            };
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioDeviceStat {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op_type: op,
                value: value.parse().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_have_runc_shape() {
        let mut s = Stats::default();
        s.memory.memory.limit = 42;
        s.pids.current = 3;
        s.memory.stats.insert("cache".into(), 7);
        let v = stats_to_runc(&s);
        assert_eq!(v["memory"]["usage"]["limit"], 42);
        assert_eq!(v["memory"]["raw"]["cache"], 7);
        assert_eq!(v["pids"]["current"], 3);
        for k in ["cpu", "memory", "pids", "blkio", "hugetlb"] {
            assert!(v.get(k).is_some(), "{k} missing");
        }
        assert!(v["cpu"]["throttling"].get("throttledPeriods").is_some());
        assert!(v["blkio"]["ioServiceBytesRecursive"].is_array());
    }

    #[test]
    fn v2_cpu_stats_are_nanoseconds() {
        let mut s = Stats::default();
        s.cpu.usage.usage_total = 240840;
        s.cpu.usage.usage_user = 2;
        s.cpu.usage.usage_kernel = 3;
        s.cpu.throttling.throttled_time = 4;
        let v = stats_to_runc(&v2_cpu_ns(s));
        assert_eq!(v["cpu"]["usage"]["total"], 240840000u64);
        assert_eq!(v["cpu"]["usage"]["user"], 2000);
        assert_eq!(v["cpu"]["usage"]["kernel"], 3000);
        assert_eq!(v["cpu"]["throttling"]["throttledTime"], 4000);
    }
}

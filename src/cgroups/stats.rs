//! Statistics in the shape of runc's `events --stats` data.

use std::collections::{BTreeMap, HashMap};

use libcgroups::stats::Stats;
use serde_json::{json, Value};

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

//! runtime-spec 1.2/1.3 process attributes: personality, scheduler, I/O priority, memory
//! policy and exec CPU affinity. Validated and encoded in the runtime (pure, unit-tested);
//! applied by the container process right before the user switch, while it still holds its
//! capabilities (SCHED_FIFO and friends need CAP_SYS_NICE).

use nix::sched::CpuSet;
use nix::unistd::Pid;
use oci_spec::runtime::{
    IOPriorityClass, LinuxMemoryPolicy, LinuxPersonality, LinuxPersonalityDomain, LinuxSchedulerFlag,
    LinuxSchedulerPolicy, MemoryPolicyFlagType, MemoryPolicyModeType, Process,
};

use crate::error::{Context, Error, Result};
use crate::sys::sched::{ioprio_set, personality, sched_setattr, set_mempolicy, SchedAttr};

#[derive(Debug, Default, Clone)]
pub struct ProcessAttrs {
    pub personality: Option<u64>,
    pub scheduler: Option<SchedAttr>,
    pub ioprio: Option<i32>,
    /// (mode | flags, node mask words)
    pub mempolicy: Option<(i32, Vec<u64>)>,
    /// CPUs for the runtime's set-up process (applied by the parent right after fork).
    pub affinity_initial: Option<CpuSet>,
    /// CPUs for the workload (applied by the process itself before exec).
    pub affinity_final: Option<CpuSet>,
}

/// "0-3,7" → CPU or node numbers.
pub fn parse_list(s: &str, what: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || Error::invalid_spec(format!("{what}: invalid list {s:?}"));
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b || b >= 1 << 16 {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    if out.is_empty() {
        return Err(Error::invalid_spec(format!("{what}: empty list {s:?}")));
    }
    Ok(out)
}

fn cpuset(s: &str, what: &str) -> Result<CpuSet> {
    let mut set = CpuSet::new();
    for cpu in parse_list(s, what)? {
        set.set(cpu).map_err(|_| Error::invalid_spec(format!("{what}: CPU {cpu} is out of range")))?;
    }
    Ok(set)
}

fn online_nodes() -> Vec<usize> {
    std::fs::read_to_string("/sys/devices/system/node/online")
        .ok()
        .and_then(|s| parse_list(s.trim(), "online nodes").ok())
        .unwrap_or_else(|| vec![0])
}

pub fn encode_personality(p: &LinuxPersonality) -> Result<u64> {
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(Error::invalid_spec("linux.personality.flags: no personality flags are supported"));
    }
    Ok(match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    })
}

pub fn encode_scheduler(s: &oci_spec::runtime::Scheduler) -> Result<SchedAttr> {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    };
    let mut flags = 0u64;
    for f in s.flags().as_deref().unwrap_or_default() {
        flags |= match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        };
    }
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(Error::invalid_spec(format!("process.scheduler.nice: {nice} is outside -20..19")));
    }
    let priority = s.priority().unwrap_or(0);
    let realtime = policy == 1 || policy == 2;
    if realtime && !(1..=99).contains(&priority) {
        return Err(Error::invalid_spec(format!(
            "process.scheduler.priority: {priority} is outside 1..99 for a real-time policy"
        )));
    }
    if !realtime && priority != 0 {
        return Err(Error::invalid_spec("process.scheduler.priority: only SCHED_FIFO and SCHED_RR take a priority"));
    }
    let (runtime, deadline, period) = (s.runtime().unwrap_or(0), s.deadline().unwrap_or(0), s.period().unwrap_or(0));
    if policy == 6 && !(runtime > 0 && runtime <= deadline && (period == 0 || deadline <= period)) {
        return Err(Error::invalid_spec("process.scheduler: SCHED_DEADLINE needs 0 < runtime <= deadline <= period"));
    }
    Ok(SchedAttr {
        size: 0,
        sched_policy: policy,
        sched_flags: flags,
        sched_nice: nice,
        sched_priority: priority as u32,
        sched_runtime: runtime,
        sched_deadline: deadline,
        sched_period: period,
        sched_util_min: 0,
        sched_util_max: 1024,
    })
}

pub fn encode_ioprio(p: &oci_spec::runtime::LinuxIOPriority) -> Result<i32> {
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let prio = p.priority();
    if !(0..=7).contains(&prio) {
        return Err(Error::invalid_spec(format!("process.ioPriority.priority: {prio} is outside 0..7")));
    }
    Ok((class << 13) | prio as i32)
}

pub fn encode_mempolicy(m: &LinuxMemoryPolicy, online: &[usize]) -> Result<(i32, Vec<u64>)> {
    let mode = match m.mode() {
        MemoryPolicyModeType::MpolDefault => 0,
        MemoryPolicyModeType::MpolPreferred => 1,
        MemoryPolicyModeType::MpolBind => 2,
        MemoryPolicyModeType::MpolInterleave => 3,
        MemoryPolicyModeType::MpolLocal => 4,
        MemoryPolicyModeType::MpolPreferredMany => 5,
        MemoryPolicyModeType::MpolWeightedInterleave => 6,
    };
    let mut flags = 0i32;
    for f in m.flags().as_deref().unwrap_or_default() {
        flags |= match f {
            MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
            MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
            MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
        };
    }
    if flags & (1 << 14) != 0 && flags & (1 << 15) != 0 {
        return Err(Error::invalid_spec(
            "linux.memoryPolicy.flags: MPOL_F_RELATIVE_NODES and MPOL_F_STATIC_NODES exclude each other",
        ));
    }
    let nodes = m.nodes().as_deref().unwrap_or("").trim();
    let needs_nodes = matches!(mode, 2 | 3 | 5 | 6);
    if (mode == 0 || mode == 4) && !nodes.is_empty() {
        return Err(Error::invalid_spec("linux.memoryPolicy.nodes: must be empty for MPOL_DEFAULT and MPOL_LOCAL"));
    }
    if needs_nodes && nodes.is_empty() {
        return Err(Error::invalid_spec("linux.memoryPolicy.nodes: this mode needs a node list"));
    }
    let mut mask = Vec::new();
    if !nodes.is_empty() {
        for n in parse_list(nodes, "linux.memoryPolicy.nodes")? {
            // Relative node numbers are relative to the allowed set: any number is valid.
            if flags & (1 << 14) == 0 && !online.contains(&n) {
                return Err(Error::invalid_spec(format!(
                    "linux.memoryPolicy.nodes: node {n} is not online on this host (online: {online:?})"
                )));
            }
            if mask.len() <= n / 64 {
                mask.resize(n / 64 + 1, 0);
            }
            mask[n / 64] |= 1u64 << (n % 64);
        }
    }
    Ok((mode | flags, mask))
}

impl ProcessAttrs {
    pub fn from_spec(process: &Process, linux: Option<&oci_spec::runtime::Linux>) -> Result<Self> {
        let mut a = ProcessAttrs::default();
        if let Some(p) = linux.and_then(|l| l.personality().as_ref()) {
            a.personality = Some(encode_personality(p)?);
        }
        if let Some(m) = linux.and_then(|l| l.memory_policy().as_ref()) {
            a.mempolicy = Some(encode_mempolicy(m, &online_nodes())?);
        }
        if let Some(s) = process.scheduler() {
            a.scheduler = Some(encode_scheduler(s)?);
        }
        if let Some(p) = process.io_priority() {
            a.ioprio = Some(encode_ioprio(p)?);
        }
        if let Some(aff) = process.exec_cpu_affinity() {
            if let Some(i) = aff.initial() {
                a.affinity_initial = Some(cpuset(i, "process.execCPUAffinity.initial")?);
            }
            match aff.cpu_affinity_final() {
                Some(f) => a.affinity_final = Some(cpuset(f, "process.execCPUAffinity.final")?),
                // Pinned for set-up only: the workload gets every CPU back (the kernel
                // intersects with the cgroup's cpuset).
                None if a.affinity_initial.is_some() => {
                    let online =
                        std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_else(|_| "0".into());
                    a.affinity_final = Some(cpuset(online.trim(), "online CPUs")?);
                }
                None => {}
            }
        }
        Ok(a)
    }

    /// Runtime side, right after fork: pin the set-up process to `initial`.
    pub fn pin_initial(&self, pid: Pid) -> Result<()> {
        if let Some(set) = &self.affinity_initial {
            nix::sched::sched_setaffinity(pid, set)
                .context("pinning the container process to execCPUAffinity.initial")?;
        }
        Ok(())
    }

    /// Container side, before the user switch.
    pub fn apply(&self) -> Result<()> {
        if let Some(p) = self.personality {
            personality(p).with_context(|| format!("setting personality {p:#x}"))?;
        }
        if let Some((mode, mask)) = &self.mempolicy {
            set_mempolicy(*mode, mask).context("setting the memory policy (linux.memoryPolicy)")?;
        }
        if let Some(v) = self.ioprio {
            ioprio_set(v).context("setting the I/O priority (process.ioPriority)")?;
        }
        if let Some(set) = &self.affinity_final {
            nix::sched::sched_setaffinity(Pid::from_raw(0), set).context("setting execCPUAffinity.final")?;
        }
        if let Some(attr) = &self.scheduler {
            sched_setattr(attr).context("setting the scheduler (process.scheduler)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(parse_list("0-2,5", "x").unwrap(), vec![0, 1, 2, 5]);
        assert!(parse_list("3-1", "x").is_err());
        assert!(parse_list("", "x").is_err());
        assert!(parse_list("a", "x").is_err());
    }

    #[test]
    fn scheduler_validation() {
        let s: oci_spec::runtime::Scheduler = serde_json::from_value(
            serde_json::json!({"policy": "SCHED_FIFO", "priority": 10, "flags": ["SCHED_RESET_ON_FORK"]}),
        )
        .unwrap();
        let a = encode_scheduler(&s).unwrap();
        assert_eq!((a.sched_policy, a.sched_priority, a.sched_flags), (1, 10, 1));
        let s: oci_spec::runtime::Scheduler =
            serde_json::from_value(serde_json::json!({"policy": "SCHED_FIFO"})).unwrap();
        assert!(encode_scheduler(&s).unwrap_err().to_string().contains("priority"));
        let s: oci_spec::runtime::Scheduler =
            serde_json::from_value(serde_json::json!({"policy": "SCHED_OTHER", "nice": 30})).unwrap();
        assert!(encode_scheduler(&s).unwrap_err().to_string().contains("nice"));
        let s: oci_spec::runtime::Scheduler =
            serde_json::from_value(serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 10, "deadline": 5}))
                .unwrap();
        assert!(encode_scheduler(&s).is_err());
    }

    #[test]
    fn ioprio_and_personality() {
        let p: oci_spec::runtime::LinuxIOPriority =
            serde_json::from_value(serde_json::json!({"class": "IOPRIO_CLASS_BE", "priority": 3})).unwrap();
        assert_eq!(encode_ioprio(&p).unwrap(), (2 << 13) | 3);
        let p: LinuxPersonality = serde_json::from_value(serde_json::json!({"domain": "LINUX32"})).unwrap();
        assert_eq!(encode_personality(&p).unwrap(), 8);
        let p: LinuxPersonality =
            serde_json::from_value(serde_json::json!({"domain": "LINUX", "flags": ["X"]})).unwrap();
        assert!(encode_personality(&p).is_err());
        assert!(serde_json::from_value::<LinuxPersonality>(serde_json::json!({"domain": "HPUX"})).is_err());
    }

    #[test]
    fn mempolicy_validation() {
        let m: LinuxMemoryPolicy = serde_json::from_value(
            serde_json::json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
        )
        .unwrap();
        assert_eq!(encode_mempolicy(&m, &[0]).unwrap(), (2 | 1 << 15, vec![1]));
        let m: LinuxMemoryPolicy =
            serde_json::from_value(serde_json::json!({"mode": "MPOL_BIND", "nodes": "5"})).unwrap();
        assert!(encode_mempolicy(&m, &[0]).unwrap_err().to_string().contains("not online"));
        let m: LinuxMemoryPolicy =
            serde_json::from_value(serde_json::json!({"mode": "MPOL_DEFAULT", "nodes": "0"})).unwrap();
        assert!(encode_mempolicy(&m, &[0]).is_err());
        let m: LinuxMemoryPolicy = serde_json::from_value(serde_json::json!({"mode": "MPOL_INTERLEAVE"})).unwrap();
        assert!(encode_mempolicy(&m, &[0]).is_err());
    }
}

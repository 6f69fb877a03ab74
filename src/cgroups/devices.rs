//! The v1 devices controller: the rules every container gets and how they are written.

use std::fs;
use std::io::Write;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxResources};

use crate::error::{Error, Result};

/// The device rules a container gets, in the order they are written: its own, then the devices
/// every container may use (null, zero, full, tty, urandom, random as "rwm"; mknod of any char or
/// block device; ptmx, pts, tun), appended as runc's specconv does, so that these allows win over
/// a config's denials of them. Unlike libcgroups (which also allows c 5:1), the host's
/// /dev/console is not among them, as in runc ≥ 1.0: a container's console is a pts.
pub fn device_rules(res: &LinuxResources) -> Vec<LinuxDeviceCgroup> {
    let rule = |typ, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut b = LinuxDeviceCgroupBuilder::default().allow(true).typ(typ).access(access);
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().expect("all fields set")
    };
    let mut rules = res.devices().clone().unwrap_or_default();
    for (major, minor) in [(1, 3), (1, 5), (1, 7), (5, 0), (1, 9), (1, 8)] {
        rules.push(rule(LinuxDeviceType::C, Some(major), Some(minor), "rwm"));
    }
    rules.push(rule(LinuxDeviceType::C, None, None, "m"));
    rules.push(rule(LinuxDeviceType::B, None, None, "m"));
    rules.push(rule(LinuxDeviceType::C, Some(136), None, "rwm"));
    rules.push(rule(LinuxDeviceType::C, Some(5), Some(2), "rwm"));
    rules.push(rule(LinuxDeviceType::C, Some(10), Some(200), "rwm"));
    rules
}

/// Whether a container's own rules allow the host console (c 5:1) in some way; if not, it is
/// denied after libcgroups has applied its defaults (which allow it).
pub(super) fn allows_console(res: &LinuxResources) -> bool {
    res.devices().iter().flatten().any(|d| {
        d.allow()
            && matches!(d.typ().unwrap_or_default(), LinuxDeviceType::A | LinuxDeviceType::C)
            && d.major().is_none_or(|m| m == 5)
            && d.minor().is_none_or(|m| m == 1)
    })
}

/// Program the v1 devices controller: one rule per write, to devices.allow or devices.deny.
pub(super) fn write_v1_devices(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let open = |name: &str| {
        let path = dir.join(name);
        fs::OpenOptions::new().write(true).open(&path).map_err(|e| Error::io(e, format!("opening {}", path.display())))
    };
    let (mut allow, mut deny) = (open("devices.allow")?, open("devices.deny")?);
    for r in rules {
        let (f, name) = if r.allow() { (&mut allow, "devices.allow") } else { (&mut deny, "devices.deny") };
        let line = r.to_string();
        f.write_all(line.as_bytes())
            .map_err(|e| Error::io(e, format!("writing {line:?} to {}", dir.join(name).display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::v1::plan_v1;
    use super::*;
    use oci_spec::runtime::{LinuxPidsBuilder, LinuxResourcesBuilder};

    /// This host: v1 controllers except hugetlb/net_cls/net_prio/rdma, plus a cgroup2 hierarchy.
    fn host_has(c: &str) -> bool {
        ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"].contains(&c)
    }

    #[test]
    fn device_rules_alone_skip_libcgroups_and_keep_its_order() {
        let deny_all = LinuxDeviceCgroupBuilder::default().allow(false).access("rwm").build().unwrap();
        let r = LinuxResourcesBuilder::default().devices(vec![deny_all.clone()]).build().unwrap();
        let p = plan_v1(&r, &host_has, true).unwrap();
        assert!(p.lib_resources.is_none(), "{p:?}");
        let rules: Vec<String> = p.devices_only.unwrap().iter().map(|d| d.to_string()).collect();
        assert_eq!(
            rules,
            [
                "a *:* rwm",
                "c 1:3 rwm",
                "c 1:5 rwm",
                "c 1:7 rwm",
                "c 5:0 rwm",
                "c 1:9 rwm",
                "c 1:8 rwm",
                "c *:* m",
                "b *:* m",
                "c 136:* rwm",
                "c 5:2 rwm",
                "c 10:200 rwm"
            ]
        );
        assert!(!device_rules(&r)[0].allow() && device_rules(&r)[1..].iter().all(|d| d.allow()));

        // With another controller to program, libcgroups gets everything (devices included).
        let r = LinuxResourcesBuilder::default()
            .devices(vec![deny_all])
            .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
            .build()
            .unwrap();
        let p = plan_v1(&r, &host_has, true).unwrap();
        assert!(p.devices_only.is_none());
        assert!(p.lib_resources.unwrap().devices().is_some());
    }
}

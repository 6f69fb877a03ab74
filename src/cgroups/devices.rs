//! The v1 devices controller: the rules every container gets and how they are written.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxResources};

use crate::error::{Error, Result};

/// The device rules a container gets, in the order they are written: its own, then the devices
/// every container may use (null, zero, full, tty, urandom, random as "rwm"; mknod of any char or
/// block device; ptmx, pts, tun), appended as runc's specconv does, so that these allows win over
/// a config's denials of them. Unlike libcgroups' defaults (which also allow c 5:1), the host's
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

/// What a v1 devices cgroup allows, as the kernel keeps it: a default (allow or deny all) and
/// exceptions to it, each (type, major, minor) with an access mask (r 1, w 2, m 4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct DeviceState {
    default_allow: bool,
    exceptions: BTreeMap<(char, String, String), u8>,
}

fn access_bits(s: &str) -> u8 {
    s.chars().fold(0, |m, c| {
        m | match c {
            'r' => 1,
            'w' => 2,
            'm' => 4,
            _ => 0,
        }
    })
}

fn access_text(bits: u8) -> String {
    [(1, 'r'), (2, 'w'), (4, 'm')].iter().filter(|(b, _)| bits & b != 0).map(|(_, c)| *c).collect()
}

impl DeviceState {
    /// The state a devices.list text shows: "a *:* rwm" alone is allow-all (the kernel lists no
    /// exceptions in that mode); anything else is deny-all with the listed allows.
    pub(super) fn from_list(text: &str) -> Self {
        let text = text.trim();
        if text == "a *:* rwm" {
            return DeviceState { default_allow: true, exceptions: BTreeMap::new() };
        }
        let mut st = DeviceState::default();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let [t, dev, acc] = f[..] {
                if let (Some(t), Some((maj, min))) = (t.chars().next(), dev.split_once(':')) {
                    *st.exceptions.entry((t, maj.to_string(), min.to_string())).or_default() |= access_bits(acc);
                }
            }
        }
        st
    }

    /// The state after the kernel applies `rules` in order to `self`.
    pub(super) fn with(mut self, rules: &[LinuxDeviceCgroup]) -> Self {
        for r in rules {
            let line = r.to_string();
            let f: Vec<&str> = line.split_whitespace().collect();
            let [t, dev, acc] = f[..] else { continue };
            let t = t.chars().next().unwrap_or('a');
            if t == 'a' {
                // Any "a" rule resets the cgroup to allow-all or deny-all.
                self.default_allow = r.allow();
                self.exceptions.clear();
                continue;
            }
            let Some((maj, min)) = dev.split_once(':') else { continue };
            let key = (t, maj.to_string(), min.to_string());
            let bits = access_bits(acc);
            if r.allow() == self.default_allow {
                // Takes access out of a matching exception.
                if let Some(a) = self.exceptions.get_mut(&key) {
                    *a &= !bits;
                    if *a == 0 {
                        self.exceptions.remove(&key);
                    }
                }
            } else {
                *self.exceptions.entry(key).or_default() |= bits;
            }
        }
        self
    }

    /// The writes (allow?, line) that take the kernel from `self` to `target`, as few as runc's
    /// devices emulator makes: a reset ("a" to devices.deny or devices.allow) only when the
    /// default changes (or an allow-all cgroup, whose exceptions cannot be listed, gets new ones),
    /// then the exceptions; otherwise only the missing allows, then the extra access denied.
    /// A device the target allows is never denied on the way, and a cgroup with children (where
    /// the kernel refuses a reset with EINVAL) can be reprogrammed as long as its default stays.
    pub(super) fn transition(&self, target: &DeviceState) -> Vec<(bool, String)> {
        let line = |(t, maj, min): &(char, String, String), bits: u8| format!("{t} {maj}:{min} {}", access_text(bits));
        let mut out = Vec::new();
        if self.default_allow != target.default_allow || (target.default_allow && self != target) {
            out.push((target.default_allow, "a".to_string()));
            for (k, bits) in &target.exceptions {
                out.push((!target.default_allow, line(k, *bits)));
            }
            return out;
        }
        for (k, bits) in &target.exceptions {
            let missing = bits & !self.exceptions.get(k).copied().unwrap_or(0);
            if missing != 0 {
                out.push((true, line(k, missing)));
            }
        }
        for (k, bits) in &self.exceptions {
            let extra = bits & !target.exceptions.get(k).copied().unwrap_or(0);
            if extra != 0 {
                out.push((false, line(k, extra)));
            }
        }
        out
    }
}

/// Bring the devices cgroup at `dir` to what `rules` (applied to a fresh, allow-all cgroup)
/// allow, with the minimal transition from what it allows now (devices.list).
pub(super) fn transition(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let list = dir.join("devices.list");
    let text = fs::read_to_string(&list).map_err(|e| Error::io(e, format!("reading {}", list.display())))?;
    let current = DeviceState::from_list(&text);
    let target = DeviceState { default_allow: true, exceptions: BTreeMap::new() }.with(rules);
    write_v1_devices(dir, &current.transition(&target))
}

/// Program the v1 devices controller: one rule per write, to devices.allow or devices.deny.
fn write_v1_devices(dir: &Path, writes: &[(bool, String)]) -> Result<()> {
    if writes.is_empty() {
        return Ok(());
    }
    let open = |name: &str| {
        let path = dir.join(name);
        fs::OpenOptions::new().write(true).open(&path).map_err(|e| Error::io(e, format!("opening {}", path.display())))
    };
    let (mut allow, mut deny) = (open("devices.allow")?, open("devices.deny")?);
    for (is_allow, line) in writes {
        let (f, name) = if *is_allow { (&mut allow, "devices.allow") } else { (&mut deny, "devices.deny") };
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
    fn device_rules_keep_runc_order() {
        let deny_all = LinuxDeviceCgroupBuilder::default().allow(false).access("rwm").build().unwrap();
        let r = LinuxResourcesBuilder::default().devices(vec![deny_all.clone()]).build().unwrap();
        let p = plan_v1(&r, &host_has, true).unwrap();
        assert!(p.resources.is_none(), "{p:?}");
        let rules: Vec<String> = p.devices.unwrap().iter().map(|d| d.to_string()).collect();
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

        // With another controller to program, the limits go without the devices.
        let r = LinuxResourcesBuilder::default()
            .devices(vec![deny_all])
            .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
            .build()
            .unwrap();
        let p = plan_v1(&r, &host_has, true).unwrap();
        assert!(p.devices.is_some());
        assert!(p.resources.unwrap().devices().is_none());
    }

    fn rule(allow: bool, t: LinuxDeviceType, maj: Option<i64>, min: Option<i64>, acc: &str) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default().allow(allow).typ(t).access(acc);
        if let Some(m) = maj {
            b = b.major(m);
        }
        if let Some(m) = min {
            b = b.minor(m);
        }
        b.build().unwrap()
    }

    #[test]
    fn device_transitions_are_minimal() {
        let deny_all = rule(false, LinuxDeviceType::A, None, None, "rwm");
        let r = LinuxResourcesBuilder::default()
            .devices(vec![deny_all, rule(true, LinuxDeviceType::C, Some(1), Some(11), "rw")])
            .build()
            .unwrap();
        let rules = device_rules(&r);
        let fresh = DeviceState::from_list("a *:* rwm\n");
        let target = fresh.clone().with(&rules);
        // From a fresh cgroup: the reset, then every allow.
        let w = fresh.transition(&target);
        assert_eq!(w[0], (false, "a".to_string()));
        assert!(w[1..].iter().all(|(allow, _)| *allow));
        assert!(w.contains(&(true, "c 1:11 rw".to_string())), "{w:?}");
        // What the kernel then lists: no write at all.
        let list = "c 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 5:0 rwm\nc 1:9 rwm\nc 1:8 rwm\nc *:* m\nb *:* m\n\
                    c 136:* rwm\nc 5:2 rwm\nc 10:200 rwm\nc 1:11 rw\n";
        assert_eq!(DeviceState::from_list(list), target);
        assert_eq!(DeviceState::from_list(list).transition(&target), []);
        // One more allow and an access less: no reset, allows first.
        let now = DeviceState::from_list(&format!("{list}c 4:1 rwm\n")).with(&[rule(
            false,
            LinuxDeviceType::C,
            Some(1),
            Some(11),
            "w",
        )]);
        assert_eq!(now.transition(&target), [(true, "c 1:11 w".to_string()), (false, "c 4:1 rwm".to_string())]);
        // Back to allow-all.
        let open = fresh.clone().with(&[rule(true, LinuxDeviceType::A, None, None, "rwm")]);
        assert_eq!(target.transition(&open), [(true, "a".to_string())]);
    }
}

//! Discovery of the mounted cgroup hierarchies (/proc/self/mountinfo) and of the host's cgroup mode.

use std::path::PathBuf;

use crate::error::{Error, Result};

use super::path::hierarchy_key;
use super::CGROUP_ROOT;

#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct CgroupMounts {
    /// (hierarchy key, controllers, mount point) of each v1 hierarchy, first mount of each wins.
    pub(super) v1: Vec<(String, Vec<String>, PathBuf)>,
    /// Mount point of the cgroup2 hierarchy, if any.
    pub(super) unified: Option<PathBuf>,
}

/// Subsystem names that may appear in a v1 mount's super options (the rest are options).
pub(super) const V1_SUBSYSTEMS: &[&str] = &[
    "cpuset",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "debug",
];

pub(super) fn parse_mountinfo(text: &str) -> CgroupMounts {
    let mut m = CgroupMounts::default();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            continue;
        }
        let mount_point = PathBuf::from(unescape_mount(pre[4]));
        match post[0] {
            "cgroup2" if m.unified.is_none() => m.unified = Some(mount_point),
            "cgroup" => {
                let ctrls: Vec<String> = post[2]
                    .split(',')
                    .filter(|o| V1_SUBSYSTEMS.contains(o) || o.starts_with("name="))
                    .map(str::to_string)
                    .collect();
                if ctrls.is_empty() {
                    continue;
                }
                let key = hierarchy_key(ctrls.iter().map(String::as_str));
                if !m.v1.iter().any(|(k, _, _)| *k == key) {
                    m.v1.push((key, ctrls, mount_point));
                }
            }
            _ => {}
        }
    }
    m
}

/// mountinfo escapes space, tab, newline and backslash as octal (the one decoder:
/// [`crate::rootfs::unescape_mountinfo`]).
pub(super) fn unescape_mount(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    crate::rootfs::unescape_mountinfo(s).to_string_lossy().into_owned()
}

pub fn is_cgroup2_root() -> Result<bool> {
    let st = nix::sys::statfs::statfs(CGROUP_ROOT)
        .map_err(|e| Error::sys(e, format!("checking the filesystem type of {CGROUP_ROOT}")))?;
    Ok(st.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_finds_hierarchies() {
        let text = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
35 30 0:30 / /mnt/again rw,relatime - cgroup cgroup rw,memory
36 30 0:31 / /mnt/with\\040space rw - cgroup cgroup rw,pids
";
        let m = parse_mountinfo(text);
        assert_eq!(m.unified, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        let keys: Vec<&str> = m.v1.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(keys, ["name=systemd", "cpu,cpuacct", "memory", "pids"]);
        assert_eq!(m.v1[2].2, PathBuf::from("/sys/fs/cgroup/memory"));
        assert_eq!(m.v1[3].2, PathBuf::from("/mnt/with space"));
    }
}

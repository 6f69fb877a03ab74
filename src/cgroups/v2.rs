//! cgroup v2 back end (unified host): the directory chain with controllers enabled, limits through
//! libcgroups' v2 manager plus the writes where its mapping differs from runc's.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use libcgroups::common::{CgroupManager, ControllerOpt};
use nix::errno::Errno;
use oci_spec::runtime::LinuxResources;

use super::files::{read_trimmed, write_file};
use super::lib_err;
use crate::error::{Context, Error, Result};

pub(super) struct V2 {
    pub(super) root: PathBuf,
    pub(super) dir: PathBuf,
    pub(super) lib: libcgroups::v2::manager::Manager,
}

impl V2 {
    /// `then` runs last (the device filter), before any process is in the cgroup.
    pub(super) fn create(&self, resources: Option<&LinuxResources>) -> Result<()> {
        let created = create_v2_dirs(&self.root, &self.dir)?;
        let r = match resources {
            Some(r) => self.apply(r),
            None => Ok(()),
        };
        if r.is_err() && created {
            let _ = fs::remove_dir(&self.dir);
        }
        r
    }

    /// Through libcgroups, except where its v2 mapping differs from runc's: those files are
    /// written first (so that `unified`, which libcgroups writes last, still wins).
    pub(super) fn apply(&self, res: &LinuxResources) -> Result<()> {
        if resources_empty(res) {
            return Ok(());
        }
        let (rest, writes) = v2_fixups(res, self.dir.join("io.bfq.weight").exists());
        for (file, value) in writes {
            let path = self.dir.join(file);
            match write_file(&path, &value) {
                // As runc: no swap accounting, no memory.swap.max to write "0" to.
                Err(e) if e.errno() == Some(Errno::ENOENT) && file == "memory.swap.max" => {}
                // A per-device io.weight needs io cost control enabled for the device (the
                // root's io.cost.qos, a host-wide setting left alone here). runc 1.1.5 drops
                // weightDevice without BFQ altogether; husk sets it where it can, else warns.
                Err(e) if e.errno() == Some(Errno::EOPNOTSUPP) && file == "io.weight" && value.contains(':') => {
                    crate::logging::warn(&format!(
                        "blockIO.weightDevice {value:?} not set: no BFQ (io.bfq.weight) and io cost control is not \
                         enabled for the device (io.cost.qos)"
                    ));
                }
                r => r.context("applying resources")?,
            }
        }
        apply_lib_v2(&self.lib, rest.as_ref().unwrap_or(res))
    }
}

/// The v2 writes husk makes itself instead of libcgroups 0.7, and the resources left for it:
/// - blockIO weights without BFQ (`bfq` false: no io.bfq.weight): libcgroups' conversion to
///   io.weight overflows (500 became 51), and it sends weightDevice to io.bfq.weight only.
///   Here: io.weight gets the converted weight, and "MAJ:MIN W" lines for weightDevice (which
///   the kernel takes only where io cost control is enabled for the device).
/// - swap equal to the memory limit means no swap: memory.swap.max "0" (libcgroups skips a 0).
pub(super) fn v2_fixups(res: &LinuxResources, bfq: bool) -> (Option<LinuxResources>, Vec<(&'static str, String)>) {
    let mut writes = Vec::new();
    let mut rest = None;
    if let Some(m) = res.memory() {
        if let (Some(limit), Some(swap)) = (m.limit(), m.swap()) {
            if limit > 0 && swap == limit {
                writes.push(("memory.swap.max", "0".to_string()));
            }
        }
    }
    if let (false, Some(b)) = (bfq, res.block_io()) {
        let mut b = b.clone();
        if let Some(w) = b.weight().filter(|w| *w > 0) {
            writes.push(("io.weight", io_weight_from_blkio(w).to_string()));
        }
        for d in b.weight_device().iter().flatten() {
            if let Some(w) = d.weight() {
                writes.push(("io.weight", format!("{}:{} {}", d.major(), d.minor(), io_weight_from_blkio(w))));
            }
        }
        if b.weight().is_some() || b.weight_device().is_some() {
            b.set_weight(None);
            b.set_weight_device(None);
            let mut r = res.clone();
            r.set_block_io(Some(b));
            rest = Some(r);
        }
    }
    (rest, writes)
}

/// A v1 blkio weight ([10, 1000]) as a v2 io.weight ([1, 10000]), linearly, as runc and
/// libcgroups convert blockIO.weight.
pub(super) fn io_weight_from_blkio(w: u16) -> u64 {
    1 + u64::from(w.saturating_sub(10)) * 9999 / 990
}

/// mkdir the chain below `root`, enabling in each ancestor every controller it has available
/// (as runc and libcgroups do), so that limits can be written before a process joins. A refused
/// enable (e.g. an ancestor with processes of its own) is left for the limit that needs it to
/// report.
/// Returns whether the leaf was created (false: it existed).
pub(super) fn create_v2_dirs(root: &Path, dir: &Path) -> Result<bool> {
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    let mut cur = root.to_path_buf();
    let mut created = false;
    for c in rel.components() {
        let available = read_trimmed(&cur.join("cgroup.controllers")).unwrap_or_default();
        let enabled = read_trimmed(&cur.join("cgroup.subtree_control")).unwrap_or_default();
        let want: Vec<String> = available
            .split(' ')
            .filter(|c| !c.is_empty() && !enabled.split(' ').any(|e| e == *c))
            .map(|c| format!("+{c}"))
            .collect();
        if !want.is_empty() {
            let f = cur.join("cgroup.subtree_control");
            if write_file(&f, &want.join(" ")).is_err() {
                for w in &want {
                    let _ = write_file(&f, w);
                }
            }
        }
        cur.push(c);
        match fs::create_dir(&cur) {
            Ok(()) => created = true,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => created = false,
            Err(e) => return Err(Error::io(e, format!("creating cgroup directory {}", cur.display()))),
        }
    }
    Ok(created)
}

pub(super) fn apply_lib_v2(lib: &libcgroups::v2::manager::Manager, res: &LinuxResources) -> Result<()> {
    let opt = ControllerOpt {
        resources: res,
        disable_oom_killer: res.memory().and_then(|m| m.disable_oom_killer()).unwrap_or(false),
        oom_score_adj: None,
        freezer_state: None,
    };
    lib.apply(&opt).map_err(lib_err).context("applying resources")
}

pub(super) fn resources_empty(r: &LinuxResources) -> bool {
    r.devices().is_none()
        && r.memory().is_none()
        && r.cpu().is_none()
        && r.pids().is_none()
        && r.block_io().is_none()
        && r.hugepage_limits().as_ref().is_none_or(|h| h.is_empty())
        && r.network().is_none()
        && r.rdma().as_ref().is_none_or(|m| m.is_empty())
        && r.unified().as_ref().is_none_or(|m| m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBlockIoBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder};

    #[test]
    fn v2_fixups_map_like_runc() {
        use oci_spec::runtime::LinuxWeightDeviceBuilder;
        let wd = LinuxWeightDeviceBuilder::default().major(254).minor(0).weight(300u16).build().unwrap();
        let r = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(32 << 20).swap(32 << 20).build().unwrap())
            .block_io(LinuxBlockIoBuilder::default().weight(500u16).weight_device(vec![wd]).build().unwrap())
            .build()
            .unwrap();
        let (rest, writes) = v2_fixups(&r, false);
        assert_eq!(
            writes,
            [
                ("memory.swap.max", "0".to_string()),
                ("io.weight", "4950".to_string()),
                ("io.weight", "254:0 2930".to_string())
            ]
        );
        let rest = rest.unwrap();
        let b = rest.block_io().as_ref().unwrap();
        assert!(b.weight().is_none() && b.weight_device().is_none());
        assert_eq!(rest.memory(), r.memory());
        // With BFQ, libcgroups writes the weights (io.bfq.weight takes them as they are).
        let (rest, writes) = v2_fixups(&r, true);
        assert!(rest.is_none());
        assert_eq!(writes, [("memory.swap.max", "0".to_string())]);
        let r = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(32 << 20).swap(64 << 20).build().unwrap())
            .build()
            .unwrap();
        assert_eq!(v2_fixups(&r, false), (None, vec![]));
    }

    #[test]
    fn io_weight_conversion() {
        assert_eq!(io_weight_from_blkio(10), 1);
        assert_eq!(io_weight_from_blkio(300), 2930);
        assert_eq!(io_weight_from_blkio(500), 4950);
        assert_eq!(io_weight_from_blkio(1000), 10000);
        assert_eq!(io_weight_from_blkio(1), 1);
    }
}

//! linux.intelRdt through the resctrl filesystem (/sys/fs/resctrl): a control group named by
//! closID (or the container id), its schemata, and the init's pid in its tasks. Asked for on
//! a host without resctrl, it is a clear error, never a silent skip.

use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use oci_spec::runtime::LinuxIntelRdt;

use crate::error::{Error, Kind, Result};

pub const RESCTRL: &str = "/sys/fs/resctrl";

/// Whether Intel RDT can be used on this host (resctrl is mounted).
pub fn available() -> bool {
    mounted()
}

fn mounted() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| m.lines().any(|l| l.contains(" - resctrl ")))
        .unwrap_or(false)
}

/// The group directory for a container, after checking the host supports what is asked.
pub fn group_dir(rdt: &LinuxIntelRdt, id: &str) -> Result<PathBuf> {
    if !mounted() {
        return Err(Error::new(
            Kind::InvalidSpec,
            format!("linux.intelRdt: Intel RDT is not available on this host (no resctrl filesystem at {RESCTRL})"),
        ));
    }
    let name = rdt.clos_id().clone().unwrap_or_else(|| id.to_string());
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(Error::invalid_spec(format!("linux.intelRdt.closID: invalid name {name:?}")));
    }
    Ok(Path::new(RESCTRL).join(name))
}

fn schemata(rdt: &LinuxIntelRdt) -> Vec<String> {
    let mut lines: Vec<String> = rdt.schemata().clone().unwrap_or_default();
    lines.extend(rdt.l3_cache_schema().clone());
    lines.extend(rdt.mem_bw_schema().clone());
    lines
}

/// Create (or join) the group, write its schemata, put `pid` in it.
pub fn apply(rdt: &LinuxIntelRdt, id: &str, pid: Pid) -> Result<()> {
    let dir = group_dir(rdt, id)?;
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(e, format!("creating resctrl group {}", dir.display()))),
    }
    for line in schemata(rdt) {
        std::fs::write(dir.join("schemata"), format!("{line}\n"))
            .map_err(|e| Error::io(e, format!("writing schemata {line:?} to {}", dir.display())))?;
    }
    std::fs::write(dir.join("tasks"), pid.to_string())
        .map_err(|e| Error::io(e, format!("adding pid {pid} to resctrl group {}", dir.display())))
}

/// Remove the group at delete when it was ours (named after the container, no closID).
pub fn remove(rdt: &LinuxIntelRdt, id: &str) {
    if rdt.clos_id().is_none() {
        if let Ok(dir) = group_dir(rdt, id) {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

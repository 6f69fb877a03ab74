//! TEMPORARY placeholder until the cgroups branch lands (not to be committed).
use crate::error::Result;
use serde::{Deserialize, Serialize};
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CgroupConfig {
    pub path: String,
    pub systemd: bool,
}
impl CgroupConfig {
    pub fn resolve(p: Option<&std::path::Path>, id: &str, systemd: bool) -> Result<Self> {
        Ok(CgroupConfig { path: p.map(|p| p.display().to_string()).unwrap_or(format!("/{id}")), systemd })
    }
}
pub struct Cgroup {
    cfg: CgroupConfig,
}
impl Cgroup {
    pub fn open(cfg: &CgroupConfig) -> Result<Self> {
        Ok(Cgroup { cfg: cfg.clone() })
    }
    pub fn create(&self, _r: Option<&oci_spec::runtime::LinuxResources>) -> Result<()> {
        for c in ["memory", "pids", "cpu", "freezer"] {
            let _ = std::fs::create_dir_all(format!("/sys/fs/cgroup/{c}{}", self.cfg.path));
        }
        Ok(())
    }
    pub fn add_task(&self, pid: nix::unistd::Pid) -> Result<()> {
        for c in ["memory", "pids", "cpu", "freezer"] {
            let _ = std::fs::write(format!("/sys/fs/cgroup/{c}{}/cgroup.procs", self.cfg.path), pid.to_string());
        }
        Ok(())
    }
    pub fn pids(&self) -> Result<Vec<nix::unistd::Pid>> {
        let s =
            std::fs::read_to_string(format!("/sys/fs/cgroup/pids{}/cgroup.procs", self.cfg.path)).unwrap_or_default();
        Ok(s.lines().filter_map(|l| l.parse().ok()).map(nix::unistd::Pid::from_raw).collect())
    }
    pub fn kill_all(&self, sig: nix::sys::signal::Signal) -> Result<()> {
        for p in self.pids()? {
            let _ = nix::sys::signal::kill(p, sig);
        }
        Ok(())
    }
    pub fn destroy(&self) -> Result<()> {
        for c in ["memory", "pids", "cpu", "freezer"] {
            let _ = std::fs::remove_dir(format!("/sys/fs/cgroup/{c}{}", self.cfg.path));
        }
        Ok(())
    }
}
impl Cgroup {
    pub fn thaw(&self) -> Result<()> {
        Ok(())
    }
}
pub fn is_frozen(_c: &CgroupConfig) -> bool {
    false
}

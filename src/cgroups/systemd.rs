//! The systemd driver (`--systemd-cgroup`): libcgroups' systemd manager (a transient scope over
//! D-Bus), cgroup v2 hosts only.

use std::path::PathBuf;
use std::sync::Mutex;

use libcgroups::common::{AnyCgroupManager, CgroupManager, ControllerOpt};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use super::mounts::is_cgroup2_root;
use super::v2::resources_empty;
use super::{lib_err, CgroupConfig};
use crate::error::{Context, Error, Kind, Result};

pub(super) struct Systemd {
    pub(super) lib: AnyCgroupManager,
    /// Resources given to `create`, applied by `add_task`: systemd creates the scope together
    /// with its first process.
    pub(super) pending: Mutex<Option<LinuxResources>>,
}

impl Systemd {
    pub(super) fn open(cfg: &CgroupConfig) -> Result<Self> {
        if !libcgroups::systemd::booted() {
            return Err(Error::new(
                Kind::System,
                "systemd cgroup driver requested (--systemd-cgroup) but systemd is not running",
            ));
        }
        if !is_cgroup2_root()? {
            // libcgroups silently returns its v1 manager on v1/hybrid hosts for systemd requests.
            return Err(Error::new(
                Kind::System,
                "systemd cgroup driver requested (--systemd-cgroup) on a cgroup v1 host: libcgroups drives \
                 systemd on cgroup v2 only",
            ));
        }
        let name = cfg.path.rsplit(':').next().unwrap_or_default().to_string();
        let lib = libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
            cgroup_path: PathBuf::from(&cfg.path),
            systemd_cgroup: true,
            container_name: name,
        })
        .map_err(lib_err)
        .with_context(|| format!("connecting to systemd for cgroup {}", cfg.path))?;
        Ok(Systemd { lib, pending: Mutex::new(None) })
    }

    pub(super) fn add_task(&self, pid: Pid) -> Result<()> {
        self.lib.add_task(pid).map_err(lib_err)?;
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
        match pending {
            Some(r) => apply_lib(&self.lib, &r),
            None => Ok(()),
        }
    }
}

pub(super) fn apply_lib(lib: &AnyCgroupManager, res: &LinuxResources) -> Result<()> {
    if resources_empty(res) {
        return Ok(());
    }
    let opt = ControllerOpt {
        resources: res,
        disable_oom_killer: res.memory().and_then(|m| m.disable_oom_killer()).unwrap_or(false),
        oom_score_adj: None,
        freezer_state: None,
    };
    lib.apply(&opt).map_err(lib_err).context("applying resources")
}

//! The systemd driver (`--systemd-cgroup`): libcgroups' systemd manager (a transient scope over
//! D-Bus), cgroup v2 hosts only. Root talks to the system's manager over the system bus; a
//! rootless caller (as runc's rootless systemd driver) to the user's own manager over the
//! session bus ([`super::userbus`]), whose delegated controllers then bound what can be limited.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use libcgroups::common::{AnyCgroupManager, CgroupManager, ControllerOpt};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use super::mounts::is_cgroup2_root;
use super::v2::resources_empty;
use super::{lib_err, CgroupConfig};
use crate::error::{Context, Error, Kind, Result};

/// How long `add_task` waits for systemd to have the init in the new scope: runc waits up to 30 s
/// for the unit's start job (libcgroups' default is 5 s). A user manager cannot move a process
/// out of the caller's cgroup itself; it asks the system manager to, which takes longer.
const PLACEMENT_TIMEOUT: Duration = Duration::from_secs(30);

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
            if cfg.user {
                // runc's words (its v1 systemd manager has no rootless mode either).
                return Err(Error::new(Kind::System, "cannot use rootless systemd cgroups manager on cgroup v1"));
            }
            // libcgroups silently returns its v1 manager on v1/hybrid hosts for systemd requests.
            return Err(Error::new(
                Kind::System,
                "systemd cgroup driver requested (--systemd-cgroup) on a cgroup v1 host: libcgroups drives \
                 systemd on cgroup v2 only",
            ));
        }
        if cfg.user {
            super::userbus::prepare()
                .with_context(|| format!("connecting to the user's systemd for cgroup {}", cfg.path))?;
        }
        let name = cfg.path.rsplit(':').next().unwrap_or_default().to_string();
        // The bus is chosen here as runc chooses it (its cgroup config's Rootless), not by
        // libcgroups' own rule (any uid map but the identity one means the session bus).
        let lib = libcgroups::systemd::manager::Manager::new(
            PathBuf::from(super::CGROUP_ROOT),
            PathBuf::from(&cfg.path),
            name,
            !cfg.user,
            PLACEMENT_TIMEOUT,
        )
        .map_err(lib_err)
        .with_context(|| {
            let manager = if cfg.user { "the user's systemd" } else { "systemd" };
            format!("connecting to {manager} for cgroup {}", cfg.path)
        })?
        .any();
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

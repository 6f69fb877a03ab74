//! Create, join, update, freeze, kill and remove a container cgroup.
//!
//! Three back ends, chosen by [`Cgroup::open`]:
//! - **v1 / hybrid** (this machine): every mounted v1 hierarchy (including `name=systemd`) gets a
//!   directory, and on a hybrid host the cgroup2 hierarchy at /sys/fs/cgroup/unified too, like
//!   runc. Everything is done here, each controller in its own hierarchy's directory (a relative
//!   cgroupsPath puts the container at a different path in each hierarchy when the caller sits in
//!   different cgroups, as on every systemd v1 host): limits in runc's write order, device rules
//!   as a minimal transition, freezer, stats. libcgroups' v1 manager is not used: it applies one
//!   path to every hierarchy, ignores the cgroup2 hierarchy of a hybrid host, rewrites its default
//!   device rules on every apply, and costs two procfs parses per controller to construct.
//! - **v2** (unified host): libcgroups' v2 manager for limits, freezing and stats; the directory
//!   chain (with controllers enabled in each parent's `cgroup.subtree_control`) is created here so
//!   that limits are in place before any process joins. Device rules: an eBPF program of ours
//!   ([`crate::devfilter`]; libcgroups' needs C libbpf).
//! - **systemd** (`--systemd-cgroup`): libcgroups' systemd manager (transient scope over D-Bus).
//!   It is never chosen by libcgroups on a v1/hybrid host, so husk refuses it there.
//!
//! Layout: this file is the [`Cgroup`] facade the commands use; `path` resolves cgroupsPath
//! per driver; `mounts` finds the hierarchies; `v1`, `v2`, `systemd` are the back ends; `limits`
//! writes v1 limits, `devices` the v1 device rules, `hugetlb` hybrid hugepage limits, `freezer`
//! pause/resume, `stats` `events --stats` data, `files` shared cgroupfs helpers.
//!
//! libcgroups v2 quirks are worked around in `v2` (weights, swap); its remove neither handles
//! child cgroups nor waits for killed processes to leave, so removal is done here for v1 and v2.

mod devices;
mod files;
mod freezer;
mod hugetlb;
mod limits;
mod mounts;
mod path;
pub mod rootless;
mod stats;
mod systemd;
#[cfg(test)]
mod tests;
mod userbus;
mod v1;
mod v2;

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use libcgroups::common::CgroupManager;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;
use serde_json::Value;

use crate::devfilter;
use crate::error::{Context, Error, Kind, Result};

pub use devices::device_rules;
pub use files::open_cgroup_dir;
pub use freezer::{is_frozen, FrozenCheck};
pub use path::CgroupConfig;

use files::{all_pids, flat_keyed, remove_tree, write_file};
pub use mounts::is_cgroup2_root;
use mounts::parse_mountinfo;
use stats::{stats_to_runc, v2_cpu_ns};
use systemd::{apply_lib, Systemd};
use v1::V1;
use v2::V2;

pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const CGROUP_PROCS: &str = "cgroup.procs";
/// Key of the cgroup2 hierarchy in [`CgroupConfig::per_hierarchy`] (its controller list in
/// /proc/self/cgroup is empty).
const UNIFIED_KEY: &str = "";
/// How long `destroy` keeps retrying the removal of a busy cgroup after killing its processes.
const DESTROY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `thaw` waits for a v1 freezer to report THAWED.
const THAW_TIMEOUT: Duration = Duration::from_secs(2);

/// `base` + absolute cgroup path.
fn under(base: &Path, cgroup_path: &str) -> PathBuf {
    base.join(cgroup_path.trim_start_matches('/'))
}

/// libcgroups' errors carry no errno we can reach (their io::Error fields are not `source`s):
/// keep the text, minus its "io error: " prefix.
fn lib_err(e: impl std::fmt::Display) -> Error {
    let s = e.to_string();
    let s = s.strip_prefix("io error: ").unwrap_or(&s);
    Error::new(Kind::System, s)
}

enum Backend {
    /// Rootless without a cgroup (see [`rootless`]).
    None,
    V1(V1),
    V2(V2),
    Systemd(Box<Systemd>),
}

pub struct Cgroup {
    cfg: CgroupConfig,
    backend: Backend,
    /// cgroup v2: the device rules the eBPF filter enforces (see [`Cgroup::with_devices_of`]).
    devices: Option<Vec<devfilter::Rule>>,
    /// cgroup v2: the rules for a cgroup that had device programs before the init is born in it
    /// ([`devfilter::birth_rules`]).
    birth_devices: Option<Vec<devfilter::Rule>>,
}

impl std::fmt::Debug for Cgroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.backend {
            Backend::None => "none",
            Backend::V1(_) => "v1",
            Backend::V2(_) => "v2",
            Backend::Systemd(_) => "systemd",
        };
        f.debug_struct("Cgroup").field("cfg", &self.cfg).field("backend", &kind).finish()
    }
}

impl Cgroup {
    /// Open a manager for the config (no filesystem changes: one statfs and, on v1, one read of
    /// /proc/self/mountinfo).
    pub fn open(cfg: &CgroupConfig) -> Result<Self> {
        let backend = if cfg.rootless_none.is_some() {
            Backend::None
        } else if cfg.systemd {
            Backend::Systemd(Box::new(Systemd::open(cfg)?))
        } else if is_cgroup2_root()? {
            let root = PathBuf::from(CGROUP_ROOT);
            let lib = libcgroups::v2::manager::Manager::new(root.clone(), PathBuf::from(&cfg.path))
                .map_err(lib_err)
                .with_context(|| format!("opening cgroup {}", cfg.path))?;
            Backend::V2(V2 { dir: under(&root, &cfg.path), root, lib })
        } else {
            let text = fs::read_to_string("/proc/self/mountinfo")
                .map_err(|e| Error::io(e, "reading /proc/self/mountinfo"))
                .with_context(|| format!("opening cgroup {}", cfg.path))?;
            Backend::V1(V1::new(cfg, parse_mountinfo(&text)))
        };
        Ok(Cgroup { cfg: cfg.clone(), backend, devices: None, birth_devices: None })
    }

    /// cgroup v2: enforce the config's device rules ([`devfilter::rules_for`]) with an eBPF
    /// program, attached by [`Cgroup::apply_device_filter`] once the init has made its device
    /// nodes (as runc sets the cgroup after its init's rootfs set-up), replacing any device program already on the cgroup. `update` leaves it alone, as runc's
    /// does (device rules cannot be updated). A no-op on v1, whose devices controller libcgroups
    /// programs from the resources.
    pub fn with_devices_of(mut self, linux: &oci_spec::runtime::Linux) -> Result<Self> {
        if self.device_filter_dir().is_some() {
            let rules = devfilter::rules_for(Some(linux))?;
            self.birth_devices = Some(devfilter::birth_rules(&rules, Some(linux)));
            self.devices = Some(rules);
        }
        Ok(self)
    }

    /// The directory of a v2 cgroup (fs or systemd driver) that gets the device filter.
    fn device_filter_dir(&self) -> Option<PathBuf> {
        match &self.backend {
            Backend::None | Backend::V1(_) => None,
            Backend::V2(v2) => Some(v2.dir.clone()),
            Backend::Systemd(_) => Some(under(Path::new(CGROUP_ROOT), &self.cfg.fs_path())),
        }
    }

    /// Attach the device filter of [`Cgroup::with_devices_of`] (v2 only; a no-op otherwise).
    /// Called when the init reports Ready: its device nodes are made (a config may deny mknod
    /// of a device linux.devices lists; the init is in the cgroup from birth with clone3), and
    /// it has not exec'd the container process yet.
    pub fn apply_device_filter(&self) -> Result<()> {
        match (&self.devices, self.device_filter_dir()) {
            (Some(rules), Some(dir)) => devfilter::install(&dir, rules),
            _ => Ok(()),
        }
    }

    /// A v2 manager whose hierarchy root is `root` (tests run it inside this hybrid host's
    /// cgroup2 hierarchy, below a directory of their own).
    #[cfg(test)]
    fn open_v2_at(root: &Path, cfg: &CgroupConfig) -> Result<Self> {
        let lib =
            libcgroups::v2::manager::Manager::new(root.to_path_buf(), PathBuf::from(&cfg.path)).map_err(lib_err)?;
        let backend = Backend::V2(V2 { dir: under(root, &cfg.path), root: root.to_path_buf(), lib });
        Ok(Cgroup { cfg: cfg.clone(), backend, devices: None, birth_devices: None })
    }

    pub fn config(&self) -> &CgroupConfig {
        &self.cfg
    }

    /// Create the cgroup and apply linux.resources before any process is in it. With the systemd
    /// driver the scope can only be created with its first process: the resources are kept and
    /// applied by [`Cgroup::add_task`], right after the scope is started. On failure, the directories this call created are
    /// removed again (a pre-existing cgroup, possibly shared, is left alone and nothing is killed).
    pub fn create(&self, resources: Option<&LinuxResources>) -> Result<()> {
        let r = match &self.backend {
            Backend::None => Ok(()),
            Backend::V1(v1) => v1.create(resources),
            Backend::V2(v2) => v2.create(resources).and_then(|()| match &self.birth_devices {
                // Programs already on the cgroup (a reused one) would hold for the init, born
                // in it: replace them now with rules that let it make its nodes.
                Some(rules) if devfilter::has_programs(&v2.dir)? => devfilter::install(&v2.dir, rules),
                _ => Ok(()),
            }),
            Backend::Systemd(s) => {
                *s.pending.lock().unwrap_or_else(|e| e.into_inner()) = resources.cloned();
                Ok(())
            }
        };
        r.with_context(|| format!("creating cgroup {}", self.cfg.path))
    }

    /// [`Cgroup::create`] for a rootless caller (see [`rootless`]): when the cgroup cannot be
    /// created for lack of permission and linux.cgroupsPath was not given (`explicit` false),
    /// the container goes on without one (this manager becomes a no-op, its config records it);
    /// limits in `resources` are then refused as runc refuses them. Returns whether it did.
    pub fn create_rootless(&mut self, resources: Option<&LinuxResources>, explicit: bool) -> Result<bool> {
        match self.create(resources) {
            Ok(()) => Ok(false),
            Err(e) if !explicit && !self.cfg.systemd && rootless::is_permission(&e) => {
                if let Some(name) = resources.and_then(rootless::first_limit) {
                    // runc 1.1.5's words differ per back end (fs: per controller; fs2: one line).
                    return Err(match self.backend {
                        Backend::V1(_) => rootless::limits_refused(name, &e),
                        _ => e.context("rootless needs no limits + no cgrouppath when no permission is granted for cgroups"),
                    });
                }
                crate::logging::debug(&format!("rootless: running without a cgroup: {e}"));
                self.backend = Backend::None;
                self.cfg.rootless_none = Some(0);
                Ok(true)
            }
            Err(e) if rootless::is_permission(&e) => Err(e.context(
                "rootless: the user may not create this cgroup (cgroupsPath must be in a subtree delegated to the user)",
            )),
            Err(e) => Err(e),
        }
    }

    /// The container's cgroup directory, opened O_PATH for clone3(CLONE_INTO_CGROUP), when one
    /// cgroup2 directory is the whole placement: the v2 back end on a unified host, after
    /// [`Cgroup::create`]. None on v1/hybrid hosts (v1 hierarchies need cgroup.procs writes), with
    /// the systemd driver (systemd creates the scope together with its first process), or when
    /// the directory cannot be opened (then [`Cgroup::add_task`] reports why).
    pub fn birth_dir(&self) -> Option<std::os::fd::OwnedFd> {
        match &self.backend {
            Backend::V2(v2) => open_cgroup_dir(&v2.dir),
            Backend::None | Backend::V1(_) | Backend::Systemd(_) => None,
        }
    }

    /// Move `pid` into the container's cgroup (every hierarchy).
    pub fn add_task(&self, pid: Pid) -> Result<()> {
        match &self.backend {
            Backend::None => Ok(()),
            Backend::V1(v1) => v1.add_task(pid),
            Backend::V2(v2) => write_file(&v2.dir.join(CGROUP_PROCS), &pid.to_string()),
            Backend::Systemd(s) => s.add_task(pid),
        }
        .with_context(|| format!("adding process {pid} to cgroup {}", self.cfg.path))
    }

    /// With the user's systemd manager: the scope's cgroup as the kernel shows it for `pid`, once
    /// [`Cgroup::add_task`] has had systemd place it (the manager's own cgroup need not be where
    /// systemd's usual layout puts it), for the container's state. None for other drivers.
    pub fn placed_scope(&self, pid: Pid) -> Result<Option<String>> {
        if !(self.cfg.systemd && self.cfg.user) {
            return Ok(None);
        }
        let file = format!("/proc/{pid}/cgroup");
        let text = fs::read_to_string(&file).map_err(|e| Error::io(e, format!("reading {file}")))?;
        Ok(text.lines().find_map(|l| l.strip_prefix("0::")).map(str::to_string))
    }

    /// The cgroup.procs files a process must be written to for it to be in this cgroup (every
    /// hierarchy on v1, the unified one too on a hybrid host), for a child that joins on its own
    /// before exec ([`crate::sys::process::join_cgroup_in_child`]). Empty without a cgroup, and
    /// with the systemd driver (its scope is created with its first process).
    pub fn procs_files(&self) -> Vec<PathBuf> {
        match &self.backend {
            Backend::None | Backend::Systemd(_) => Vec::new(),
            Backend::V1(v1) => v1
                .unified
                .iter()
                .map(|(_, d)| d.join(CGROUP_PROCS))
                .chain(v1.hierarchies.iter().map(|h| h.dir.join(CGROUP_PROCS)))
                .collect(),
            Backend::V2(v2) => vec![v2.dir.join(CGROUP_PROCS)],
        }
    }

    /// Apply new limits to the live cgroup (only the fields that are set are written).
    pub fn update(&self, resources: &LinuxResources) -> Result<()> {
        match &self.backend {
            Backend::None => Err(rootless::no_cgroup("updating resource limits")),
            Backend::V1(v1) => v1.apply(resources),
            Backend::V2(v2) => v2.apply(resources),
            Backend::Systemd(s) => apply_lib(&s.lib, resources),
        }
        .with_context(|| format!("updating cgroup {}", self.cfg.path))
    }

    /// Every process in the cgroup (and its sub-cgroups), sorted.
    pub fn pids(&self) -> Result<Vec<Pid>> {
        let mut pids = match &self.backend {
            Backend::None => rootless::pids(self.cfg.rootless_none.unwrap_or(0)),
            Backend::V1(v1) => v1.pids(),
            Backend::V2(v2) => all_pids(&v2.dir),
            Backend::Systemd(s) => s.lib.get_all_pids().map_err(lib_err),
        }
        .with_context(|| format!("listing processes of cgroup {}", self.cfg.path))?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Signal every process in the cgroup. SIGKILL goes through `cgroup.kill` where the kernel
    /// has it (v2, and the unified hierarchy of a hybrid host). Other signals are sent to each
    /// listed pid with the cgroup frozen meanwhile (as runc does), so that forks cannot escape;
    /// a paused container stays paused (except for SIGKILL, which needs a thaw to take effect).
    pub fn kill_all(&self, sig: Signal) -> Result<()> {
        self.kill_all_inner(sig).with_context(|| format!("signalling processes of cgroup {} with {sig}", self.cfg.path))
    }

    fn kill_all_inner(&self, sig: Signal) -> Result<()> {
        let kill_file = match &self.backend {
            Backend::None => None,
            Backend::V1(v1) => v1.unified.as_ref().map(|(_, d)| d.join("cgroup.kill")),
            Backend::V2(v2) => Some(v2.dir.join("cgroup.kill")),
            Backend::Systemd(_) => None,
        };
        let mut atomic_kill = false;
        if sig == Signal::SIGKILL {
            if let Some(f) = kill_file.filter(|f| f.exists()) {
                write_file(&f, "1")?;
                if !matches!(self.backend, Backend::V1(_)) {
                    return Ok(());
                }
                // v1: the v1 listing is signalled too below, in case a process left the unified
                // cgroup, but no freeze is needed to stop forks racing the kill.
                atomic_kill = true;
            }
        }
        let can_freeze = match &self.backend {
            Backend::None => false,
            Backend::V1(v1) => v1.freezer().is_some(),
            _ => true,
        };
        let was_frozen = can_freeze && self.is_frozen().unwrap_or(false);
        let froze = can_freeze && !atomic_kill && !was_frozen && self.freeze().is_ok();
        let res = self.pids().map(|pids| {
            for pid in pids {
                // ESRCH: the process exited meanwhile.
                let _ = nix::sys::signal::kill(pid, sig);
            }
        });
        if froze || (was_frozen && sig == Signal::SIGKILL) {
            self.thaw()?;
        }
        res
    }

    /// How many processes the kernel's OOM killer has killed in this cgroup so far (v1
    /// `memory.oom_control` "oom_kill", v2 `memory.events` "oom_kill"); `events` can report an
    /// `oom` event whenever it grows. 0 when the memory controller is absent.
    pub fn oom_kills(&self) -> Result<u64> {
        let file = match &self.backend {
            Backend::None => return Ok(0),
            Backend::V1(v1) => match v1.hierarchy("memory") {
                Some(h) => h.dir.join("memory.oom_control"),
                None => return Ok(0),
            },
            Backend::V2(v2) => v2.dir.join("memory.events"),
            Backend::Systemd(_) => under(Path::new(CGROUP_ROOT), &self.cfg.fs_path()).join("memory.events"),
        };
        let text = match fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound && !matches!(self.backend, Backend::V1(_)) => return Ok(0),
            Err(e) => {
                return Err(Error::io(e, format!("reading {}", file.display())))
                    .with_context(|| format!("reading OOM kills of cgroup {}", self.cfg.path))
            }
        };
        Ok(flat_keyed(&text, "oom_kill").unwrap_or(0))
    }

    /// Remove the cgroup directories (every hierarchy, sub-cgroups first). Already-gone is fine.
    /// If processes remain, they are SIGKILLed and removal retried for up to 2 s.
    pub fn destroy(&self) -> Result<()> {
        let dirs: Vec<PathBuf> = match &self.backend {
            Backend::None => return Ok(()),
            Backend::V1(v1) => {
                v1.hierarchies.iter().map(|h| h.dir.clone()).chain(v1.unified.iter().map(|(_, d)| d.clone())).collect()
            }
            Backend::V2(v2) => vec![v2.dir.clone()],
            Backend::Systemd(s) => {
                return s.lib.remove().map_err(lib_err).with_context(|| format!("removing cgroup {}", self.cfg.path));
            }
        };
        let deadline = Instant::now() + DESTROY_TIMEOUT;
        let mut killed = false;
        for dir in &dirs {
            loop {
                match remove_tree(dir) {
                    Ok(()) => break,
                    Err(e) if e.errno() == Some(Errno::EBUSY) && Instant::now() < deadline => {
                        if !killed {
                            killed = true;
                            // Thaws a frozen cgroup too, or SIGKILL would not take effect.
                            let _ = self.kill_all(Signal::SIGKILL);
                        }
                        // Processes may sit in this hierarchy only (e.g. a sub-cgroup the
                        // container made): kill what this directory holds.
                        for pid in all_pids(dir).unwrap_or_default() {
                            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
                        }
                        sleep(Duration::from_millis(2));
                    }
                    Err(e) => {
                        let left = all_pids(dir).unwrap_or_default();
                        let e = if left.is_empty() { e } else { e.context(format!("processes {left:?} remain")) };
                        return Err(e.context(format!("removing cgroup {}", self.cfg.path)));
                    }
                }
            }
        }
        Ok(())
    }

    /// Statistics shaped like the `data` of runc's `events --stats` (cpu, memory, pids, blkio,
    /// hugetlb), read through libcgroups.
    pub fn stats(&self) -> Result<Value> {
        let r = match &self.backend {
            Backend::None => Err(rootless::no_cgroup("reading statistics")),
            Backend::V1(v1) => v1.stats(),
            Backend::V2(v2) => v2.lib.stats().map_err(lib_err).map(|s| stats_to_runc(&v2_cpu_ns(s))),
            Backend::Systemd(s) => s.lib.stats().map_err(lib_err).map(|s| stats_to_runc(&v2_cpu_ns(s))),
        };
        r.with_context(|| format!("reading statistics of cgroup {}", self.cfg.path))
    }
}

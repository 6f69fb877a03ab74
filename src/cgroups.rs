//! Thin glue over libcgroups: create, join, update, freeze, kill and remove a container cgroup.
//!
//! Three back ends, chosen by [`Cgroup::open`]:
//! - **v1 / hybrid** (this machine): every mounted v1 hierarchy (including `name=systemd`) gets a
//!   directory, and on a hybrid host the cgroup2 hierarchy at /sys/fs/cgroup/unified too, like
//!   runc. Directory creation, joining, listing, killing and removal are done here (they are a few
//!   syscalls each and libcgroups' v1 manager costs two procfs parses per controller just to be
//!   constructed); limits, freezing and stats go through libcgroups' v1 manager, built lazily.
//! - **v2** (unified host): libcgroups' v2 manager for limits, freezing and stats; the directory
//!   chain (with controllers enabled in each parent's `cgroup.subtree_control`) is created here so
//!   that limits are in place before any process joins. Device rules: an eBPF program of ours
//!   ([`crate::devfilter`]; libcgroups' needs C libbpf).
//! - **systemd** (`--systemd-cgroup`): libcgroups' systemd manager (transient scope over D-Bus).
//!
//! libcgroups quirks worked around here (each is also noted where it is handled):
//! - On a hybrid host it builds a v1 manager and ignores the cgroup2 hierarchy entirely: hugetlb,
//!   which lives there, is reported as "required but not supported", and the container is not
//!   placed in the unified hierarchy (runc does place it there).
//! - Its v1 manager applies one path to every hierarchy, so runc's per-hierarchy nesting of a
//!   relative cgroupsPath under the caller's own cgroups cannot be expressed with it.
//! - Its v1 devices controller writes the default device rules on every `apply`, whatever the
//!   resources say, so `apply` is skipped when no resource is set.
//! - Its v1 network controllers are "required" as soon as `network` is present, even when empty.
//! - It ignores blkio leafWeight and weightDevice on v1, applies cpu burst only together with
//!   another cpu field, and writes kernel memory limits that this kernel (≥ 5.16) ignores.
//! - Its v1 thaw does not wait for THAWED, and its remove neither handles child cgroups nor waits
//!   for killed processes to leave.
//! - Its systemd manager is never chosen on a v1/hybrid host (it silently falls back to v1).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant};

use libcgroups::common::{AnyCgroupManager, CgroupManager, ControllerOpt, FreezerState};
use libcgroups::stats::Stats;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxResources};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::devfilter;
use crate::error::{Context, Error, Kind, Result};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const CGROUP_PROCS: &str = "cgroup.procs";
/// Key of the cgroup2 hierarchy in [`CgroupConfig::per_hierarchy`] (its controller list in
/// /proc/self/cgroup is empty).
const UNIFIED_KEY: &str = "";
/// How long `destroy` keeps retrying the removal of a busy cgroup after killing its processes.
const DESTROY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `thaw` waits for a v1 freezer to report THAWED.
const THAW_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a container's cgroup lives, resolved from linux.cgroupsPath like runc does.
///
/// Meant to be stored in the container's state so that later commands (run from other cgroups)
/// address the same cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupConfig {
    /// The resolved absolute cgroup path (`/a/b`), or `slice:prefix:name` with the systemd driver.
    pub path: String,
    pub systemd: bool,
    /// cgroup v1 only: hierarchies whose path differs from `path`. That happens with a relative
    /// (or empty) cgroupsPath when the caller sits in different cgroups in different hierarchies
    /// (on this machine: memory under /process_api/..., everything else at /). Keys are the
    /// hierarchy's controllers as in /proc/self/cgroup, sorted and comma-joined ("memory",
    /// "cpu,cpuacct", "name=systemd"; "" for the cgroup2 hierarchy of a hybrid host).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_hierarchy: BTreeMap<String, String>,
}

impl CgroupConfig {
    /// The cgroup's path below a hierarchy root: the path itself, or for the systemd driver
    /// the scope systemd makes for `slice:prefix:name` (`/system.slice/prefix-name.scope`).
    pub fn fs_path(&self) -> String {
        if self.systemd {
            systemd_cgroup_path(&self.path).unwrap_or_else(|_| self.path.clone())
        } else {
            self.path.clone()
        }
    }

    /// runc's interpretation of linux.cgroupsPath:
    /// - cgroupfs driver: an absolute path is used as is (cleaned); a relative one is nested under
    ///   the caller's own cgroup (per hierarchy on v1; under the *parent* of the caller's cgroup on
    ///   a pure v2 host, where the caller's own cgroup has processes and so cannot delegate
    ///   controllers); an empty/absent path means the container id, relative, so nested the same
    ///   way (runc 1.1: `c.Name = id`, `innerPath = Parent/Name`, relative → `GetOwnCgroupPath`).
    /// - systemd driver: `slice:prefix:name`, default `system.slice:husk:<id>`.
    pub fn resolve(cgroups_path: Option<&Path>, id: &str, systemd: bool) -> Result<Self> {
        let raw = match cgroups_path {
            Some(p) => {
                p.to_str().ok_or_else(|| Error::invalid_spec(format!("linux.cgroupsPath: {p:?} is not valid UTF-8")))?
            }
            None => "",
        };
        if systemd {
            return resolve_systemd(raw, id);
        }
        let inner = match clean_path(raw) {
            p if p.is_empty() => clean_path(id),
            p => p,
        };
        if inner.is_empty() {
            return Err(Error::invalid_arg("resolving cgroup path: empty container id"));
        }
        let cfg = if inner.starts_with('/') {
            CgroupConfig { path: inner, systemd: false, per_hierarchy: BTreeMap::new() }
        } else {
            let own = fs::read_to_string("/proc/self/cgroup")
                .map_err(|e| Error::io(e, "reading /proc/self/cgroup"))
                .with_context(|| format!("resolving relative cgroup path {inner}"))?;
            resolve_relative(&inner, &own).with_context(|| format!("resolving relative cgroup path {inner}"))?
        };
        // The root cgroup holds every process of the host: a container there would have
        // `delete` and `kill --all` signal all of them and try to remove the hierarchy.
        if cfg.path == "/" || cfg.per_hierarchy.values().any(|p| p == "/") {
            return Err(Error::invalid_spec(format!(
                "linux.cgroupsPath: {raw:?} resolves to the root cgroup, which a container cannot own"
            )));
        }
        Ok(cfg)
    }
}

fn resolve_systemd(raw: &str, id: &str) -> Result<CgroupConfig> {
    let path = if raw.is_empty() {
        format!("system.slice:husk:{id}")
    } else {
        let parts: Vec<&str> = raw.split(':').collect();
        if parts.len() != 3 || parts[1].is_empty() || parts[2].is_empty() {
            return Err(Error::invalid_spec(format!(
                "linux.cgroupsPath: expected \"slice:prefix:name\" for the systemd cgroup driver, got {raw:?}"
            )));
        }
        raw.to_string()
    };
    Ok(CgroupConfig { path, systemd: true, per_hierarchy: BTreeMap::new() })
}

/// One line of /proc/self/cgroup: the hierarchy key (sorted controllers) and the path.
fn parse_proc_cgroup(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let mut it = line.splitn(3, ':');
            let _id = it.next()?;
            let ctrls = it.next()?;
            let path = it.next()?;
            Some((hierarchy_key(ctrls.split(',').filter(|c| !c.is_empty())), path.to_string()))
        })
        .collect()
}

fn hierarchy_key<'a>(ctrls: impl Iterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = ctrls.collect();
    v.sort_unstable();
    v.join(",")
}

/// Resolve a relative (already cleaned) path against the caller's cgroups (the text of
/// /proc/self/cgroup).
fn resolve_relative(inner: &str, proc_self_cgroup: &str) -> Result<CgroupConfig> {
    let entries = parse_proc_cgroup(proc_self_cgroup);
    if entries.is_empty() {
        return Err(Error::new(Kind::System, "parsing /proc/self/cgroup: no cgroup listed"));
    }
    // Pure v2: one "0::/path" line. runc (fs2 defaultDirPath) nests under the parent of the
    // caller's cgroup.
    if entries.len() == 1 && entries[0].0.is_empty() {
        let own = Path::new(&entries[0].1).parent().unwrap_or(Path::new("/"));
        let path = clean_path(&format!("{}/{inner}", own.display()));
        return Ok(CgroupConfig { path, systemd: false, per_hierarchy: BTreeMap::new() });
    }
    // v1 / hybrid: per hierarchy, under the caller's own cgroup there (runc fs subsysPath).
    let resolved: Vec<(String, String)> =
        entries.into_iter().map(|(k, own)| (k, clean_path(&format!("{own}/{inner}")))).collect();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, p) in &resolved {
        *count.entry(p).or_default() += 1;
    }
    // The most common resolution becomes `path` (ties: the lexically smallest, for determinism).
    let mut best: Option<(&str, usize)> = None;
    for (p, n) in &count {
        if best.is_none_or(|(_, bn)| *n > bn) {
            best = Some((p, *n));
        }
    }
    let path = best.map(|(p, _)| p.to_string()).unwrap_or_default();
    let per_hierarchy = resolved.iter().filter(|(_, p)| *p != path).cloned().collect();
    Ok(CgroupConfig { path, systemd: false, per_hierarchy })
}

/// runc's `CleanPath`: lexical cleaning; a relative path cannot climb above its start.
fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return String::new();
    }
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    if abs {
        format!("/{joined}")
    } else {
        joined
    }
}

// ---------------------------------------------------------------------------------------------
// Mount discovery

#[derive(Debug, Default, PartialEq, Eq)]
struct CgroupMounts {
    /// (hierarchy key, controllers, mount point) of each v1 hierarchy, first mount of each wins.
    v1: Vec<(String, Vec<String>, PathBuf)>,
    /// Mount point of the cgroup2 hierarchy, if any.
    unified: Option<PathBuf>,
}

/// Subsystem names that may appear in a v1 mount's super options (the rest are options).
const V1_SUBSYSTEMS: &[&str] = &[
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

fn parse_mountinfo(text: &str) -> CgroupMounts {
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

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mount(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_cgroup2_root() -> Result<bool> {
    let st = nix::sys::statfs::statfs(CGROUP_ROOT)
        .map_err(|e| Error::sys(e, format!("checking the filesystem type of {CGROUP_ROOT}")))?;
    Ok(st.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

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

// ---------------------------------------------------------------------------------------------
// The manager

/// One v1 hierarchy the container is placed in.
#[derive(Debug)]
struct Hierarchy {
    key: String,
    controllers: Vec<String>,
    mount: PathBuf,
    /// Path of the container's cgroup inside this hierarchy.
    rel: String,
    dir: PathBuf,
}

impl Hierarchy {
    fn has(&self, ctrl: &str) -> bool {
        self.controllers.iter().any(|c| c == ctrl)
    }
}

struct V1 {
    hierarchies: Vec<Hierarchy>,
    /// Hybrid host: the container's directory in the cgroup2 hierarchy (mount, dir).
    unified: Option<(PathBuf, PathBuf)>,
    /// libcgroups' v1 manager for `cfg.path`, built on first use (limits, freezer, stats).
    lib: OnceLock<libcgroups::v1::manager::Manager>,
}

struct V2 {
    root: PathBuf,
    dir: PathBuf,
    lib: libcgroups::v2::manager::Manager,
}

struct Systemd {
    lib: AnyCgroupManager,
    /// Resources given to `create`, applied by `add_task`: systemd creates the scope together
    /// with its first process.
    pending: Mutex<Option<LinuxResources>>,
}

enum Backend {
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
        let backend = if cfg.systemd {
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
            Backend::V1(_) => None,
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
            Backend::V1(v1) => v1.create(&self.cfg, resources),
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

    /// The container's cgroup directory, opened O_PATH for clone3(CLONE_INTO_CGROUP), when one
    /// cgroup2 directory is the whole placement: the v2 back end on a unified host, after
    /// [`Cgroup::create`]. None on v1/hybrid hosts (v1 hierarchies need cgroup.procs writes), with
    /// the systemd driver (systemd creates the scope together with its first process), or when
    /// the directory cannot be opened (then [`Cgroup::add_task`] reports why).
    pub fn birth_dir(&self) -> Option<std::os::fd::OwnedFd> {
        match &self.backend {
            Backend::V2(v2) => open_cgroup_dir(&v2.dir),
            Backend::V1(_) | Backend::Systemd(_) => None,
        }
    }

    /// Move `pid` into the container's cgroup (every hierarchy).
    pub fn add_task(&self, pid: Pid) -> Result<()> {
        match &self.backend {
            Backend::V1(v1) => v1.add_task(pid),
            Backend::V2(v2) => write_file(&v2.dir.join(CGROUP_PROCS), &pid.to_string()),
            Backend::Systemd(s) => s.add_task(pid),
        }
        .with_context(|| format!("adding process {pid} to cgroup {}", self.cfg.path))
    }

    /// Apply new limits to the live cgroup (only the fields that are set are written).
    pub fn update(&self, resources: &LinuxResources) -> Result<()> {
        match &self.backend {
            Backend::V1(v1) => v1.apply(&self.cfg, resources),
            Backend::V2(v2) => v2.apply(resources),
            Backend::Systemd(s) => apply_lib(&s.lib, resources),
        }
        .with_context(|| format!("updating cgroup {}", self.cfg.path))
    }

    /// Every process in the cgroup (and its sub-cgroups), sorted.
    pub fn pids(&self) -> Result<Vec<Pid>> {
        let mut pids = match &self.backend {
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

    /// Freeze every process, returning once the freezer reports FROZEN.
    pub fn freeze(&self) -> Result<()> {
        self.set_freezer(FreezerState::Frozen).with_context(|| format!("freezing cgroup {}", self.cfg.path))
    }

    /// Thaw, returning once the freezer reports THAWED.
    pub fn thaw(&self) -> Result<()> {
        self.set_freezer(FreezerState::Thawed).with_context(|| format!("thawing cgroup {}", self.cfg.path))
    }

    fn set_freezer(&self, state: FreezerState) -> Result<()> {
        match &self.backend {
            Backend::V1(v1) => {
                let Some(dir) = v1.freezer() else {
                    return Err(Error::new(Kind::System, "the freezer cgroup controller is not mounted"));
                };
                let h = v1.hierarchy("freezer").expect("checked by freezer()");
                if h.rel != self.cfg.path {
                    // libcgroups would address the freezer at `cfg.path`.
                    return Err(Error::new(
                        Kind::System,
                        format!(
                            "the freezer hierarchy holds the container at {}, not {}: libcgroups \
                             addresses one path in every hierarchy",
                            h.rel, self.cfg.path
                        ),
                    ));
                }
                // libcgroups' v1 freezer retries until FROZEN, but does not wait for THAWED.
                v1.lib(&self.cfg)?.freeze(state).map_err(lib_err)?;
                if state == FreezerState::Thawed {
                    wait_v1_thawed(dir)?;
                }
                Ok(())
            }
            // libcgroups' v2 freezer waits for "frozen 1" in cgroup.events and reads back "0".
            Backend::V2(v2) => v2.lib.freeze(state).map_err(lib_err),
            Backend::Systemd(s) => s.lib.freeze(state).map_err(lib_err),
        }
    }

    pub fn is_frozen(&self) -> Result<bool> {
        let r = match &self.backend {
            Backend::V1(v1) => match v1.freezer() {
                Some(dir) => read_trimmed(&dir.join("freezer.state")).map(|s| s == "FROZEN"),
                None => Ok(false),
            },
            Backend::V2(v2) => v2_frozen(&v2.dir),
            Backend::Systemd(_) => v2_frozen(&under(Path::new(CGROUP_ROOT), &systemd_cgroup_path(&self.cfg.path)?)),
        };
        r.with_context(|| format!("reading the freezer state of cgroup {}", self.cfg.path))
    }

    /// How many processes the kernel's OOM killer has killed in this cgroup so far (v1
    /// `memory.oom_control` "oom_kill", v2 `memory.events` "oom_kill"); `events` can report an
    /// `oom` event whenever it grows. 0 when the memory controller is absent.
    pub fn oom_kills(&self) -> Result<u64> {
        let file = match &self.backend {
            Backend::V1(v1) => match v1.hierarchy("memory") {
                Some(h) => h.dir.join("memory.oom_control"),
                None => return Ok(0),
            },
            Backend::V2(v2) => v2.dir.join("memory.events"),
            Backend::Systemd(_) => {
                under(Path::new(CGROUP_ROOT), &systemd_cgroup_path(&self.cfg.path)?).join("memory.events")
            }
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
            Backend::V1(v1) => v1.stats(&self.cfg),
            Backend::V2(v2) => v2.lib.stats().map_err(lib_err).map(|s| stats_to_runc(&v2_cpu_ns(s))),
            Backend::Systemd(s) => s.lib.stats().map_err(lib_err).map(|s| stats_to_runc(&v2_cpu_ns(s))),
        };
        r.with_context(|| format!("reading statistics of cgroup {}", self.cfg.path))
    }
}

/// Whether the container's cgroup is frozen (paused), for `state`: cheap, and false when it
/// cannot tell (cgroup gone, no freezer). No D-Bus round trip with the systemd driver.
pub fn is_frozen(cfg: &CgroupConfig) -> bool {
    if cfg.systemd {
        return systemd_cgroup_path(&cfg.path)
            .and_then(|p| v2_frozen(&under(Path::new(CGROUP_ROOT), &p)))
            .unwrap_or(false);
    }
    Cgroup::open(cfg).and_then(|c| c.is_frozen()).unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// v1 / hybrid

impl V1 {
    fn new(cfg: &CgroupConfig, mounts: CgroupMounts) -> Self {
        let hierarchies = mounts
            .v1
            .into_iter()
            .map(|(key, controllers, mount)| {
                let rel = cfg.per_hierarchy.get(&key).unwrap_or(&cfg.path).clone();
                let dir = under(&mount, &rel);
                Hierarchy { key, controllers, mount, rel, dir }
            })
            .collect();
        let unified = mounts.unified.map(|m| {
            let rel = cfg.per_hierarchy.get(UNIFIED_KEY).unwrap_or(&cfg.path);
            let dir = under(&m, rel);
            (m, dir)
        });
        V1 { hierarchies, unified, lib: OnceLock::new() }
    }

    fn hierarchy(&self, ctrl: &str) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.has(ctrl))
    }

    fn freezer(&self) -> Option<&Path> {
        self.hierarchy("freezer").map(|h| h.dir.as_path())
    }

    /// libcgroups' v1 manager, built on first use: it parses mountinfo and /proc/self/cgroup
    /// twice per controller, so `open` does not build it.
    fn lib(&self, cfg: &CgroupConfig) -> Result<&libcgroups::v1::manager::Manager> {
        if let Some(m) = self.lib.get() {
            return Ok(m);
        }
        let m = libcgroups::v1::manager::Manager::new(Path::new(&cfg.path)).map_err(lib_err)?;
        let _ = self.lib.set(m);
        Ok(self.lib.get().expect("just set"))
    }

    fn create(&self, cfg: &CgroupConfig, resources: Option<&LinuxResources>) -> Result<()> {
        let mut created = Vec::new();
        let r = self.create_dirs(&mut created).and_then(|()| match resources {
            Some(r) => self.apply(cfg, r),
            None => Ok(()),
        });
        if r.is_err() {
            for d in created.iter().rev() {
                let _ = fs::remove_dir(d);
            }
        }
        r
    }

    fn create_dirs(&self, created: &mut Vec<PathBuf>) -> Result<()> {
        for h in &self.hierarchies {
            if mkdir_leaf(&h.dir)
                .map_err(|e| Error::io(e, format!("creating cgroup {} in the {} hierarchy", h.rel, h.key)))?
            {
                created.push(h.dir.clone());
            }
            if h.has("cpuset") {
                // A new v1 cpuset is empty and refuses tasks (ENOSPC) until cpus and mems are set.
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    inherit_cpuset(&h.mount, &h.dir, f)?;
                }
            }
        }
        if let Some((_, dir)) = &self.unified {
            // Best effort, as the unified hierarchy of a hybrid host only tracks processes (and
            // may not be writable for us): limits live in the v1 hierarchies.
            if let Ok(true) = mkdir_leaf(dir) {
                created.push(dir.clone());
            }
        }
        Ok(())
    }

    fn add_task(&self, pid: Pid) -> Result<()> {
        let pid = pid.to_string();
        // The unified hierarchy first: its migration pays the kernel's RCU synchronisation of the
        // cgroup threadgroup lock (~0.6 ms here), which the v1 migrations right after then skip.
        // In the other order the first v1 write pays it too (~0.9 ms more per container).
        if let Some((_, dir)) = &self.unified {
            // Best effort like its creation: a failure here only loses cgroup.kill.
            let _ = write_file(&dir.join(CGROUP_PROCS), &pid);
        }
        for h in &self.hierarchies {
            write_file(&h.dir.join(CGROUP_PROCS), &pid)?;
        }
        Ok(())
    }

    fn pids(&self) -> Result<Vec<Pid>> {
        // Like runc and libcgroups: the devices hierarchy is the reference (never optional).
        let dir = self
            .hierarchy("devices")
            .or(self.hierarchies.first())
            .map(|h| h.dir.as_path())
            .ok_or_else(|| Error::new(Kind::System, "no cgroup v1 hierarchy is mounted"))?;
        all_pids(dir)
    }

    fn apply(&self, cfg: &CgroupConfig, res: &LinuxResources) -> Result<()> {
        let plan = plan_v1(res, &|c| self.hierarchy(c).is_some(), self.unified.is_some())?;
        if plan.lib_resources.is_none()
            && plan.devices_only.is_none()
            && plan.extra.is_empty()
            && plan.hugetlb_v2.is_empty()
        {
            return Ok(());
        }
        if let Some(rules) = &plan.devices_only {
            let h = self.hierarchy("devices").expect("checked by plan_v1");
            write_v1_devices(&h.dir, rules).context("applying device rules")?;
        }
        if plan.blkio_weight {
            let h = self.hierarchy("blkio").expect("checked by plan_v1");
            if !h.dir.join("blkio.weight").exists() && !h.dir.join("blkio.bfq.weight").exists() {
                return Err(Error::new(
                    Kind::System,
                    "setting blkio weight: this kernel has neither blkio.weight nor blkio.bfq.weight (no CFQ/BFQ \
                     I/O scheduler)",
                ));
            }
        }
        // libcgroups' v1 manager applies `cfg.path` in every hierarchy: a controller whose
        // directory is elsewhere (per_hierarchy) cannot be set through it.
        if let Some(r) = &plan.lib_resources {
            for ctrl in std::iter::once("devices").chain(plan.controllers.iter().copied()) {
                if let Some(h) = self.hierarchy(ctrl) {
                    if h.rel != cfg.path {
                        return Err(Error::new(
                            Kind::System,
                            format!(
                                "setting {ctrl} limits on {}: the caller is in different cgroups in different \
                                 hierarchies, which libcgroups cannot address (use an absolute cgroupsPath)",
                                h.rel
                            ),
                        ));
                    }
                }
            }
            let opt = ControllerOpt {
                resources: r,
                disable_oom_killer: r.memory().and_then(|m| m.disable_oom_killer()).unwrap_or(false),
                oom_score_adj: None,
                freezer_state: None,
            };
            self.lib(cfg)?.apply(&opt).map_err(lib_err).context("applying resources")?;
            if !allows_console(r) {
                let h = self.hierarchy("devices").expect("checked by plan_v1");
                let deny = LinuxDeviceCgroupBuilder::default()
                    .allow(false)
                    .typ(LinuxDeviceType::C)
                    .major(5)
                    .minor(1)
                    .access("rwm")
                    .build()
                    .expect("all fields set");
                write_v1_devices(&h.dir, &[deny]).context("applying device rules")?;
            }
        }
        for (ctrl, file, value) in &plan.extra {
            let h = self.hierarchy(ctrl).expect("checked by plan_v1");
            let mut path = h.dir.join(file);
            if file == "blkio.weight_device" && !path.exists() {
                // Like runc: BFQ's file when CFQ's is absent (the case on this kernel).
                path = h.dir.join("blkio.bfq.weight_device");
            }
            if file.starts_with("blkio.leaf_weight") && !path.exists() {
                return Err(Error::new(
                    Kind::System,
                    format!("setting blkio leafWeight: this kernel has no {file} (only the CFQ scheduler had it)"),
                ));
            }
            write_file(&path, value)?;
        }
        if !plan.hugetlb_v2.is_empty() {
            let (mount, dir) = self.unified.as_ref().expect("checked by plan_v1");
            apply_hugetlb_unified(mount, dir, &plan.hugetlb_v2)?;
        }
        Ok(())
    }

    fn stats(&self, cfg: &CgroupConfig) -> Result<Value> {
        if let Some(h) = self.hierarchies.iter().find(|h| h.rel != cfg.path) {
            return Err(Error::new(
                Kind::System,
                format!(
                    "the {} hierarchy holds the container at {}, not {}: libcgroups reads one path in \
                     every hierarchy",
                    h.key, h.rel, cfg.path
                ),
            ));
        }
        let stats = self.lib(cfg)?.stats().map_err(lib_err)?;
        let mut v = stats_to_runc(&stats);
        // Hybrid host: hugetlb is only on the cgroup2 hierarchy, which libcgroups ignores.
        if self.hierarchy("hugetlb").is_none() {
            if let Some((_, dir)) = &self.unified {
                v["hugetlb"] = hugetlb_stats_v2(dir);
            }
        }
        Ok(v)
    }
}

/// What applying a LinuxResources on v1 takes, after working around libcgroups' gaps.
#[derive(Debug, Default)]
struct V1Plan {
    /// What to hand to libcgroups (None: nothing to apply through it).
    lib_resources: Option<LinuxResources>,
    /// v1 controllers libcgroups will write to (besides devices, which it always writes).
    controllers: Vec<&'static str>,
    /// Files libcgroups does not write: (controller, file, value).
    extra: Vec<(&'static str, String, String)>,
    /// Hugepage limits for the cgroup2 hierarchy of a hybrid host: (page size, limit).
    hugetlb_v2: Vec<(String, i64)>,
    /// A blkio weight is requested: check that this kernel has weight files.
    blkio_weight: bool,
    /// Device rules only (no other controller to program): written by us, in libcgroups' order,
    /// without building its v1 manager (which parses mountinfo and /proc/self/cgroup twice per
    /// controller: ~1.3 ms of a 5 ms `create` here).
    devices_only: Option<Vec<LinuxDeviceCgroup>>,
}

fn missing(ctrl: &str, what: &str) -> Error {
    Error::new(Kind::System, format!("setting {what}: the {ctrl} cgroup controller is not mounted on this host"))
}

/// Map linux.resources onto v1 controllers: which are needed, what libcgroups gets, what we write
/// ourselves, and a clear error for anything this host cannot do. `has` says whether a v1
/// controller is mounted; `hybrid` whether a cgroup2 hierarchy is mounted next to them.
fn plan_v1(res: &LinuxResources, has: &dyn Fn(&str) -> bool, hybrid: bool) -> Result<V1Plan> {
    let mut plan = V1Plan::default();
    let mut r = res.clone();
    let need = |ctrl: &'static str, what: &str, plan: &mut V1Plan| -> Result<()> {
        if !has(ctrl) {
            return Err(missing(ctrl, what));
        }
        if !plan.controllers.contains(&ctrl) {
            plan.controllers.push(ctrl);
        }
        Ok(())
    };

    if let Some(u) = res.unified() {
        if !u.is_empty() {
            // runc: "cannot use unified on cgroup v1".
            return Err(Error::new(
                Kind::InvalidSpec,
                "linux.resources.unified: cgroup v2 keys cannot be applied on a cgroup v1 host",
            ));
        }
    }
    r.set_unified(None);
    if res.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        // Neither this host nor libcgroups has the rdma controller.
        return Err(missing("rdma", "rdma limits"));
    }
    r.set_rdma(None);

    if let Some(m) = res.memory() {
        let mut m = *m;
        // Kernel memory limits: kernels ≥ 5.16 accept the write and ignore it (the value stays
        // unlimited, checked on this host), and runc ≥ 1.1 ignores the field: drop it.
        m.set_kernel(None);
        let set = m.limit().is_some()
            || m.reservation().is_some()
            || m.swap().is_some()
            || m.kernel_tcp().is_some()
            || m.swappiness().is_some()
            || m.disable_oom_killer().is_some();
        if set {
            need("memory", "memory limits", &mut plan)?;
            r.set_memory(Some(m));
        } else {
            r.set_memory(None);
        }
    }

    if let Some(c) = res.cpu() {
        let cpu_set = c.shares().is_some()
            || c.quota().is_some()
            || c.period().is_some()
            || c.realtime_runtime().is_some()
            || c.realtime_period().is_some()
            || c.idle().is_some();
        if cpu_set || c.burst().is_some() {
            need("cpu", "cpu limits", &mut plan)?;
        }
        if let (Some(b), false) = (c.burst(), cpu_set) {
            // libcgroups writes burst only together with another cpu field.
            plan.extra.push(("cpu", "cpu.cfs_burst_us".into(), b.to_string()));
        }
        if c.cpus().is_some() || c.mems().is_some() {
            need("cpuset", "cpuset cpus/mems", &mut plan)?;
        }
        if !cpu_set && c.cpus().is_none() && c.mems().is_none() {
            r.set_cpu(None);
        }
    }

    if res.pids().is_some() {
        need("pids", "the pids limit", &mut plan)?;
    }

    if let Some(b) = res.block_io() {
        let mut b = b.clone();
        let throttle = nonempty(b.throttle_read_bps_device())
            || nonempty(b.throttle_write_bps_device())
            || nonempty(b.throttle_read_iops_device())
            || nonempty(b.throttle_write_iops_device());
        let weighted = b.weight().is_some_and(|w| w != 0)
            || b.leaf_weight().is_some_and(|w| w != 0)
            || nonempty(b.weight_device());
        if throttle || weighted {
            need("blkio", "blkio limits", &mut plan)?;
        }
        // blkio.weight exists only with the CFQ/BFQ schedulers: libcgroups and runc both fail
        // with a bare ENOENT; say why instead (checked when applying).
        plan.blkio_weight = weighted;
        // libcgroups ignores leafWeight and weightDevice on v1: write them as runc does.
        if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
            plan.extra.push(("blkio", "blkio.leaf_weight".into(), w.to_string()));
        }
        for wd in b.weight_device().clone().unwrap_or_default() {
            if let Some(w) = wd.weight() {
                plan.extra.push(("blkio", "blkio.weight_device".into(), format!("{}:{} {w}", wd.major(), wd.minor())));
            }
            if let Some(w) = wd.leaf_weight() {
                plan.extra.push((
                    "blkio",
                    "blkio.leaf_weight_device".into(),
                    format!("{}:{} {w}", wd.major(), wd.minor()),
                ));
            }
        }
        b.set_leaf_weight(None);
        b.set_weight_device(None);
        if !throttle && b.weight().is_none_or(|w| w == 0) {
            r.set_block_io(None);
        } else {
            r.set_block_io(Some(b));
        }
    }

    if let Some(h) = res.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
        if has("hugetlb") {
            need("hugetlb", "hugepage limits", &mut plan)?;
        } else if hybrid {
            // The hugetlb controller is on the cgroup2 hierarchy here; libcgroups' v1 manager would
            // report it as "required but not supported".
            for l in h {
                validate_page_size(l.page_size())?;
                plan.hugetlb_v2.push((l.page_size().clone(), l.limit()));
            }
            r.set_hugepage_limits(None);
        } else {
            return Err(missing("hugetlb", "hugepage limits"));
        }
    } else {
        r.set_hugepage_limits(None);
    }

    if let Some(n) = res.network() {
        // libcgroups requires both net_cls and net_prio as soon as `network` is present.
        let class = n.class_id().is_some();
        let prio = n.priorities().as_ref().is_some_and(|p| !p.is_empty());
        if class {
            need("net_cls", "the network classID", &mut plan)?;
        }
        if prio {
            need("net_prio", "network priorities", &mut plan)?;
        }
        if class && !has("net_prio") || prio && !has("net_cls") {
            return Err(Error::new(
                Kind::System,
                "setting network classID/priorities: libcgroups needs both net_cls and net_prio mounted",
            ));
        }
        if !class && !prio {
            r.set_network(None);
        }
    }

    if res.devices().is_some() && !has("devices") {
        return Err(missing("devices", "device rules"));
    }

    let anything = r.devices().is_some()
        || r.memory().is_some()
        || r.cpu().is_some()
        || r.pids().is_some()
        || r.block_io().is_some()
        || r.hugepage_limits().is_some()
        || r.network().is_some();
    if anything {
        if !has("devices") {
            // libcgroups' v1 apply always programs the devices controller.
            return Err(missing("devices", "resources through libcgroups"));
        }
        if plan.controllers.is_empty() {
            plan.devices_only = Some(device_rules(&r));
        } else {
            plan.lib_resources = Some(r);
        }
    }
    Ok(plan)
}

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
fn allows_console(res: &LinuxResources) -> bool {
    res.devices().iter().flatten().any(|d| {
        d.allow()
            && matches!(d.typ().unwrap_or_default(), LinuxDeviceType::A | LinuxDeviceType::C)
            && d.major().is_none_or(|m| m == 5)
            && d.minor().is_none_or(|m| m == 1)
    })
}

/// Program the v1 devices controller: one rule per write, to devices.allow or devices.deny.
fn write_v1_devices(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
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

fn nonempty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

fn validate_page_size(ps: &str) -> Result<()> {
    let digits: String = ps.chars().take_while(|c| c.is_ascii_digit()).collect();
    let unit = &ps[digits.len()..];
    let ok = digits.parse::<u64>().is_ok_and(|n| n.is_power_of_two()) && matches!(unit, "KB" | "MB" | "GB");
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_spec(format!(
            "linux.resources.hugepageLimits: invalid pageSize {ps:?} (expected e.g. \"2MB\")"
        )))
    }
}

/// Hybrid host: write hugepage limits in the cgroup2 hierarchy. The controller must be enabled in
/// every ancestor's `cgroup.subtree_control`: we enable it below the root, but never change the
/// root itself (a host-wide setting).
fn apply_hugetlb_unified(mount: &Path, dir: &Path, limits: &[(String, i64)]) -> Result<()> {
    let root_enabled = read_trimmed(&mount.join("cgroup.subtree_control"))?;
    if !root_enabled.split(' ').any(|c| c == "hugetlb") {
        let available = read_trimmed(&mount.join("cgroup.controllers")).unwrap_or_default();
        let why = if available.split(' ').any(|c| c == "hugetlb") {
            "is not enabled in its root cgroup.subtree_control, and husk does not change that host-wide setting"
        } else {
            "is not available there"
        };
        return Err(Error::new(
            Kind::System,
            format!(
                "setting hugepage limits: there is no v1 hugetlb hierarchy, and the hugetlb controller of the \
                 cgroup2 hierarchy at {} {why}",
                mount.display()
            ),
        ));
    }
    let rel = dir.strip_prefix(mount).unwrap_or(dir);
    let mut cur = mount.to_path_buf();
    let comps: Vec<Component> = rel.components().collect();
    for c in comps.iter().take(comps.len().saturating_sub(1)) {
        cur.push(c);
        let enabled = read_trimmed(&cur.join("cgroup.subtree_control"))?;
        if !enabled.split(' ').any(|c| c == "hugetlb") {
            write_file(&cur.join("cgroup.subtree_control"), "+hugetlb")?;
        }
    }
    for (size, limit) in limits {
        let v = if *limit < 0 { "max".to_string() } else { limit.to_string() };
        write_file(&dir.join(format!("hugetlb.{size}.max")), &v)?;
        let rsvd = dir.join(format!("hugetlb.{size}.rsvd.max"));
        if rsvd.exists() {
            write_file(&rsvd, &v)?;
        }
    }
    Ok(())
}

fn hugetlb_stats_v2(dir: &Path) -> Value {
    let mut out = serde_json::Map::new();
    let Ok(sizes) = libcgroups::stats::supported_page_sizes() else {
        return Value::Object(out);
    };
    for size in sizes {
        let Ok(usage) = read_trimmed(&dir.join(format!("hugetlb.{size}.current"))) else {
            continue;
        };
        let failcnt = read_trimmed(&dir.join(format!("hugetlb.{size}.events")))
            .ok()
            .and_then(|s| s.strip_prefix("max ").and_then(|n| n.trim().parse::<u64>().ok()))
            .unwrap_or(0);
        out.insert(size, json!({"usage": usage.parse::<u64>().unwrap_or(0), "max": 0, "failcnt": failcnt}));
    }
    Value::Object(out)
}

/// Copy cpuset.cpus / cpuset.mems down from the nearest non-empty ancestor into every empty
/// cgroup between it and `dir`.
fn inherit_cpuset(mount: &Path, dir: &Path, file: &str) -> Result<String> {
    let v = read_trimmed(&dir.join(file))?;
    if !v.is_empty() || dir == mount {
        return Ok(v);
    }
    let parent = dir.parent().unwrap_or(mount);
    let v = inherit_cpuset(mount, parent, file)?;
    write_file(&dir.join(file), &v)?;
    Ok(v)
}

fn wait_v1_thawed(dir: &Path) -> Result<()> {
    let deadline = Instant::now() + THAW_TIMEOUT;
    loop {
        let s = read_trimmed(&dir.join("freezer.state"))?;
        if s == "THAWED" {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::new(Kind::System, format!("waiting for THAWED: freezer.state is still {s}")));
        }
        sleep(Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------------------------------
// v2

impl V2 {
    /// `then` runs last (the device filter), before any process is in the cgroup.
    fn create(&self, resources: Option<&LinuxResources>) -> Result<()> {
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
    fn apply(&self, res: &LinuxResources) -> Result<()> {
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
fn v2_fixups(res: &LinuxResources, bfq: bool) -> (Option<LinuxResources>, Vec<(&'static str, String)>) {
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
fn io_weight_from_blkio(w: u16) -> u64 {
    1 + u64::from(w.saturating_sub(10)) * 9999 / 990
}

/// mkdir the chain below `root`, enabling in each ancestor every controller it has available
/// (as runc and libcgroups do), so that limits can be written before a process joins. A refused
/// enable (e.g. an ancestor with processes of its own) is left for the limit that needs it to
/// report.
/// Returns whether the leaf was created (false: it existed).
fn create_v2_dirs(root: &Path, dir: &Path) -> Result<bool> {
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

/// A cgroup2 directory as an O_PATH fd (close-on-exec) for clone3(CLONE_INTO_CGROUP); None if it
/// cannot be opened or is not on a cgroup2 file system (a v1 hierarchy: clone3 would refuse it).
pub fn open_cgroup_dir(dir: &Path) -> Option<std::os::fd::OwnedFd> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let fd = crate::sys::fs::own_fd(nix::fcntl::open(dir, flags, nix::sys::stat::Mode::empty()).ok()?);
    let st = nix::sys::statfs::fstatfs(&fd).ok()?;
    (st.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC).then_some(fd)
}

/// mkdir -p; whether the last component was created by this call.
fn mkdir_leaf(dir: &Path) -> std::io::Result<bool> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                fs::create_dir_all(parent)?;
            }
            match fs::create_dir(dir) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

fn apply_lib_v2(lib: &libcgroups::v2::manager::Manager, res: &LinuxResources) -> Result<()> {
    let opt = ControllerOpt {
        resources: res,
        disable_oom_killer: res.memory().and_then(|m| m.disable_oom_killer()).unwrap_or(false),
        oom_score_adj: None,
        freezer_state: None,
    };
    lib.apply(&opt).map_err(lib_err).context("applying resources")
}

fn apply_lib(lib: &AnyCgroupManager, res: &LinuxResources) -> Result<()> {
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

fn resources_empty(r: &LinuxResources) -> bool {
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

fn v2_frozen(dir: &Path) -> Result<bool> {
    let events = read_trimmed(&dir.join("cgroup.events"))?;
    Ok(events.lines().any(|l| l.trim() == "frozen 1"))
}

// ---------------------------------------------------------------------------------------------
// systemd

impl Systemd {
    fn open(cfg: &CgroupConfig) -> Result<Self> {
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

    fn add_task(&self, pid: Pid) -> Result<()> {
        self.lib.add_task(pid).map_err(lib_err)?;
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
        match pending {
            Some(r) => apply_lib(&self.lib, &r),
            None => Ok(()),
        }
    }
}

/// `slice:prefix:name` → the cgroup path systemd gives the scope
/// (`a-b.slice:p:n` → `/a.slice/a-b.slice/p-n.scope`).
fn systemd_cgroup_path(path: &str) -> Result<String> {
    let parts: Vec<&str> = path.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return Err(Error::invalid_spec(format!("expected \"slice:prefix:name\", got {path:?}")));
    };
    let slice = if slice.is_empty() { "system.slice" } else { slice };
    let mut out = String::new();
    if slice != "-.slice" {
        let stem = slice.strip_suffix(".slice").unwrap_or(slice);
        let mut acc = String::new();
        for part in stem.split('-') {
            if !acc.is_empty() {
                acc.push('-');
            }
            acc.push_str(part);
            out.push('/');
            out.push_str(&acc);
            out.push_str(".slice");
        }
    }
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    Ok(format!("{out}/{unit}"))
}

// ---------------------------------------------------------------------------------------------
// Files

fn write_file(path: &Path, data: &str) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(e, format!("opening {}", path.display())))?;
    f.write_all(data.as_bytes()).map_err(|e| Error::io(e, format!("writing {data:?} to {}", path.display())))
}

fn read_trimmed(path: &Path) -> Result<String> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| Error::io(e, format!("reading {}", path.display())))
}

/// The value of `key` in a flat-keyed cgroup file ("key value" lines).
fn flat_keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Pids in `dir` and every sub-cgroup; a missing `dir` has none.
fn all_pids(dir: &Path) -> Result<Vec<Pid>> {
    let mut out = Vec::new();
    collect_pids(dir, &mut out)?;
    Ok(out)
}

fn collect_pids(dir: &Path, out: &mut Vec<Pid>) -> Result<()> {
    let procs = dir.join(CGROUP_PROCS);
    match fs::read_to_string(&procs) {
        Ok(s) => out.extend(s.lines().filter_map(|l| l.trim().parse().ok()).map(Pid::from_raw)),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(e, format!("reading {}", procs.display()))),
    }
    for sub in sub_cgroups(dir)? {
        collect_pids(&sub, out)?;
    }
    Ok(())
}

fn sub_cgroups(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(e, format!("listing {}", dir.display()))),
    };
    let mut subs = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| Error::io(e, format!("listing {}", dir.display())))?;
        if ent.file_type().is_ok_and(|t| t.is_dir()) {
            subs.push(ent.path());
        }
    }
    Ok(subs)
}

/// rmdir `dir` after its sub-cgroups (cgroupfs directories hold only control files, which go with
/// the rmdir). Missing is fine.
fn remove_tree(dir: &Path) -> Result<()> {
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        // EBUSY: processes, or sub-cgroups (listed only then, to keep the common case cheap).
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            let subs = sub_cgroups(dir)?;
            if subs.is_empty() {
                return Err(Error::io(e, format!("removing {}", dir.display())));
            }
            for sub in subs {
                remove_tree(&sub)?;
            }
        }
        Err(e) => return Err(Error::io(e, format!("removing {}", dir.display()))),
    }
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(e, format!("removing {}", dir.display()))),
    }
}

// ---------------------------------------------------------------------------------------------
// Stats

/// v2's cpu.stat counts microseconds and libcgroups passes them on; runc's stats (and v1's
/// cpuacct) are nanoseconds.
fn v2_cpu_ns(mut s: Stats) -> Stats {
    let u = &mut s.cpu.usage;
    for v in [&mut u.usage_total, &mut u.usage_user, &mut u.usage_kernel, &mut s.cpu.throttling.throttled_time] {
        *v = v.saturating_mul(1000);
    }
    s
}

/// libcgroups' Stats → the `data` object of runc's stats event (runc's types.Stats field names).
fn stats_to_runc(s: &Stats) -> Value {
    let mem_entry = |d: &libcgroups::stats::MemoryData| json!({"limit": d.limit, "usage": d.usage, "max": d.max_usage, "failcnt": d.fail_count});
    let blk = |v: &[libcgroups::stats::BlkioDeviceStat]| -> Value {
        v.iter()
            .map(|e| {
                json!({"major": e.major, "minor": e.minor, "op": e.op_type.clone().unwrap_or_default(), "value": e.value})
            })
            .collect()
    };
    let raw: serde_json::Map<String, Value> =
        s.memory.stats.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<BTreeMap<_, _>>().into_iter().collect();
    let hugetlb: serde_json::Map<String, Value> = s
        .hugetlb
        .iter()
        .map(|(k, h)| (k.clone(), json!({"usage": h.usage, "max": h.max_usage, "failcnt": h.fail_count})))
        .collect::<HashMap<_, _>>()
        .into_iter()
        .collect();
    let u = &s.cpu.usage;
    json!({
        "cpu": {
            "usage": {
                "total": u.usage_total,
                "percpu": u.per_core_usage_total,
                "percpu_kernel": u.per_core_usage_kernel,
                "percpu_user": u.per_core_usage_user,
                "kernel": u.usage_kernel,
                "user": u.usage_user,
            },
            "throttling": {
                "periods": s.cpu.throttling.periods,
                "throttledPeriods": s.cpu.throttling.throttled_periods,
                "throttledTime": s.cpu.throttling.throttled_time,
            },
        },
        "memory": {
            "cache": s.memory.cache,
            "usage": mem_entry(&s.memory.memory),
            "swap": mem_entry(&s.memory.memswap),
            "kernel": mem_entry(&s.memory.kernel),
            "kernelTCP": mem_entry(&s.memory.kernel_tcp),
            "raw": raw,
        },
        "pids": {"current": s.pids.current, "limit": s.pids.limit},
        "blkio": {
            "ioServiceBytesRecursive": blk(&s.blkio.service_bytes),
            "ioServicedRecursive": blk(&s.blkio.serviced),
            "ioQueueRecursive": blk(&s.blkio.queued),
            "ioServiceTimeRecursive": blk(&s.blkio.service_time),
            "ioWaitTimeRecursive": blk(&s.blkio.wait_time),
            "ioMergedRecursive": blk(&s.blkio.merged),
            "ioTimeRecursive": blk(&s.blkio.time),
            "sectorsRecursive": blk(&s.blkio.sectors),
        },
        "hugetlb": hugetlb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxHugepageLimitBuilder,
        LinuxMemoryBuilder, LinuxNetworkBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
    };

    const HYBRID_SELF: &str = "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n\
        4:memory:/process_api/211896d7\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n";

    #[test]
    fn clean_path_like_runc() {
        assert_eq!(clean_path(""), "");
        assert_eq!(clean_path("/a/../b//c/."), "/b/c");
        assert_eq!(clean_path("/../.."), "/");
        assert_eq!(clean_path("../../x/y"), "x/y");
        assert_eq!(clean_path("a/./b/../c"), "a/c");
    }

    #[test]
    fn root_cgroup_is_refused() {
        for p in ["/", "/..", "/husk-test/../..", "//", "/./"] {
            let e = CgroupConfig::resolve(Some(Path::new(p)), "id", false).unwrap_err();
            assert_eq!(e.kind(), Kind::InvalidSpec, "{p}");
            assert!(e.to_string().starts_with("linux.cgroupsPath:"), "{e}");
        }
        assert_eq!(CgroupConfig::resolve(Some(Path::new("/a")), "id", false).unwrap().path, "/a");
    }

    #[test]
    fn absolute_path_is_used_as_is() {
        let c = CgroupConfig::resolve(Some(Path::new("/a/../b/c")), "id", false).unwrap();
        assert_eq!(c, CgroupConfig { path: "/b/c".into(), systemd: false, per_hierarchy: BTreeMap::new() });
    }

    #[test]
    fn relative_path_nests_per_hierarchy_on_v1() {
        let c = resolve_relative("c1", HYBRID_SELF).unwrap();
        assert_eq!(c.path, "/c1");
        assert!(!c.systemd);
        let want: BTreeMap<String, String> = [("memory".to_string(), "/process_api/211896d7/c1".to_string())].into();
        assert_eq!(c.per_hierarchy, want);
        // Everything at the root: no per-hierarchy entry.
        let c = resolve_relative("x/y", "2:cpu,cpuacct:/\n1:memory:/\n0::/\n").unwrap();
        assert_eq!(c.path, "/x/y");
        assert!(c.per_hierarchy.is_empty());
        // Co-mounted controllers are keyed sorted.
        let c = resolve_relative("x", "2:cpuacct,cpu:/a\n1:memory:/\n0::/\n").unwrap();
        assert_eq!(c.path, "/x");
        assert_eq!(c.per_hierarchy.get("cpu,cpuacct").map(String::as_str), Some("/a/x"));
    }

    #[test]
    fn relative_path_nests_under_parent_cgroup_on_v2() {
        let c = resolve_relative("c1", "0::/user.slice/user-0.slice/session-1.scope\n").unwrap();
        assert_eq!(c.path, "/user.slice/user-0.slice/c1");
        let c = resolve_relative("c1", "0::/\n").unwrap();
        assert_eq!(c.path, "/c1");
    }

    #[test]
    fn systemd_paths() {
        let c = CgroupConfig::resolve(None, "abc", true).unwrap();
        assert_eq!(c.path, "system.slice:husk:abc");
        assert!(c.systemd);
        let c = CgroupConfig::resolve(Some(Path::new("machine.slice:podman:x")), "abc", true).unwrap();
        assert_eq!(c.path, "machine.slice:podman:x");
        let e = CgroupConfig::resolve(Some(Path::new("/a/b")), "abc", true).unwrap_err();
        assert_eq!(e.kind(), Kind::InvalidSpec);
        assert!(e.to_string().contains("slice:prefix:name"), "{e}");
        assert_eq!(systemd_cgroup_path("system.slice:husk:abc").unwrap(), "/system.slice/husk-abc.scope");
        assert_eq!(systemd_cgroup_path("a-b.slice:p:n").unwrap(), "/a.slice/a-b.slice/p-n.scope");
    }

    #[test]
    fn config_round_trips_through_json() {
        let c = resolve_relative("c1", HYBRID_SELF).unwrap();
        let s = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<CgroupConfig>(&s).unwrap(), c);
        let plain: CgroupConfig = serde_json::from_str(r#"{"path":"/a","systemd":false}"#).unwrap();
        assert!(plain.per_hierarchy.is_empty());
        assert!(!serde_json::to_string(&plain).unwrap().contains("per_hierarchy"));
    }

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

    #[test]
    fn v1_directories_follow_per_hierarchy_paths() {
        let mounts = parse_mountinfo(
            "1 0 0:1 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
             2 0 0:2 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             3 0 0:3 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n",
        );
        let cfg = resolve_relative("c1", "3:cpu,cpuacct:/\n2:memory:/agent/x\n0::/\n").unwrap();
        let v1 = V1::new(&cfg, mounts);
        let dirs: Vec<(&str, &Path)> = v1.hierarchies.iter().map(|h| (h.key.as_str(), h.dir.as_path())).collect();
        assert_eq!(
            dirs,
            [
                ("memory", Path::new("/sys/fs/cgroup/memory/agent/x/c1")),
                ("cpu,cpuacct", Path::new("/sys/fs/cgroup/cpu,cpuacct/c1")),
            ]
        );
        assert_eq!(v1.unified.as_ref().unwrap().1, Path::new("/sys/fs/cgroup/unified/c1"));
        assert_eq!(v1.freezer(), None);
        assert!(v1.hierarchy("cpuacct").is_some());
    }

    /// This host: v1 controllers except hugetlb/net_cls/net_prio/rdma, plus a cgroup2 hierarchy.
    fn host_has(c: &str) -> bool {
        ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"].contains(&c)
    }

    #[test]
    fn empty_resources_touch_nothing() {
        let r = LinuxResources::default();
        let p = plan_v1(&r, &host_has, true).unwrap();
        assert!(p.lib_resources.is_none() && p.extra.is_empty() && p.hugetlb_v2.is_empty());
        // Present but empty sections are dropped too.
        let r = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().build().unwrap())
            .cpu(LinuxCpuBuilder::default().build().unwrap())
            .network(LinuxNetworkBuilder::default().build().unwrap())
            .hugepage_limits(vec![])
            .build()
            .unwrap();
        let p = plan_v1(&r, &host_has, true).unwrap();
        assert!(p.lib_resources.is_none(), "{p:?}");
    }

    #[test]
    fn resources_map_to_controllers() {
        let r = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(1 << 26).kernel(1 << 20).build().unwrap())
            .cpu(LinuxCpuBuilder::default().shares(512u64).cpus("0").build().unwrap())
            .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
            .build()
            .unwrap();
        let p = plan_v1(&r, &host_has, true).unwrap();
        assert_eq!(p.controllers, ["memory", "cpu", "cpuset", "pids"]);
        let lib = p.lib_resources.unwrap();
        assert_eq!(lib.memory().unwrap().kernel(), None, "kernel memory is dropped");
        assert_eq!(lib.memory().unwrap().limit(), Some(1 << 26));

        // cpu burst alone: written by us, not handed to libcgroups (which would skip it).
        let r = LinuxResourcesBuilder::default()
            .cpu(LinuxCpuBuilder::default().burst(1000u64).build().unwrap())
            .build()
            .unwrap();
        let p = plan_v1(&r, &host_has, true).unwrap();
        assert!(p.lib_resources.is_none());
        assert_eq!(p.extra, [("cpu", "cpu.cfs_burst_us".to_string(), "1000".to_string())]);

        // blkio weight: flagged for the weight-file check.
        let r = LinuxResourcesBuilder::default()
            .block_io(LinuxBlockIoBuilder::default().weight(500u16).build().unwrap())
            .build()
            .unwrap();
        let p = plan_v1(&r, &host_has, true).unwrap();
        assert!(p.blkio_weight);
        assert_eq!(p.controllers, ["blkio"]);
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

    #[test]
    fn missing_controllers_are_named() {
        let hp = LinuxHugepageLimitBuilder::default().page_size("2MB").limit(1 << 21).build().unwrap();
        let r = LinuxResourcesBuilder::default().hugepage_limits(vec![hp]).build().unwrap();
        // Hybrid: hugetlb goes to the cgroup2 hierarchy.
        let p = plan_v1(&r, &host_has, true).unwrap();
        assert_eq!(p.hugetlb_v2, [("2MB".to_string(), 1 << 21)]);
        assert!(p.lib_resources.is_none());
        // Pure v1 without hugetlb: an error naming it.
        let e = plan_v1(&r, &host_has, false).unwrap_err();
        assert!(e.to_string().contains("hugetlb cgroup controller is not mounted"), "{e}");

        let r = LinuxResourcesBuilder::default()
            .network(LinuxNetworkBuilder::default().class_id(0x100001u32).build().unwrap())
            .build()
            .unwrap();
        let e = plan_v1(&r, &host_has, true).unwrap_err();
        assert!(e.to_string().contains("net_cls"), "{e}");

        let r = LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
            .build()
            .unwrap();
        let e = plan_v1(&r, &|c| c != "pids" && host_has(c), true).unwrap_err();
        assert_eq!(e.to_string(), "setting the pids limit: the pids cgroup controller is not mounted on this host");

        let r = LinuxResourcesBuilder::default()
            .unified(HashMap::from([("memory.max".to_string(), "1".to_string())]))
            .build()
            .unwrap();
        let e = plan_v1(&r, &host_has, true).unwrap_err();
        assert_eq!(e.kind(), Kind::InvalidSpec);

        let bad = LinuxHugepageLimitBuilder::default().page_size("3MB").limit(1).build().unwrap();
        let r = LinuxResourcesBuilder::default().hugepage_limits(vec![bad]).build().unwrap();
        assert!(plan_v1(&r, &host_has, true).unwrap_err().to_string().contains("3MB"));
    }

    #[test]
    fn stats_have_runc_shape() {
        let mut s = Stats::default();
        s.memory.memory.limit = 42;
        s.pids.current = 3;
        s.memory.stats.insert("cache".into(), 7);
        let v = stats_to_runc(&s);
        assert_eq!(v["memory"]["usage"]["limit"], 42);
        assert_eq!(v["memory"]["raw"]["cache"], 7);
        assert_eq!(v["pids"]["current"], 3);
        for k in ["cpu", "memory", "pids", "blkio", "hugetlb"] {
            assert!(v.get(k).is_some(), "{k} missing");
        }
        assert!(v["cpu"]["throttling"].get("throttledPeriods").is_some());
        assert!(v["blkio"]["ioServiceBytesRecursive"].is_array());
    }

    // ------------------------------------------------------------------------------------------
    // Root integration tests: real cgroups under /husk-test/<unique>, removed by a drop guard.

    use std::process::{Child, Command};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static SEQ: AtomicUsize = AtomicUsize::new(0);

    fn skip() -> bool {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return true;
        }
        if is_cgroup2_root().unwrap_or(true) {
            eprintln!("skipped: these checks read v1 files (this host is hybrid v1)");
            return true;
        }
        false
    }

    /// Owns a test cgroup and its children: kills and removes everything on drop, pass or fail.
    struct Guard {
        cg: Cgroup,
        rel: String,
        children: Vec<Child>,
    }

    impl Guard {
        fn new(name: &str) -> Guard {
            let rel = format!("/husk-test/{name}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
            let cfg = CgroupConfig::resolve(Some(Path::new(&rel)), "ignored", false).unwrap();
            Guard { cg: Cgroup::open(&cfg).unwrap(), rel, children: Vec::new() }
        }
        fn dir(&self, ctrl: &str) -> PathBuf {
            under(&Path::new(CGROUP_ROOT).join(ctrl), &self.rel)
        }
        fn sleeper(&mut self) -> Pid {
            let c = Command::new("sleep").arg("1000").spawn().expect("spawning sleep");
            let pid = Pid::from_raw(c.id() as i32);
            self.children.push(c);
            pid
        }
        fn reap(&mut self) {
            for c in &mut self.children {
                let _ = c.kill();
                let _ = c.wait();
            }
            self.children.clear();
        }
        fn leftovers(&self) -> Vec<PathBuf> {
            let mut dirs: Vec<PathBuf> =
                ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd", "unified"]
                    .iter()
                    .map(|c| self.dir(c))
                    .collect();
            dirs.retain(|d| d.exists());
            dirs
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.cg.thaw();
            self.reap();
            let _ = self.cg.destroy();
            for d in self.leftovers() {
                let _ = remove_tree(&d);
            }
            // The parent /husk-test is left alone: other suites on this machine use it too, and
            // removing it while one of them is between its mkdirs would break that suite.
        }
    }

    fn read(p: PathBuf) -> String {
        fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display())).trim().to_string()
    }

    #[test]
    fn root_lifecycle_with_limits() {
        if skip() {
            return;
        }
        let mut g = Guard::new("life");
        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64 << 20)
                    .reservation(32 << 20)
                    .swap(96 << 20)
                    .kernel_tcp(16 << 20)
                    .disable_oom_killer(true)
                    .swappiness(10u64)
                    .build()
                    .unwrap(),
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(512u64)
                    .quota(50_000i64)
                    .period(100_000u64)
                    .cpus("0")
                    .mems("0")
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(32).build().unwrap())
            .devices(vec![
                LinuxDeviceCgroupBuilder::default().allow(false).access("rwm").build().unwrap(),
                LinuxDeviceCgroupBuilder::default()
                    .allow(true)
                    .typ(LinuxDeviceType::C)
                    .major(1i64)
                    .minor(3i64)
                    .access("rwm")
                    .build()
                    .unwrap(),
            ])
            .build()
            .unwrap();
        g.cg.create(Some(&r)).unwrap();
        assert_eq!(read(g.dir("memory").join("memory.limit_in_bytes")), (64u64 << 20).to_string());
        assert_eq!(read(g.dir("memory").join("memory.soft_limit_in_bytes")), (32u64 << 20).to_string());
        assert_eq!(read(g.dir("memory").join("memory.swappiness")), "10");
        assert_eq!(read(g.dir("memory").join("memory.memsw.limit_in_bytes")), (96u64 << 20).to_string());
        assert_eq!(read(g.dir("memory").join("memory.kmem.tcp.limit_in_bytes")), (16u64 << 20).to_string());
        assert!(read(g.dir("memory").join("memory.oom_control")).contains("oom_kill_disable 1"));
        let devices = read(g.dir("devices").join("devices.list"));
        assert!(devices.lines().any(|l| l == "c 1:3 rwm"), "{devices}");
        assert!(!devices.lines().any(|l| l == "a *:* rwm"), "{devices}");
        assert_eq!(read(g.dir("cpu").join("cpu.shares")), "512");
        assert_eq!(read(g.dir("cpu").join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read(g.dir("cpu").join("cpu.cfs_period_us")), "100000");
        assert_eq!(read(g.dir("cpuset").join("cpuset.cpus")), "0");
        assert_eq!(read(g.dir("pids").join("pids.max")), "32");
        for d in ["systemd", "unified", "freezer", "devices", "blkio", "cpuacct"] {
            assert!(g.dir(d).is_dir(), "{d} cgroup missing");
        }

        let pid = g.sleeper();
        g.cg.add_task(pid).unwrap();
        assert_eq!(g.cg.pids().unwrap(), [pid]);
        for d in ["memory", "cpu", "pids", "freezer", "unified", "systemd"] {
            assert_eq!(read(g.dir(d).join(CGROUP_PROCS)), pid.to_string(), "{d}");
        }

        g.cg.freeze().unwrap();
        assert_eq!(read(g.dir("freezer").join("freezer.state")), "FROZEN");
        assert!(g.cg.is_frozen().unwrap());
        assert!(is_frozen(g.cg.config()));
        g.cg.thaw().unwrap();
        assert_eq!(read(g.dir("freezer").join("freezer.state")), "THAWED");
        assert!(!g.cg.is_frozen().unwrap());
        assert!(!is_frozen(g.cg.config()));

        let up = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(128 << 20).swap(256 << 20).build().unwrap())
            .pids(LinuxPidsBuilder::default().limit(64).build().unwrap())
            .build()
            .unwrap();
        g.cg.update(&up).unwrap();
        assert_eq!(read(g.dir("memory").join("memory.limit_in_bytes")), (128u64 << 20).to_string());
        assert_eq!(read(g.dir("pids").join("pids.max")), "64");

        let st = g.cg.stats().unwrap();
        assert_eq!(st["memory"]["usage"]["limit"], 128u64 << 20);
        assert_eq!(st["pids"]["current"], 1);
        assert_eq!(st["pids"]["limit"], 64);
        assert!(st["cpu"]["usage"]["total"].as_u64().is_some());

        g.cg.kill_all(Signal::SIGKILL).unwrap();
        let status = g.children[0].wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
        g.children.clear();
        g.cg.destroy().unwrap();
        assert_eq!(g.leftovers(), Vec::<PathBuf>::new());
        g.cg.destroy().unwrap(); // already gone is fine
    }

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
    fn v2_cpu_stats_are_nanoseconds() {
        let mut s = Stats::default();
        s.cpu.usage.usage_total = 240840;
        s.cpu.usage.usage_user = 2;
        s.cpu.usage.usage_kernel = 3;
        s.cpu.throttling.throttled_time = 4;
        let v = stats_to_runc(&v2_cpu_ns(s));
        assert_eq!(v["cpu"]["usage"]["total"], 240840000u64);
        assert_eq!(v["cpu"]["usage"]["user"], 2000);
        assert_eq!(v["cpu"]["usage"]["kernel"], 3000);
        assert_eq!(v["cpu"]["throttling"]["throttledTime"], 4000);
    }

    #[test]
    fn io_weight_conversion() {
        assert_eq!(io_weight_from_blkio(10), 1);
        assert_eq!(io_weight_from_blkio(300), 2930);
        assert_eq!(io_weight_from_blkio(500), 4950);
        assert_eq!(io_weight_from_blkio(1000), 10000);
        assert_eq!(io_weight_from_blkio(1), 1);
    }

    #[test]
    fn flat_keyed_files() {
        let t = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(flat_keyed(t, "oom_kill"), Some(3));
        assert_eq!(flat_keyed(t, "oom"), None);
    }

    #[test]
    fn root_oom_kill_is_counted() {
        if skip() {
            return;
        }
        let mut g = Guard::new("oom");
        let r = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(8 << 20).swap(8 << 20).build().unwrap())
            .build()
            .unwrap();
        g.cg.create(Some(&r)).unwrap();
        assert_eq!(g.cg.oom_kills().unwrap(), 0);
        // Joins while waiting on stdin, then grows without bound.
        let mut c = Command::new("sh")
            .args(["-c", "read x; exec tail /dev/zero"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = c.stdin.take().unwrap();
        let pid = Pid::from_raw(c.id() as i32);
        g.children.push(c); // killed by the guard if anything below fails
        g.cg.add_task(pid).unwrap();
        { stdin }.write_all(b"go\n").unwrap();
        let st = g.children[0].wait().unwrap();
        g.children.clear();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(libc::SIGKILL));
        assert_eq!(g.cg.oom_kills().unwrap(), 1);
    }

    #[test]
    fn root_kill_all_keeps_a_paused_container_paused() {
        if skip() {
            return;
        }
        let mut g = Guard::new("pause");
        g.cg.create(None).unwrap();
        let pid = g.sleeper();
        g.cg.add_task(pid).unwrap();
        g.cg.freeze().unwrap();
        g.cg.kill_all(Signal::SIGTERM).unwrap();
        assert!(g.cg.is_frozen().unwrap());
        g.cg.thaw().unwrap();
        let status = g.children[0].wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGTERM));
        g.children.clear();
    }

    #[test]
    fn root_destroy_kills_remaining_processes_and_sub_cgroups() {
        if skip() {
            return;
        }
        let mut g = Guard::new("busy");
        g.cg.create(None).unwrap();
        let a = g.sleeper();
        g.cg.add_task(a).unwrap();
        // A process in a sub-cgroup of the memory hierarchy, as a container with cgroupns could make.
        let sub = g.dir("memory").join("inner");
        fs::create_dir(&sub).unwrap();
        let b = g.sleeper();
        write_file(&sub.join(CGROUP_PROCS), &b.to_string()).unwrap();
        assert_eq!(g.cg.pids().unwrap().len(), 1, "devices hierarchy holds only a");
        g.cg.destroy().unwrap();
        assert_eq!(g.leftovers(), Vec::<PathBuf>::new());
        for c in &mut g.children {
            let st = c.wait().unwrap();
            assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(libc::SIGKILL));
        }
        g.children.clear();
    }

    #[test]
    fn root_unsupported_resources_fail_clearly_and_leave_nothing() {
        if skip() {
            return;
        }
        let g = Guard::new("hugetlb");
        let hp = LinuxHugepageLimitBuilder::default().page_size("2MB").limit(1 << 21).build().unwrap();
        let r = LinuxResourcesBuilder::default().hugepage_limits(vec![hp]).build().unwrap();
        let root_has = read(PathBuf::from("/sys/fs/cgroup/unified/cgroup.subtree_control"));
        match g.cg.create(Some(&r)) {
            Err(e) => {
                let s = e.to_string();
                assert!(s.starts_with(&format!("creating cgroup {}: setting hugepage limits", g.rel)), "{s}");
                assert!(s.contains("hugetlb"), "{s}");
                assert_eq!(g.leftovers(), Vec::<PathBuf>::new());
            }
            Ok(()) => assert!(root_has.contains("hugetlb"), "applied without hugetlb delegated"),
        }
        assert_eq!(read(PathBuf::from("/sys/fs/cgroup/unified/cgroup.subtree_control")), root_has);

        let g = Guard::new("blkio");
        let r = LinuxResourcesBuilder::default()
            .block_io(LinuxBlockIoBuilder::default().weight(500u16).build().unwrap())
            .build()
            .unwrap();
        // This kernel has BFQ's blkio.bfq.weight (not CFQ's blkio.weight) in non-root cgroups.
        match g.cg.create(Some(&r)) {
            Ok(()) => assert_eq!(read(g.dir("blkio").join("blkio.bfq.weight")), "500"),
            Err(e) => {
                assert!(e.to_string().contains("blkio weight"), "{e}");
                assert_eq!(g.leftovers(), Vec::<PathBuf>::new());
            }
        }
        g.cg.destroy().unwrap();
        let r = LinuxResourcesBuilder::default()
            .block_io(LinuxBlockIoBuilder::default().leaf_weight(500u16).build().unwrap())
            .build()
            .unwrap();
        if !g.dir("blkio").join("blkio.leaf_weight").exists() {
            let e = g.cg.create(Some(&r)).unwrap_err();
            assert!(e.to_string().contains("leafWeight"), "{e}");
            assert_eq!(g.leftovers(), Vec::<PathBuf>::new());
        }
    }

    #[test]
    fn root_failed_create_spares_an_existing_cgroup() {
        if skip() {
            return;
        }
        let mut g = Guard::new("shared");
        g.cg.create(None).unwrap();
        let pid = g.sleeper();
        g.cg.add_task(pid).unwrap();
        let bad = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().swappiness(1000u64).build().unwrap())
            .build()
            .unwrap();
        let e = g.cg.create(Some(&bad)).unwrap_err();
        assert!(e.to_string().contains("swappiness"), "{e}");
        assert!(g.dir("memory").is_dir());
        assert_eq!(g.cg.pids().unwrap(), [pid]);
        assert!(g.children[0].try_wait().unwrap().is_none(), "the process must survive");
    }

    /// The v2 code path, run in this host's cgroup2 hierarchy below a directory of our own (which
    /// has no controllers delegated: the root's cgroup.subtree_control is never changed).
    #[test]
    fn root_v2_freeze_kill_destroy() {
        if skip() {
            return;
        }
        let base = PathBuf::from(format!(
            "/sys/fs/cgroup/unified/husk-test-v2-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&base).unwrap();
        struct Base(PathBuf);
        impl Drop for Base {
            fn drop(&mut self) {
                let _ = fs::write(self.0.join("c/cgroup.kill"), "1");
                sleep(Duration::from_millis(20));
                let _ = remove_tree(&self.0);
            }
        }
        let base = Base(base);
        let cfg = CgroupConfig::resolve(Some(Path::new("/c")), "x", false).unwrap();
        let cg = Cgroup::open_v2_at(&base.0, &cfg).unwrap();
        let dir = base.0.join("c");

        // A limit whose controller is not delegated fails, and the new leaf goes away.
        let r = LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
            .build()
            .unwrap();
        let e = cg.create(Some(&r)).unwrap_err();
        assert!(e.to_string().starts_with("creating cgroup /c: applying resources"), "{e}");
        assert!(!dir.exists());

        cg.create(None).unwrap();
        assert!(dir.is_dir());
        let mut a = Command::new("sleep").arg("1000").spawn().unwrap();
        let pid = Pid::from_raw(a.id() as i32);
        cg.add_task(pid).unwrap();
        assert_eq!(cg.pids().unwrap(), [pid]);
        cg.freeze().unwrap();
        assert!(cg.is_frozen().unwrap());
        assert_eq!(read(dir.join("cgroup.freeze")), "1");
        cg.thaw().unwrap();
        assert!(!cg.is_frozen().unwrap());
        cg.kill_all(Signal::SIGTERM).unwrap();
        let st = a.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(libc::SIGTERM));

        let mut b = Command::new("sleep").arg("1000").spawn().unwrap();
        cg.add_task(Pid::from_raw(b.id() as i32)).unwrap();
        cg.kill_all(Signal::SIGKILL).unwrap(); // cgroup.kill
        let st = b.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(libc::SIGKILL));
        cg.destroy().unwrap();
        assert!(!dir.exists());
        cg.destroy().unwrap();
    }

    /// clone3(CLONE_INTO_CGROUP) through `birth_dir`, in this host's cgroup2 hierarchy below a
    /// directory of our own: the child is listed in the cgroup although nobody wrote its
    /// cgroup.procs. A v1 directory is never offered (clone3 would refuse it).
    #[test]
    fn root_v2_child_born_in_birth_dir() {
        use crate::sys::process::{fork_into_cgroup, Forked};
        use std::os::fd::AsFd;
        if skip() {
            return;
        }
        assert!(open_cgroup_dir(Path::new("/sys/fs/cgroup/pids")).is_none());
        let name = format!("husk-test-clone3-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let base = PathBuf::from("/sys/fs/cgroup/unified").join(&name);
        fs::create_dir(&base).unwrap();
        struct Base(PathBuf);
        impl Drop for Base {
            fn drop(&mut self) {
                let _ = remove_tree(&self.0);
            }
        }
        let base = Base(base);
        let cfg = CgroupConfig::resolve(Some(Path::new("/c")), "x", false).unwrap();
        let cg = Cgroup::open_v2_at(&base.0, &cfg).unwrap();
        cg.create(None).unwrap();
        let dir = cg.birth_dir().expect("the v2 directory, opened");
        // The child only waits (no allocation: the test harness has other threads).
        let pid = match fork_into_cgroup(0, dir.as_fd()).expect("clone3 into the cgroup") {
            Forked::Child => loop {
                nix::unistd::pause();
            },
            Forked::Parent(pid) => pid,
        };
        let procs = read(base.0.join("c/cgroup.procs"));
        let proc_cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        assert_eq!(procs, pid.to_string());
        assert!(proc_cgroup.lines().any(|l| l == format!("0::/{name}/c")), "{proc_cgroup}");
    }

    #[test]
    fn root_relative_path_is_not_exercised() {
        // Deliberately no integration test for relative paths: on this host they resolve under
        // /sys/fs/cgroup/memory/process_api, which belongs to the machine's agent.
    }

    /// Time create(None) + add_task + destroy: the per-container cost of an empty config.
    #[test]
    fn root_timing_empty_config() {
        if skip() {
            return;
        }
        const N: u32 = 20;
        let (mut t_open, mut t_create, mut t_add, mut t_destroy) =
            (Duration::ZERO, Duration::ZERO, Duration::ZERO, Duration::ZERO);
        for _ in 0..N {
            let t = Instant::now();
            let mut g = Guard::new("time");
            t_open += t.elapsed();
            let pid = g.sleeper();
            let t = Instant::now();
            g.cg.create(None).unwrap();
            t_create += t.elapsed();
            let t = Instant::now();
            g.cg.add_task(pid).unwrap();
            t_add += t.elapsed();
            g.reap();
            let t = Instant::now();
            g.cg.destroy().unwrap();
            t_destroy += t.elapsed();
            assert_eq!(g.leftovers(), Vec::<PathBuf>::new());
        }
        eprintln!(
            "empty config, mean of {N}: open {:?} create {:?} add_task {:?} destroy {:?}",
            t_open / N,
            t_create / N,
            t_add / N,
            t_destroy / N
        );

        // With limits: libcgroups' v1 manager is built (24 procfs parses) and devices programmed.
        let r = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(64 << 20).build().unwrap())
            .pids(LinuxPidsBuilder::default().limit(100).build().unwrap())
            .cpu(LinuxCpuBuilder::default().shares(512u64).build().unwrap())
            .devices(vec![LinuxDeviceCgroupBuilder::default().allow(false).access("rwm").build().unwrap()])
            .build()
            .unwrap();
        let mut t_limits = Duration::ZERO;
        for _ in 0..N {
            let g = Guard::new("time");
            let t = Instant::now();
            g.cg.create(Some(&r)).unwrap();
            t_limits += t.elapsed();
        }
        eprintln!("memory+pids+cpu+devices config, mean of {N}: create {:?}", t_limits / N);
        let t = Instant::now();
        for _ in 0..N {
            libcgroups::v1::manager::Manager::new(Path::new("/husk-test/x")).unwrap();
        }
        eprintln!("of which libcgroups v1 Manager::new: {:?}", t.elapsed() / N);
    }
}

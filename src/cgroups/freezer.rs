//! Freezing and thawing (pause/resume, and signalling with forks held still): v1 freezer.state,
//! v2 cgroup.freeze through libcgroups; the cheap frozen check `state` uses.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use libcgroups::common::{CgroupManager, FreezerState};

use super::files::{read_trimmed, write_file};
use super::mounts::{is_cgroup2_root, parse_mountinfo};
use super::{lib_err, under, Backend, Cgroup, CgroupConfig, CGROUP_ROOT, THAW_TIMEOUT};
use crate::error::{Context, Error, Kind, Result};

/// How long a v1 freeze keeps writing FROZEN while the freezer reports FREEZING.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(2);

impl Cgroup {
    /// Freeze every process, returning once the freezer reports FROZEN.
    pub fn freeze(&self) -> Result<()> {
        self.set_freezer(FreezerState::Frozen).with_context(|| format!("freezing cgroup {}", self.cfg.path))
    }

    /// Thaw, returning once the freezer reports THAWED.
    pub fn thaw(&self) -> Result<()> {
        self.set_freezer(FreezerState::Thawed).with_context(|| format!("thawing cgroup {}", self.cfg.path))
    }

    /// The directory of the cgroup's freezer (v1 freezer hierarchy, or the v2 cgroup), for
    /// CRIU's `--freeze-cgroup`; None without one.
    pub fn freezer_dir(&self) -> Option<std::path::PathBuf> {
        match &self.backend {
            Backend::None => None,
            Backend::V1(v1) => v1.freezer().map(Path::to_path_buf),
            Backend::V2(v2) => Some(v2.dir.clone()),
            Backend::Systemd(_) => Some(under(Path::new(CGROUP_ROOT), &self.cfg.fs_path())),
        }
    }

    fn set_freezer(&self, state: FreezerState) -> Result<()> {
        match &self.backend {
            Backend::None => Err(super::rootless::no_cgroup("pausing and resuming (the freezer)")),
            Backend::V1(v1) => {
                let Some(dir) = v1.freezer() else {
                    return Err(Error::new(Kind::System, "the freezer cgroup controller is not mounted"));
                };
                // The freezer hierarchy's own directory (it may differ from cfg.path).
                set_v1_freezer(dir, state)?;
                Ok(())
            }
            // libcgroups' v2 freezer waits for "frozen 1" in cgroup.events and reads back "0".
            Backend::V2(v2) => v2.lib.freeze(state).map_err(lib_err),
            Backend::Systemd(s) => s.lib.freeze(state).map_err(lib_err),
        }
    }

    pub fn is_frozen(&self) -> Result<bool> {
        let r = match &self.backend {
            Backend::None => Ok(false),
            Backend::V1(v1) => match v1.freezer() {
                Some(dir) => read_trimmed(&dir.join("freezer.state"))
                    .map(|s| v1_paused(&s, || read_trimmed(&dir.join("freezer.self_freezing")).ok())),
                None => Ok(false),
            },
            Backend::V2(v2) => v2_frozen(&v2.dir),
            Backend::Systemd(_) => v2_frozen(&under(Path::new(CGROUP_ROOT), &self.cfg.fs_path())),
        };
        r.with_context(|| format!("reading the freezer state of cgroup {}", self.cfg.path))
    }
}

/// Whether the container's cgroup is frozen (paused), for `state`: cheap, and false when it
/// cannot tell (cgroup gone, no freezer). No D-Bus round trip with the systemd driver.
pub fn is_frozen(cfg: &CgroupConfig) -> bool {
    FrozenCheck::default().is_frozen(cfg)
}

/// The frozen check of many containers (`list`): the host's cgroup layout (a statfs of
/// /sys/fs/cgroup and, on v1, /proc/self/mountinfo parsed) is read on the first container that
/// needs it and kept for the others, instead of a whole [`Cgroup::open`] per container; then
/// one small read per container (freezer.state or cgroup.freeze), as runc's list does.
#[derive(Default)]
pub struct FrozenCheck {
    /// None until needed; Some(None) when the layout could not be read.
    layout: Option<Option<Layout>>,
}

enum Layout {
    Unified,
    /// The v1 freezer hierarchy: its key and its mount point, open (None: not mounted).
    V1Freezer(Option<(String, std::fs::File)>),
}

impl FrozenCheck {
    pub fn is_frozen(&mut self, cfg: &CgroupConfig) -> bool {
        self.is_frozen_with_init(cfg, 'D')
    }

    /// [`FrozenCheck::is_frozen`] knowing the state letter of the container's init
    /// (/proc/PID/stat). A v1 cgroup is FROZEN only once every task in it is frozen, and a task
    /// frozen by the v1 freezer shows as 'D' (uninterruptible): an init in any other state means
    /// its cgroup is not FROZEN, and the freezer.state read is skipped (one kernfs open and read
    /// per running container in `list`). cgroup v2 freezes tasks in a signal trap ('S'), so there
    /// the file is always read.
    pub fn is_frozen_with_init(&mut self, cfg: &CgroupConfig, init_state: char) -> bool {
        if cfg.rootless_none.is_some() {
            return false;
        }
        if cfg.systemd {
            return v2_frozen(&under(Path::new(CGROUP_ROOT), &cfg.fs_path())).unwrap_or(false);
        }
        let layout = self.layout.get_or_insert_with(|| {
            if is_cgroup2_root().ok()? {
                return Some(Layout::Unified);
            }
            let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
            let freezer = parse_mountinfo(&text)
                .v1
                .into_iter()
                .find(|(_, ctrls, _)| ctrls.iter().any(|c| c == "freezer"))
                .and_then(|(key, _, mount)| {
                    let dir = std::fs::OpenOptions::new()
                        .read(true)
                        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
                        .open(mount)
                        .ok()?;
                    Some((key, dir))
                });
            Some(Layout::V1Freezer(freezer))
        });
        match layout {
            None | Some(Layout::V1Freezer(None)) => false,
            Some(Layout::Unified) => {
                crate::state::read_small(&under(Path::new(CGROUP_ROOT), &cfg.path).join("cgroup.freeze"))
                    .is_ok_and(|f| f.trim() == "1")
            }
            Some(Layout::V1Freezer(Some(_))) if init_state != 'D' => false,
            Some(Layout::V1Freezer(Some((key, mount)))) => {
                // The freezer hierarchy's own path for this container (it may differ from cfg.path).
                let rel = cfg.per_hierarchy.get(key).unwrap_or(&cfg.path);
                let read = |name: &str| {
                    let file = under(Path::new(""), rel).join(name);
                    file.to_str()
                        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))
                        .and_then(|f| crate::state::open_at(mount, f))
                        .and_then(crate::state::read_small_file)
                        .ok()
                };
                read("freezer.state").is_some_and(|s| v1_paused(s.trim(), || read("freezer.self_freezing")))
            }
        }
    }
}

/// Whether a v1 freezer that reads `state` holds a paused container: FROZEN, or FREEZING while
/// the cgroup itself is asked to freeze (`freezer.self_freezing` 1). A task that joins a frozen
/// cgroup (`exec --ignore-paused` into a paused container) turns it FREEZING until that task is
/// frozen too: the container is paused all along (runc waits for a stable state instead).
fn v1_paused(state: &str, self_freezing: impl FnOnce() -> Option<String>) -> bool {
    match state {
        "FROZEN" => true,
        "FREEZING" => self_freezing().is_some_and(|s| s.trim() == "1"),
        _ => false,
    }
}

/// Write FROZEN or THAWED to a v1 freezer.state and wait until it reads back so: a freeze can
/// stay FREEZING while a process is in an uninterruptible sleep, so it is written again until
/// it takes (as runc and libcgroups do), up to [`FREEZE_TIMEOUT`]; a failed freeze is undone.
fn set_v1_freezer(dir: &Path, state: FreezerState) -> Result<()> {
    let file = dir.join("freezer.state");
    if state == FreezerState::Thawed {
        write_file(&file, "THAWED")?;
        return wait_v1_thawed(dir);
    }
    let deadline = Instant::now() + FREEZE_TIMEOUT;
    loop {
        write_file(&file, "FROZEN")?;
        let s = read_trimmed(&file)?;
        if s == "FROZEN" {
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = write_file(&file, "THAWED");
            return Err(Error::new(Kind::System, format!("freezing: {} is still {s}", file.display())));
        }
        sleep(Duration::from_millis(1));
    }
}

pub(super) fn wait_v1_thawed(dir: &Path) -> Result<()> {
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

/// Whether a v2 cgroup holds a paused container: `cgroup.freeze` 1, its own freeze asked for.
/// Not `frozen 1` in cgroup.events: a task that joins a frozen cgroup (`exec --ignore-paused`)
/// turns that to 0 until the task is frozen too, and the container is paused all along (runc
/// reads cgroup.freeze as well, then waits for the freeze to complete).
pub(super) fn v2_frozen(dir: &Path) -> Result<bool> {
    Ok(read_trimmed(&dir.join("cgroup.freeze"))? == "1")
}

#[cfg(test)]
mod tests {
    use super::v1_paused;

    #[test]
    fn freezing_is_paused_only_when_the_cgroup_itself_freezes() {
        assert!(v1_paused("FROZEN", || panic!("self_freezing read for FROZEN")));
        // A task joining a paused container's cgroup: FREEZING, asked to freeze itself.
        assert!(v1_paused("FREEZING", || Some("1\n".into())));
        // FREEZING through an ancestor only, or unreadable: not paused by us.
        assert!(!v1_paused("FREEZING", || Some("0\n".into())));
        assert!(!v1_paused("FREEZING", || None));
        assert!(!v1_paused("THAWED", || panic!("self_freezing read for THAWED")));
    }
}

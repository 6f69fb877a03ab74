//! Container state on disk: `<root>/<id>/state.json`, written atomically (temp file,
//! rename), guarded by an exclusive flock on the container's directory so that commands on
//! one id serialize while commands on different ids never block each other.
//!
//! Status is derived, never trusted: the init process's liveness is checked against the
//! start time recorded at create (pid reuse cannot fool it), and `created` vs `running` is
//! told apart by the exec fifo that `start` removes.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::cgroups::CgroupConfig;
use crate::error::{Context, Error, Kind, Result};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// What husk records about a container. The OCI state is derived from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    /// Host pid of the container's init.
    pub pid: i32,
    /// Start time of init (clock ticks since boot, /proc/PID/stat field 22).
    pub init_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub cgroup: CgroupConfig,
    /// The name (comm) the init carries from its start until it execs the program
    /// ([`INIT_COMM`]), recorded by the husk that made it; absent in older states and after a
    /// restore (the restored init runs the program).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_comm: Option<String>,
    /// The container's configuration as it was at create (the bundle may be gone at delete).
    pub config: oci_spec::runtime::Spec,
    /// Whether the init process of this container runs in its own pid namespace.
    #[serde(default)]
    pub own_pid_ns: bool,
}

/// A container's state directory, held locked for as long as this value lives.
pub struct StateDir {
    path: PathBuf,
    /// Held for its lifetime: the exclusive flock on the directory.
    lock: Flock<File>,
}

/// Check an id like runc does: non-empty, no path separators, not `.`/`..`, no control
/// characters (runc allows `[\w+\-.]` only; we refuse the same set of dangerous forms).
pub fn validate_id(id: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid_arg(format!("invalid container id {id:?}: {why}")));
    if id.is_empty() {
        return bad("must not be empty");
    }
    if id == "." || id == ".." {
        return bad("must not be . or ..");
    }
    if id.len() > 1024 {
        return bad("longer than 1024 bytes");
    }
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.')) {
        return bad("only letters, digits, '_', '+', '-' and '.' are allowed");
    }
    Ok(())
}

impl StateDir {
    /// Create `<root>/<id>` and lock it; a second create of the same id fails with `Exists`.
    pub fn create(root: &Path, id: &str) -> Result<Self> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .with_context(|| format!("creating state root {}", root.display()))?;
        let path = root.join(id);
        match fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::new(Kind::Exists, format!("container with id {id} already exists")));
            }
            Err(e) => return Err(Error::io(e, format!("creating state directory {}", path.display()))),
        }
        let lock = lock_dir(open_dir(&path)?, &path)?;
        Ok(StateDir { path, lock })
    }

    /// Open and lock the state directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        let path = root.join(id);
        let lock = match open_dir(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == Kind::NotFound => {
                return Err(Error::not_found(format!("container {id} does not exist")));
            }
            Err(e) => return Err(e),
        };
        let lock = lock_dir(lock, &path)?;
        // The previous holder may have deleted the container while we waited.
        let meta = lock.metadata().with_context(|| format!("checking {}", path.display()))?;
        if meta.nlink() == 0 {
            return Err(Error::not_found(format!("container {id} does not exist")));
        }
        Ok(StateDir { path, lock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The locked directory fd (for children to close: see `launch::spawn`).
    pub fn lock_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.lock.as_fd()
    }

    /// Give the lock up early, keeping the directory open (children that inherit it still
    /// close it): for a wait that another command on this container must be able to end
    /// (`exec --ignore-paused` into a paused container waits for `resume`).
    pub fn unlock(self) -> Result<File> {
        let path = self.path;
        self.lock.unlock().map_err(|(_, e)| Error::sys(e, format!("unlocking state directory {}", path.display())))
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    pub fn save(&self, st: &State) -> Result<()> {
        let data = serde_json::to_vec(st).map_err(|e| Error::new(Kind::System, format!("encoding state: {e}")))?;
        // The state file belongs to whoever owns the directory (`list`'s OWNER is read off it):
        // root saving a rootless user's state (`update`, say) hands the new file over.
        let owner = nix::sys::stat::fstat(self.lock.as_raw_fd())
            .ok()
            .filter(|st| st.st_uid != nix::unistd::geteuid().as_raw())
            .map(|st| (st.st_uid, st.st_gid));
        write_atomic_owned(&self.path.join(STATE_FILE), &data, owner)
    }

    pub fn load(&self) -> Result<State> {
        read_state(&self.path)
    }

    /// Remove the directory and everything in it; the lock goes with it.
    pub fn remove(self) -> Result<()> {
        match fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(e, format!("removing state directory {}", self.path.display()))),
        }
    }
}

/// How long a command waits for another husk command on the same container to release its
/// lock. Commands hold it for a short set-up step only (never while a process runs), so a
/// longer wait means that command is stuck (its process frozen, a hook that never returns):
/// failing then, rather than queueing behind it forever, keeps every command bounded, and
/// `delete --force` can be retried once the holder is gone.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn lock_dir(f: File, path: &Path) -> Result<Flock<File>> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    let mut f = f;
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((back, Errno::EWOULDBLOCK)) if std::time::Instant::now() < deadline => {
                f = back;
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(20));
            }
            // EWOULDBLOCK in the error: `delete --force` goes on without the lock.
            Err((_, Errno::EWOULDBLOCK)) => {
                return Err(Error::sys(
                    Errno::EWOULDBLOCK,
                    format!(
                        "locking state directory {}: another husk command has held it for {}s (is it stuck?)",
                        path.display(),
                        LOCK_WAIT.as_secs()
                    ),
                ))
            }
            Err((_, e)) => return Err(Error::sys(e, format!("locking state directory {}", path.display()))),
        }
    }
}

fn open_dir(path: &Path) -> Result<File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| Error::io(e, format!("opening state directory {}", path.display())))
}

/// Read a container's state without taking its lock (for `state` and `list`): the file is
/// only ever replaced by rename, so a reader sees a whole old or a whole new version.
pub fn read_state(dir: &Path) -> Result<State> {
    let (p, data) = read_state_file(dir)?;
    serde_json::from_slice(&data).map_err(|e| Error::new(Kind::System, format!("decoding {}: {e}", p.display())))
}

/// The bytes of `<dir>/state.json` (never through a link), with its path.
fn read_state_file(dir: &Path) -> Result<(PathBuf, Vec<u8>)> {
    let p = dir.join(STATE_FILE);
    let read = || -> std::io::Result<Vec<u8>> {
        let mut f = fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(&p)?;
        let mut d = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut d)?;
        Ok(d)
    };
    match read() {
        Ok(d) => Ok((p, d)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::not_found(format!("reading {}: container is still being created or was removed", p.display())))
        }
        Err(e) => Err(Error::io(e, format!("reading {}", p.display()))),
    }
}

/// Write `data` to `path` atomically: temp file in the same directory, rename. No fsync (as
/// runc and crun): readers only ever see a whole old or a whole new file, and runtime state
/// lives on a tmpfs (/run) and does not outlive a crash of the machine anyway; an fdatasync on
/// a disk-backed root cost 0.2–0.7 ms per write, twice per `create`.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_atomic_owned(path, data, None)
}

/// [`write_atomic`], the new file handed to `owner` (uid, gid) before it replaces the old.
fn write_atomic_owned(path: &Path, data: &[u8], owner: Option<(u32, u32)>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let res = (|| -> std::io::Result<()> {
        // Never through a link planted in the state dir (a rootless user owns its state dir,
        // root may still run commands on it).
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(data)?;
        if let Some((uid, gid)) = owner {
            nix::unistd::fchown(f.as_raw_fd(), Some(uid.into()), Some(gid.into()))?;
        }
        fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(e, format!("writing {}", path.display())));
    }
    Ok(())
}

/// A small file (procfs, cgroupfs) in one read of a 1 KiB buffer: open, read, close, where
/// `fs::read_to_string` adds a statx and a read to see the end. A longer file is read whole.
pub fn read_small(path: &Path) -> std::io::Result<String> {
    read_small_file(fs::OpenOptions::new().read(true).custom_flags(libc::O_CLOEXEC).open(path)?)
}

/// [`read_small`] of an open file.
pub fn read_small_file(f: File) -> std::io::Result<String> {
    read_small_in(f, &mut [0u8; SMALL]).map(Cow::into_owned)
}

/// The buffer of [`read_small_in`].
const SMALL: usize = 1024;

/// An open small file's text through `buf` (no allocation when it fits): one read, and a file
/// that fills the buffer read on to its end. Lossy: a process's name in /proc/PID/stat is raw
/// bytes (any prctl name, or one the kernel cut to 15 bytes inside a character); refusing it
/// would take a live init for gone.
fn read_small_in(mut f: File, buf: &mut [u8; SMALL]) -> std::io::Result<Cow<'_, str>> {
    use std::io::Read;
    let n = f.read(buf)?;
    if n < buf.len() {
        return Ok(String::from_utf8_lossy(&buf[..n]));
    }
    let mut data = buf.to_vec();
    f.read_to_end(&mut data)?;
    Ok(Cow::Owned(String::from_utf8(data).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())))
}

/// Liveness of a process as recorded: its state letter and start time from /proc/PID/stat.
pub fn proc_start_time(pid: Pid) -> Option<(char, u64)> {
    let data = read_small(Path::new(&format!("/proc/{}/stat", pid.as_raw()))).ok()?;
    parse_stat(&data)
}

/// Parse the state letter and field 22 (starttime) of /proc/PID/stat. The comm field may
/// contain spaces and parentheses, so parsing starts after the last ')'.
pub fn parse_stat(data: &str) -> Option<(char, u64)> {
    let (state, _, start) = parse_stat_flags(data)?;
    Some((state, start))
}

/// PF_EXITING in /proc/PID/stat's flags (field 9): the process is in do_exit.
const PF_EXITING: u64 = 0x4;

/// The state letter, flags (field 9) and starttime (field 22) of /proc/PID/stat.
fn parse_stat_flags(data: &str) -> Option<(char, u64, u64)> {
    let rest = &data[data.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3): skip fields 4..=8 to flags (9), then 10..=21 to starttime.
    let flags = fields.nth(5)?.parse().ok()?;
    let start = fields.nth(12)?.parse().ok()?;
    Some((state, flags, start))
}

/// The name the init gives itself first thing (prctl PR_SET_NAME), kept until it execs the
/// container's program: while /proc/PID/stat shows another name the program runs, and the
/// exec fifo need not be looked at (runc's init is likewise `runc:[2:INIT]`).
pub const INIT_COMM: &str = "husk:[INIT]";
pub const INIT_COMM_C: &std::ffi::CStr = c"husk:[INIT]";

/// The comm field of /proc/PID/stat: between the first '(' and the last ')'.
fn stat_comm(data: &str) -> Option<&str> {
    data.get(data.find('(')? + 1..data.rfind(')')?)
}

/// What the recorded init's /proc/PID/stat (`data`) says: None unless it is the recorded
/// process and alive (see [`init_alive`]); else its state letter and whether it has exec'd the
/// program, as far as its name tells (`init_comm` is the name it had before; unknown: false).
fn probe_stat(data: &str, init_start_time: u64, init_comm: Option<&str>) -> Option<InitProbe> {
    if !stat_alive(data, init_start_time) {
        return None;
    }
    let letter = parse_stat(data)?.0;
    Some(InitProbe { letter, execd: init_comm.is_some_and(|c| stat_comm(data) != Some(c)) })
}

/// A live init as /proc/PID/stat shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InitProbe {
    letter: char,
    /// Its name is no longer the one it had before exec: the program runs.
    execd: bool,
}

/// [`probe_stat`] of process `pid`.
fn probe_init(pid: i32, init_start_time: u64, init_comm: Option<&str>) -> Option<InitProbe> {
    if pid <= 0 {
        return None;
    }
    read_small(Path::new(&format!("/proc/{pid}/stat"))).ok().and_then(|d| probe_stat(&d, init_start_time, init_comm))
}

/// Whether the recorded init is still alive (same pid and start time, not a zombie, not
/// exiting: the init of a pid namespace stays in do_exit until every process of the namespace
/// is reaped, which may be by a reaper that is slow or busy; it has left its cgroup by then and
/// runs nothing).
fn init_alive(pid: i32, init_start_time: u64) -> bool {
    probe_init(pid, init_start_time, None).is_some()
}

/// "created" of a live init: not exec'd (by its name) and the exec fifo still there.
fn not_started(probe: Option<InitProbe>, fifo: impl FnOnce() -> bool) -> bool {
    !probe.is_some_and(|p| p.execd) && fifo()
}

/// Whether /proc/PID/stat's `data` is of the recorded process, alive (not a zombie, not exiting).
fn stat_alive(data: &str, init_start_time: u64) -> bool {
    match parse_stat_flags(data) {
        Some((st, flags, start)) => start == init_start_time && st != 'Z' && st != 'X' && flags & PF_EXITING == 0,
        None => false,
    }
}

/// The derived status: stopped unless init lives; paused while the cgroup is frozen (a created
/// container can be paused too, as with runc); created until `start` removed the fifo.
fn derive_status(alive: bool, frozen: impl FnOnce() -> bool, fifo: impl FnOnce() -> bool) -> Status {
    if !alive {
        return Status::Stopped;
    }
    if frozen() {
        return Status::Paused;
    }
    if fifo() {
        return Status::Created;
    }
    Status::Running
}

/// The status as a reader that holds no lock (`state`, `list`) sees it: a state still at pid 0
/// is `creating` while its create holds the container's lock, and `stopped` once that create is
/// gone (killed: `delete --force` cleans it up).
fn derive_status_unlocked(
    pid: i32,
    dir: &Path,
    alive: impl FnOnce() -> bool,
    frozen: impl FnOnce() -> bool,
    fifo: impl FnOnce() -> bool,
) -> Status {
    if pid <= 0 {
        let busy = open_dir(dir).is_ok_and(|f| match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(_) => false,
            Err((_, e)) => e == Errno::EWOULDBLOCK,
        });
        return if busy { Status::Creating } else { Status::Stopped };
    }
    derive_status(alive(), frozen, fifo)
}

/// The state root and /proc, opened once by a reader of many containers (`list`): each
/// container's files are then opened relative to them (openat), so a container costs the
/// lookup of its own path components only, not of the root's and /proc's again (path walks
/// through procfs and cgroupfs, revalidated per component, were most of list's kernel time).
/// The relative paths and the state file's bytes go through buffers of the walk's own: nothing
/// is allocated per container but what its summary holds.
pub struct StateRoot {
    path: PathBuf,
    root: File,
    proc: Option<File>,
    /// A state file's first bytes ([`HEAD`] long for the whole walk).
    buf: Vec<u8>,
    /// The NUL-terminated relative path being opened.
    rel: Vec<u8>,
}

impl AsRawFd for StateRoot {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.root.as_raw_fd()
    }
}

impl StateRoot {
    pub fn open(root: &Path) -> std::io::Result<Self> {
        Ok(StateRoot {
            path: root.to_path_buf(),
            root: open_dir_file(root)?,
            proc: open_dir_file(Path::new("/proc")).ok(),
            buf: vec![0; HEAD],
            rel: Vec::with_capacity(128),
        })
    }

    /// Whether `id` in the root is a directory (not following a link): for an entry whose
    /// type readdir did not give.
    pub fn is_dir(&self, id: &str) -> bool {
        nix::sys::stat::fstatat(Some(self.root.as_raw_fd()), id, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
            .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
    }

    /// The summary of container `id` and the uid that owns its state, `list`'s OWNER. runc
    /// takes the owner of the container's directory; its state file is made by the same
    /// caller, and an fstat of the fd already open costs no path walk where a stat of the
    /// directory costs one.
    pub fn summary(&mut self, id: &str) -> Result<(StateSummary, u32)> {
        use std::os::fd::AsFd;
        let rel = rel_path(&mut self.rel, id.as_bytes(), STATE_FILE.as_bytes());
        let res = crate::sys::fs::openat2(self.root.as_fd(), rel, libc::O_RDONLY | libc::O_NOFOLLOW, 0, 0)
            .map(File::from)
            .map_err(std::io::Error::from)
            .and_then(|f| Ok((nix::sys::stat::fstat(f.as_raw_fd())?.st_uid, read_summary(f, &mut self.buf)?)));
        let p = || self.path.join(id).join(STATE_FILE);
        match res {
            Ok((uid, Ok(st))) => Ok((st, uid)),
            Ok((_, Err(e))) => Err(Error::new(Kind::System, format!("decoding {}: {e}", p().display()))),
            Err(e) => Err(summary_io_error(e, &p())),
        }
    }

    /// [`StateSummary::status_unlocked`] of a summary read through this root from directory `id`.
    pub fn status(&mut self, id: &str, st: &StateSummary, frozen: &mut crate::cgroups::FrozenCheck) -> Status {
        if st.pid <= 0 {
            return derive_status_unlocked(st.pid, &self.path.join(id), || false, || false, || false);
        }
        // The init's state letter, if it is the recorded process and alive. /proc/PID/stat is
        // ~300 bytes: read into a buffer on the stack (a longer one, whole).
        let mut pid = [0u8; 12];
        let pid = fmt_u32(st.pid as u32, &mut pid);
        let mut line = [0u8; SMALL];
        let data = match &self.proc {
            Some(proc) => open_at_c(proc, rel_path(&mut self.rel, pid, b"stat")),
            None => fs::File::open(format!("/proc/{}/stat", st.pid)),
        }
        .and_then(|f| read_small_in(f, &mut line));
        let probe = data.ok().and_then(|d| probe_stat(&d, st.init_start_time, st.init_comm.as_deref()));
        // The exec fifo of this directory (whatever id its state.json claims), looked at only
        // for an init that has not exec'd yet or whose name was not recorded.
        let fifo = || {
            let rel = rel_path(&mut self.rel, id.as_bytes(), EXEC_FIFO.as_bytes());
            nix::sys::stat::fstatat(Some(self.root.as_raw_fd()), rel, nix::fcntl::AtFlags::empty()).is_ok()
        };
        derive_status(
            probe.is_some(),
            || frozen.is_frozen_with_init(&st.cgroup, probe.map_or('D', |p| p.letter)),
            || not_started(probe, fifo),
        )
    }
}

/// `a/b` as a C string in `buf`.
fn rel_path<'a>(buf: &'a mut Vec<u8>, a: &[u8], b: &[u8]) -> &'a std::ffi::CStr {
    buf.clear();
    buf.extend_from_slice(a);
    buf.push(b'/');
    buf.extend_from_slice(b);
    buf.push(0);
    // An interior NUL (no id or file name has one) makes the path empty: ENOENT.
    std::ffi::CStr::from_bytes_until_nul(buf).unwrap_or_default()
}

/// The decimal digits of `n`, in `buf`.
fn fmt_u32(mut n: u32, buf: &mut [u8; 12]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

fn open_dir_file(path: &Path) -> std::io::Result<File> {
    fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC).open(path)
}

/// `rel` opened read-only relative to the directory `dir` (a link as the last component is
/// refused, as with O_NOFOLLOW on the whole path).
pub(crate) fn open_at(dir: &File, rel: &str) -> std::io::Result<File> {
    let c = std::ffi::CString::new(rel).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    open_at_c(dir, &c)
}

/// [`open_at`] of a C string.
fn open_at_c(dir: &File, rel: &std::ffi::CStr) -> std::io::Result<File> {
    use std::os::fd::AsFd;
    crate::sys::fs::openat2(dir.as_fd(), rel, libc::O_RDONLY | libc::O_NOFOLLOW, 0, 0)
        .map(File::from)
        .map_err(std::io::Error::from)
}

/// What `state` and `list` need of a state.json: everything but the container's config, which
/// serde skips without building it. With a real caller's config (podman's seccomp profile alone
/// is ~12 KB of JSON and ~450 syscall names) decoding the whole `State` was most of `list`'s
/// per-container cost; runc's list likewise reads only its state.json's top-level fields.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateSummary {
    pub id: String,
    pub pid: i32,
    pub init_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    /// Kept as the JSON it is: only `list -f json` and `state` print it (the table and `-q`
    /// need none of it, and skip it unparsed).
    #[serde(default)]
    pub annotations: Option<Box<serde_json::value::RawValue>>,
    pub cgroup: CgroupConfig,
    #[serde(default)]
    pub init_comm: Option<String>,
}

/// [`StateSummary`] of the container in `dir` (unlocked, as [`read_state`]).
///
/// `State` is written compact with `config` after every field of the summary, so the summary is
/// usually all in the file's first 4 KiB: that prefix, up to the top-level `,"config":` and closed
/// with `}`, is decoded alone, and the config (most of the file) is neither read nor scanned.
/// Anything else (a bigger head, an older layout, a corrupt file) goes the whole way: the rest of
/// the file is read and decoded with the config skipped.
pub fn read_state_summary(dir: &Path) -> Result<StateSummary> {
    let p = dir.join(STATE_FILE);
    let f = fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(&p);
    read_summary_from(f, &p)
}

/// [`read_state_summary`] of the opened state file `p`.
fn read_summary_from(f: std::io::Result<File>, p: &Path) -> Result<StateSummary> {
    match f.and_then(|f| read_summary(f, &mut vec![0; HEAD])) {
        Ok(Ok(st)) => Ok(st),
        Ok(Err(e)) => Err(Error::new(Kind::System, format!("decoding {}: {e}", p.display()))),
        Err(e) => Err(summary_io_error(e, p)),
    }
}

/// The summary in state file `f`, read through `buf` ([`HEAD`] bytes, its contents
/// overwritten): its first [`FIRST`] bytes, then up to [`HEAD`] (what is read is copied, and
/// most summaries are short), then, failing a summary in those, the whole file.
fn read_summary(mut f: File, buf: &mut [u8]) -> std::io::Result<std::result::Result<StateSummary, serde_json::Error>> {
    let (mut n, mut eof) = (0, false);
    for want in [FIRST, HEAD] {
        while n < want && !eof {
            match std::io::Read::read(&mut f, &mut buf[n..want])? {
                0 => eof = true,
                k => n += k,
            }
        }
        if let Some(at) = summary_cut(&buf[..n]) {
            buf[at] = b'}';
            if let Ok(s) = serde_json::from_slice(&buf[..=at]) {
                return Ok(Ok(s));
            }
            buf[at] = b',';
            break;
        }
        if eof {
            break;
        }
    }
    if eof {
        return Ok(serde_json::from_slice(&buf[..n]));
    }
    let mut data = buf[..n].to_vec();
    std::io::Read::read_to_end(&mut f, &mut data)?;
    Ok(serde_json::from_slice(&data))
}

fn summary_io_error(e: std::io::Error, p: &Path) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::not_found(format!("reading {}: container is still being created or was removed", p.display()))
    } else {
        Error::io(e, format!("reading {}", p.display()))
    }
}

/// How much of a state.json [`read_state_summary`] reads first, and at most before it reads
/// the whole file.
const FIRST: usize = 1024;
const HEAD: usize = 4096;

/// Where a compact state.json's top-level fields before its `"config"` end: the offset of
/// the `,` of the first `,"config":` in `data` (the bytes before it, closed with `}`, are an
/// object of their own); None when there is none. A `,"config":` can only be a key (inside a
/// string its quotes would be escaped); if the first one is a nested object's key (an
/// annotation named "config"), the prefix leaves the outer object unclosed and fails to decode,
/// so a wrong cut is never taken for a summary. The key is ASCII: the bytes before it are whole
/// characters wherever the read stopped after it (the decoder checks the UTF-8).
fn summary_cut(data: &[u8]) -> Option<usize> {
    const KEY: &[u8] = b",\"config\":";
    let mut from = 0;
    while let Some(i) = data[from..].iter().position(|&b| b == b',') {
        // The byte after the comma first: most commas are followed by another key.
        if data.get(from + i + 2) == Some(&b'c') && data[from + i..].starts_with(KEY) {
            return Some(from + i);
        }
        from += i + 1;
    }
    None
}

/// The head [`summary_cut`] finds, closed: `{...}` (tests).
#[cfg(test)]
fn summary_head(data: &[u8]) -> Option<Vec<u8>> {
    let at = summary_cut(data)?;
    let mut head = data[..at].to_vec();
    head.push(b'}');
    Some(head)
}

impl StateSummary {
    /// The status as a reader that holds no lock (`state`; `list` through [`StateRoot`]) sees
    /// it: a state still at pid 0 is `creating` while its create holds the container's lock, and
    /// `stopped` once that create is gone (killed: `delete --force` cleans it up); otherwise as
    /// [`State::status`], the frozen check through `frozen`.
    pub fn status_unlocked(&self, dir: &Path, frozen: &mut crate::cgroups::FrozenCheck) -> Status {
        let probe = std::cell::Cell::new(None);
        derive_status_unlocked(
            self.pid,
            dir,
            || {
                probe.set(probe_init(self.pid, self.init_start_time, self.init_comm.as_deref()));
                probe.get().is_some()
            },
            || frozen.is_frozen(&self.cgroup),
            || not_started(probe.get(), || dir.join(EXEC_FIFO).exists()),
        )
    }

    /// The OCI state (runtime.md "State") with runc's extra fields, as `state` and `list -f
    /// json` print it: runc's field order, annotations only when there are some, `owner` as
    /// given. ociVersion is the version of the runtime-spec the state complies with, i.e.
    /// husk's (runc too reports the spec version it was built with, not the config's).
    pub fn oci_state(&self, status: Status, owner: String) -> OciState<'_> {
        OciState {
            oci_version: crate::OCI_SPEC_VERSION,
            id: &self.id,
            pid: if status == Status::Stopped { 0 } else { self.pid },
            status: status.as_str(),
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            annotations: self.annotations(),
            owner,
        }
    }

    /// The annotations (none when absent, `null` or not a map of strings, as `State` would
    /// have refused such a file).
    pub fn annotations(&self) -> BTreeMap<Cow<'_, str>, Cow<'_, str>> {
        self.annotations.as_ref().and_then(|raw| serde_json::from_str(raw.get()).ok()).unwrap_or_default()
    }
}

impl State {
    /// A container's first record, as create and restore save it before anything else exists:
    /// no init yet (pid 0), created now.
    pub fn new_record(
        spec: &oci_spec::runtime::Spec,
        id: &str,
        bundle: &Path,
        rootfs: &Path,
        cgroup: &crate::cgroups::CgroupConfig,
        own_pid_ns: bool,
    ) -> State {
        State {
            oci_version: spec.version().clone(),
            id: id.to_string(),
            pid: 0,
            init_start_time: 0,
            bundle: bundle.to_path_buf(),
            rootfs: rootfs.to_path_buf(),
            created: crate::logging::rfc3339_now(),
            annotations: spec.annotations().clone().unwrap_or_default(),
            cgroup: cgroup.clone(),
            init_comm: None,
            own_pid_ns,
            config: spec.clone(),
        }
    }

    /// Whether the recorded init is still alive (see [`init_alive`]).
    pub fn init_alive(&self) -> bool {
        init_alive(self.pid, self.init_start_time)
    }

    /// The derived status: stopped unless init lives; paused while the cgroup is frozen (a
    /// created container can be paused too, as with runc); created until `start` removed the
    /// fifo.
    pub fn status(&self, dir: &Path) -> Status {
        self.status_with(dir, || crate::cgroups::is_frozen(&self.cgroup))
    }

    /// [`State::status`] with the frozen check given (a caller that has the cgroup open).
    pub fn status_with(&self, dir: &Path, frozen: impl FnOnce() -> bool) -> Status {
        let probe = self.probe();
        derive_status(probe.is_some(), frozen, || not_started(probe, || dir.join(EXEC_FIFO).exists()))
    }

    fn probe(&self) -> Option<InitProbe> {
        probe_init(self.pid, self.init_start_time, self.init_comm.as_deref())
    }

    /// The state hooks get on stdin, for this container in `status`.
    pub fn hook_json(&self, status: Status) -> Vec<u8> {
        self.hook_state().json(status, self.pid)
    }

    /// What the hook state says of this container whatever its status and pid (the init fills
    /// in its own pid).
    pub fn hook_state(&self) -> HookState {
        HookState {
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            annotations: self.annotations.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
}

/// runc's `containerState` (state.go/list.go): the field order is runc's, annotations are
/// omitted when empty and sorted (Go's encoding of a map) when not.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState<'a> {
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: &'static str,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    pub owner: String,
}

/// The runtime-spec state as hooks receive it on stdin (ociVersion, id, status, pid, bundle,
/// annotations): the fixed part, kept in the init's plan; `json` adds status and pid.
#[derive(Debug, Clone, Default)]
pub struct HookState {
    id: String,
    bundle: PathBuf,
    annotations: BTreeMap<String, String>,
}

/// specs-go State's field order, as runc writes it: annotations only when set, and no pid once
/// the container is stopped (the spec requires it only for created and running; runc omits it).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HookStateJson<'a> {
    oci_version: &'static str,
    id: &'a str,
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<i32>,
    bundle: &'a Path,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<&'a BTreeMap<String, String>>,
}

impl HookState {
    /// The JSON for `status`, with `pid` unless the container is stopped. Borrows, no copies:
    /// the init calls this between fork and exec.
    pub fn json(&self, status: Status, pid: i32) -> Vec<u8> {
        let v = HookStateJson {
            oci_version: crate::OCI_SPEC_VERSION,
            id: &self.id,
            status,
            pid: (status != Status::Stopped).then_some(pid),
            bundle: &self.bundle,
            annotations: (!self.annotations.is_empty()).then_some(&self.annotations),
        };
        serde_json::to_vec(&v).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_like_runc() {
        for ok in ["a", "abc-123", "x.y_z+1", "A"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "/abs", "a\nb", "a\u{7}", "a b", "é"] {
            let e = validate_id(bad).unwrap_err();
            assert_eq!(e.kind(), Kind::InvalidArg, "{bad:?}");
            assert!(e.to_string().starts_with("invalid container id"), "{e}");
        }
    }

    #[test]
    fn stat_parsing_survives_odd_comm() {
        let line = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200";
        assert_eq!(parse_stat(line), Some(('S', 987654)));
        assert_eq!(parse_stat_flags(line), Some(('S', 4194560, 987654)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn own_process_is_alive_and_start_time_matters() {
        let me = Pid::this();
        let (st, start) = proc_start_time(me).unwrap();
        assert_ne!(st, 'Z');
        assert!(start > 0);
    }

    #[test]
    fn state_dir_is_exclusive_and_atomic() {
        let root = std::env::temp_dir().join(format!("husk-state-test-{}", std::process::id()));
        let d = StateDir::create(&root, "c1").unwrap();
        let e = StateDir::create(&root, "c1").err().unwrap();
        assert_eq!(e.kind(), Kind::Exists);
        write_atomic(&d.path().join("x"), b"hello").unwrap();
        assert_eq!(fs::read(d.path().join("x")).unwrap(), b"hello");
        let st: State = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2", "id": "c1", "pid": 0, "initStartTime": 0, "bundle": "/b", "rootfs": "/b/r",
            "created": "x", "cgroup": {"path": "/c1", "systemd": false},
            "config": {"ociVersion": "1.0.2"}
        }))
        .unwrap();
        // Locked by its create: creating; once that is gone: stopped.
        let st = summary_of(&st);
        let frozen = &mut crate::cgroups::FrozenCheck::default();
        assert_eq!(st.status_unlocked(d.path(), frozen), Status::Creating);
        let path = d.path().to_path_buf();
        drop(d);
        assert_eq!(st.status_unlocked(&path, frozen), Status::Stopped);
        let d = StateDir::open(&root, "c1").unwrap();
        d.remove().unwrap();
        assert_eq!(StateDir::open(&root, "c1").err().unwrap().kind(), Kind::NotFound);
        fs::remove_dir_all(&root).unwrap();
    }

    /// The summary `state` and `list` read of `st`.
    fn summary_of(st: &State) -> StateSummary {
        serde_json::from_slice(&serde_json::to_vec(st).unwrap()).unwrap()
    }

    fn sample(annotations: &[(&str, &str)]) -> State {
        let mut st: State = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2", "id": "c1", "pid": 42, "initStartTime": 0, "bundle": "/b", "rootfs": "/b/r",
            "created": "t", "cgroup": {"path": "/c1", "systemd": false}, "config": {"ociVersion": "1.0.2"}
        }))
        .unwrap();
        st.annotations = annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        st
    }

    #[test]
    fn summary_reads_the_head_and_falls_back_whole() {
        let root = std::env::temp_dir().join(format!("husk-state-summary-{}", std::process::id()));
        let check = |st: &State| {
            let d = StateDir::create(&root, "c1").unwrap();
            d.save(st).unwrap();
            let s = read_state_summary(d.path()).unwrap();
            assert_eq!(
                (s.id.as_str(), s.pid, &s.bundle, s.annotations()),
                (
                    st.id.as_str(),
                    st.pid,
                    &st.bundle,
                    st.annotations.iter().map(|(k, v)| (k.into(), v.into())).collect()
                )
            );
            assert_eq!(s.cgroup.path, st.cgroup.path);
            d.remove().unwrap();
        };
        // The plain case: cut at the top-level "config".
        let st = sample(&[("a", "b")]);
        let data = serde_json::to_vec(&st).unwrap();
        let head = summary_head(&data).unwrap();
        assert!(
            head.len() < data.len() && !head.windows(8).any(|w| w == b"\"config\""),
            "{}",
            String::from_utf8_lossy(&head)
        );
        assert!(serde_json::from_slice::<StateSummary>(&head).is_ok());
        check(&st);
        // An annotation named "config" cuts too early: that prefix does not decode, the whole does.
        let st = sample(&[("a", "b"), ("config", "x"), ("z", "\",\"config\":")]);
        check(&st);
        // A head longer than the first read (big annotations), and a multi-byte character at the cut.
        let st = sample(&[("big", &"é".repeat(5000))]);
        check(&st);
        // A head between the first read (1 KiB) and 4 KiB, with a character split at 1 KiB.
        for n in [400, 500, 1500] {
            check(&sample(&[("mid", &"é".repeat(n))]));
        }
        // The "config" annotation within the first KiB, the real cut beyond it.
        check(&sample(&[("config", "x"), ("zz", &"y".repeat(2000))]));
        // Corrupt: an error naming the file, not a panic.
        let d = StateDir::create(&root, "c1").unwrap();
        fs::write(d.path().join(STATE_FILE), b"{\"id\": \"c1\", \"config\": {").unwrap();
        let e = read_state_summary(d.path()).err().unwrap();
        assert!(e.to_string().contains("decoding"), "{e}");
        d.remove().unwrap();
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn unlocked_state_dir_lets_others_in_while_its_fd_lives() {
        let root = std::env::temp_dir().join(format!("husk-state-unlock-{}", std::process::id()));
        let d = StateDir::create(&root, "c1").unwrap();
        let path = d.path().to_path_buf();
        // A fork holding the fd would keep an flock; unlocking releases it for everyone.
        let dup = d.lock_fd().try_clone_to_owned().unwrap();
        let f = d.unlock().unwrap();
        let other = StateDir::open(&root, "c1").unwrap();
        assert_eq!(other.path(), path);
        drop((f, dup));
        other.remove().unwrap();
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn saved_state_belongs_to_the_directory_owner() {
        use std::os::unix::fs::MetadataExt;
        if !nix::unistd::geteuid().is_root() {
            return; // chown needs root; CI and hack/test.sh run as root
        }
        let root = std::env::temp_dir().join(format!("husk-state-owner-{}", std::process::id()));
        let d = StateDir::create(&root, "c1").unwrap();
        // A rootless user's container, saved by root (`update`): the file is handed over.
        nix::unistd::chown(d.path(), Some(4242.into()), Some(4243.into())).unwrap();
        d.save(&sample(&[])).unwrap();
        let m = fs::metadata(d.path().join(STATE_FILE)).unwrap();
        assert_eq!((m.uid(), m.gid()), (4242, 4243));
        // Our own directory: ours, no chown.
        nix::unistd::chown(d.path(), Some(0.into()), Some(0.into())).unwrap();
        d.save(&sample(&[])).unwrap();
        assert_eq!(fs::metadata(d.path().join(STATE_FILE)).unwrap().uid(), 0);
        d.remove().unwrap();
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn stat_with_a_name_cut_inside_a_character_still_parses() {
        let dir = std::env::temp_dir().join(format!("husk-state-stat-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("stat");
        // The kernel keeps 15 bytes of a name: here the cut leaves half of a two-byte character.
        let line = b"77 (abcdefghijklmn\xc3) S 1 77 77 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5150 1 1\n";
        fs::write(&p, line).unwrap();
        let data = read_small(&p).unwrap();
        assert_eq!(probe_stat(&data, 5150, Some(INIT_COMM)), Some(InitProbe { letter: 'S', execd: true }));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn init_name_tells_an_execd_program() {
        // pid (comm) state ppid pgrp session tty tpgid flags ... starttime (field 22).
        let line = |comm: &str, state: char| {
            format!("77 ({comm}) {state} 1 77 77 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5150 1 1 0 0\n")
        };
        let probe = |comm, state, recorded| probe_stat(&line(comm, state), 5150, recorded);
        // Still the init's own name: not exec'd, the fifo decides.
        assert_eq!(probe(INIT_COMM, 'S', Some(INIT_COMM)), Some(InitProbe { letter: 'S', execd: false }));
        // Another name: the program runs, whatever its name holds.
        assert_eq!(probe("sleep", 'S', Some(INIT_COMM)), Some(InitProbe { letter: 'S', execd: true }));
        assert_eq!(probe("a) b (c", 'R', Some(INIT_COMM)), Some(InitProbe { letter: 'R', execd: true }));
        // No recorded name (a state of an older husk, or restored): never taken as exec'd.
        assert_eq!(probe("sleep", 'S', None), Some(InitProbe { letter: 'S', execd: false }));
        // Another process (start time) or a zombie: no init.
        assert_eq!(probe_stat(&line("sleep", 'S'), 5151, Some(INIT_COMM)), None);
        assert_eq!(probe("sleep", 'Z', Some(INIT_COMM)), None);
        assert!(!not_started(Some(InitProbe { letter: 'S', execd: true }), || panic!("fifo looked at")));
        assert!(not_started(Some(InitProbe { letter: 'S', execd: false }), || true));
        assert!(!not_started(Some(InitProbe { letter: 'S', execd: false }), || false));
        assert_eq!(INIT_COMM_C.to_str().unwrap(), INIT_COMM);
        assert!(INIT_COMM.len() <= 15, "the kernel keeps 15 bytes of a name");
    }

    #[test]
    fn summary_cut_finds_the_top_level_config_key() {
        assert_eq!(summary_cut(br#"{"id":"a","cgroup":{"path":"/x"},"config":{}}"#), Some(32));
        assert_eq!(summary_cut(br#"{"id":"a","configs":1}"#), None);
        assert_eq!(summary_cut(b",\"config\""), None);
        assert_eq!(summary_cut(b""), None);
        let mut n = [0u8; 12];
        assert_eq!(fmt_u32(0, &mut n), b"0");
        assert_eq!(fmt_u32(4_294_967_295, &mut n), b"4294967295");
    }

    #[test]
    fn state_json_in_runcs_order() {
        let v = crate::OCI_SPEC_VERSION;
        let got = serde_json::to_string(&summary_of(&sample(&[])).oci_state(Status::Running, "root".into())).unwrap();
        let want = r#"{"ociVersion":"{V}","id":"c1","pid":42,"status":"running","bundle":"/b","rootfs":"/b/r","created":"t","owner":"root"}"#;
        assert_eq!(got, want.replace("{V}", v));
        let st = summary_of(&sample(&[("z", "1"), ("a", "2")]));
        let got = serde_json::to_string(&st.oci_state(Status::Stopped, String::new())).unwrap();
        assert!(got.contains(r#""pid":0,"status":"stopped""#), "{got}");
        assert!(got.ends_with(r#""created":"t","annotations":{"a":"2","z":"1"},"owner":""}"#), "{got}");
    }

    #[test]
    fn hook_state_in_spec_order_without_pid_once_stopped() {
        let v = crate::OCI_SPEC_VERSION;
        let got = String::from_utf8(sample(&[]).hook_json(Status::Running)).unwrap();
        assert_eq!(
            got,
            r#"{"ociVersion":"{V}","id":"c1","status":"running","pid":42,"bundle":"/b"}"#.replace("{V}", v)
        );
        let h = sample(&[("k", "v")]).hook_state();
        let got = String::from_utf8(h.json(Status::Stopped, 42)).unwrap();
        let want = r#"{"ociVersion":"{V}","id":"c1","status":"stopped","bundle":"/b","annotations":{"k":"v"}}"#;
        assert_eq!(got, want.replace("{V}", v));
        assert!(String::from_utf8(h.json(Status::Created, 7)).unwrap().contains(r#""status":"created","pid":7,"#));
    }
}

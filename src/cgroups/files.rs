//! Small cgroupfs file and directory helpers shared by the back ends.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use nix::unistd::Pid;

use super::CGROUP_PROCS;
use crate::error::{Error, Result};

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
pub(super) fn mkdir_leaf(dir: &Path) -> std::io::Result<bool> {
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

pub(super) fn write_file(path: &Path, data: &str) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(e, format!("opening {}", path.display())))?;
    f.write_all(data.as_bytes()).map_err(|e| Error::io(e, format!("writing {data:?} to {}", path.display())))
}

pub(super) fn read_trimmed(path: &Path) -> Result<String> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| Error::io(e, format!("reading {}", path.display())))
}

/// The value of `key` in a flat-keyed cgroup file ("key value" lines).
pub(super) fn flat_keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Pids in `dir` and every sub-cgroup; a missing `dir` has none.
pub(super) fn all_pids(dir: &Path) -> Result<Vec<Pid>> {
    let mut out = Vec::new();
    collect_pids(dir, &mut out)?;
    Ok(out)
}

pub(super) fn collect_pids(dir: &Path, out: &mut Vec<Pid>) -> Result<()> {
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

pub(super) fn sub_cgroups(dir: &Path) -> Result<Vec<PathBuf>> {
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
pub(super) fn remove_tree(dir: &Path) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keyed_files() {
        let t = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(flat_keyed(t, "oom_kill"), Some(3));
        assert_eq!(flat_keyed(t, "oom"), None);
    }
}

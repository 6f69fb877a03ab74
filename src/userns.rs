//! User namespaces as carriers of id mappings: an idmapped mount (mount_setattr with
//! MOUNT_ATTR_IDMAP) takes its mappings from a user namespace fd. [`UsernsCache`] makes one
//! namespace per distinct mapping set, with a short-lived child: the child is cloned into a new
//! user namespace, the runtime writes its uid_map and gid_map, opens /proc/<pid>/ns/user and
//! kills it. The namespace then lives only as long as the fd and the mounts idmapped with it
//! (a mount holds its own reference): nothing is left behind once the container is deleted.
//! Runs in the runtime before the container's fork (single-threaded, see fork_with_flags).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use nix::fcntl::{open, OFlag};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use oci_spec::runtime::LinuxIdMapping;

use crate::error::{Context, Result};
use crate::sys::fs::own_fd;
use crate::sys::process::{exit_now, fork_with_flags, Forked};

/// The text of a uid_map / gid_map file for `maps` ("containerID hostID size" per line).
pub fn map_text(maps: &[LinuxIdMapping]) -> String {
    let mut s = String::new();
    for m in maps {
        let _ = writeln!(s, "{} {} {}", m.container_id(), m.host_id(), m.size());
    }
    s
}

/// A new user namespace whose uid_map and gid_map are `uid_map` and `gid_map` (map file text),
/// owned by the caller's user namespace. Needs CAP_SETUID/CAP_SETGID there for any mapping
/// other than the caller's own ids (as newuidmap would).
pub fn with_maps(uid_map: &str, gid_map: &str) -> Result<OwnedFd> {
    let pid = match fork_with_flags(libc::CLONE_NEWUSER).context("cloning a process into a new user namespace")? {
        Forked::Child => {
            // Die with the runtime if it dies before killing us; then wait to be killed.
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            for _ in 0..1000 {
                nix::unistd::pause();
            }
            exit_now(0)
        }
        Forked::Parent(pid) => pid,
    };
    let res = (|| {
        let proc = format!("/proc/{pid}");
        std::fs::write(format!("{proc}/uid_map"), uid_map)
            .with_context(|| format!("writing uid_map {:?} of an idmap user namespace", uid_map.trim()))?;
        std::fs::write(format!("{proc}/gid_map"), gid_map)
            .with_context(|| format!("writing gid_map {:?} of an idmap user namespace", gid_map.trim()))?;
        let fd = open(format!("{proc}/ns/user").as_str(), OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .context("opening the idmap user namespace")?;
        Ok(own_fd(fd))
    })();
    let _ = kill(pid, Signal::SIGKILL);
    let _ = waitpid(pid, None);
    res
}

/// One user namespace per distinct (uid_map, gid_map), made on first use.
#[derive(Default)]
pub struct UsernsCache {
    made: HashMap<(String, String), Arc<OwnedFd>>,
}

impl UsernsCache {
    pub fn get(&mut self, uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<Arc<OwnedFd>> {
        let key = (map_text(uids), map_text(gids));
        if let Some(fd) = self.made.get(&key) {
            return Ok(fd.clone());
        }
        let fd = Arc::new(with_maps(&key.0, &key.1)?);
        self.made.insert(key, fd.clone());
        Ok(fd)
    }

    /// How many namespaces were made (one per distinct mapping set).
    pub fn len(&self) -> usize {
        self.made.len()
    }

    pub fn is_empty(&self) -> bool {
        self.made.is_empty()
    }
}

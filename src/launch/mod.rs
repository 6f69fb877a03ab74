//! Launching a container's init: the plan (built in the runtime from the spec, before
//! fork), the fork, and the parent's side of the set-up conversation. The init's side is
//! [`child`]. One fork in the common case, no re-exec of husk: see docs/launch.md.

pub mod child;
pub mod exec;
pub mod process;
pub mod sync;

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use crate::cgroups::Cgroup;
use crate::error::{Context, Error, Kind, Result};
use crate::namespaces::NsPlan;
use crate::rootfs::RootfsPlan;
use crate::sys::process::{exit_now, fork_with_flags, Forked};
use child::InitFds;
use process::ProcessPlan;
use sync::Msg;

/// Everything the init needs, computed before fork so the child only makes system calls.
pub struct InitPlan {
    pub ns: NsPlan,
    pub uid_map: Option<String>,
    pub gid_map: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub rootfs: RootfsPlan,
    pub process: ProcessPlan,
    /// `_ses.<id>`: the session keyring to join, unless --no-new-keyring.
    pub session_keyring: Option<std::ffi::CString>,
    /// Any hook at all before exec: the init then asks the parent to run the runtime's
    /// hooks and gets the state JSON for its own.
    pub has_runtime_hooks: bool,
    pub create_container_hooks: Vec<oci_spec::runtime::Hook>,
    pub start_container_hooks: Vec<oci_spec::runtime::Hook>,
}

fn id_map(m: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>) -> Option<String> {
    let m = m?;
    if m.is_empty() {
        return None;
    }
    Some(m.iter().map(|e| format!("{} {} {}\n", e.container_id(), e.host_id(), e.size())).collect())
}

pub struct PlanInput<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: PathBuf,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    pub cgroup_path: &'a str,
    pub id: &'a str,
    pub no_new_keyring: bool,
}

impl InitPlan {
    pub fn from_spec(input: PlanInput) -> Result<Self> {
        let spec = input.spec;
        let linux = spec.linux().as_ref().ok_or_else(|| Error::invalid_spec("linux: missing"))?;
        let process = spec.process().as_ref().ok_or_else(|| Error::invalid_spec("process: missing"))?;
        let ns = NsPlan::from_spec(linux)?;
        if !ns.new_mount && !ns.joins.iter().any(|j| j.kind == oci_spec::runtime::LinuxNamespaceType::Mount) {
            return Err(Error::invalid_spec("linux.namespaces: a mount namespace is required to set up the rootfs"));
        }
        let userns = ns.new_user || ns.joins.iter().any(|j| j.kind == oci_spec::runtime::LinuxNamespaceType::User);
        let mut rootfs = RootfsPlan::from_spec(
            spec,
            input.bundle,
            input.rootfs.clone(),
            input.no_pivot,
            userns,
            ns.new_cgroup,
            input.cgroup_path,
        )?;
        rootfs.cwd = Some(process.cwd().clone());
        let mut sysctl: Vec<(String, String)> = linux.sysctl().clone().unwrap_or_default().into_iter().collect();
        sysctl.sort();
        rootfs.sysctl = sysctl;
        let proc_plan = ProcessPlan::from_process(
            process,
            &input.rootfs,
            linux.seccomp().as_ref(),
            input.preserve_fds,
            process::listen_fds(),
        )?;
        let hooks = spec.hooks().as_ref();
        let some = |v: &Option<Vec<oci_spec::runtime::Hook>>| v.as_ref().is_some_and(|v| !v.is_empty());
        let has_runtime_hooks = hooks.is_some_and(|h| {
            some(h.prestart()) || some(h.create_runtime()) || some(h.create_container()) || some(h.start_container())
        });
        let create_container_hooks = hooks.and_then(|h| h.create_container().clone()).unwrap_or_default();
        let start_container_hooks = hooks.and_then(|h| h.start_container().clone()).unwrap_or_default();
        Ok(InitPlan {
            uid_map: id_map(linux.uid_mappings().as_ref()),
            gid_map: id_map(linux.gid_mappings().as_ref()),
            ns,
            hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
            domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
            rootfs,
            process: proc_plan,
            session_keyring: if input.no_new_keyring {
                None
            } else {
                std::ffi::CString::new(format!("_ses.{}", input.id)).ok()
            },
            has_runtime_hooks,
            create_container_hooks,
            start_container_hooks,
        })
    }
}

/// Kills and reaps the processes of a half-made container unless disarmed: every error
/// path of `spawn` leaves no process behind.
struct ChildGuard {
    pids: Vec<Pid>,
}

impl ChildGuard {
    fn disarm(mut self) {
        self.pids.clear();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        for &p in &self.pids {
            let _ = kill(p, Signal::SIGKILL);
            let _ = waitpid(p, None);
        }
    }
}

/// What `spawn` asks of its caller during set-up.
pub trait SpawnHooks {
    /// The init's namespaces exist: run createRuntime/prestart hooks for init `pid`;
    /// returns the state JSON the init's own hooks get.
    fn run_runtime_hooks(&mut self, pid: Pid) -> Result<Vec<u8>>;
}

/// Fork the init and drive its set-up until it is ready to exec (it then waits on the
/// fifo, if one is given). Returns the init's host pid. `lock` is the container's state-dir
/// lock: the child closes its copy at once (a flock is shared across fork, and an orphaned
/// init must never keep the container locked).
pub fn spawn(
    plan: &InitPlan,
    cgroup: &Cgroup,
    fifo: Option<OwnedFd>,
    console: Option<OwnedFd>,
    lock: BorrowedFd,
    hooks: &mut dyn SpawnHooks,
) -> Result<Pid> {
    let (parent_ch, child_ch) = sync::pair()?;
    let forked = fork_with_flags(plan.ns.clone_flags.bits()).context("forking the container init")?;
    let first = match forked {
        Forked::Child => {
            let _ = nix::unistd::close(lock.as_raw_fd());
            drop(parent_ch);
            let fds = InitFds { sync: child_ch, fifo, console };
            let err = match child::run(plan, &fds) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            // Before Ready the parent reports the error; after it (a failure between
            // start and exec) the container's stderr is the only place left.
            if fds.sync.send(&Msg::Fail(err.to_string())).is_err() {
                let _ = nix::unistd::write(std::io::stderr(), format!("husk: container init: {err}\n").as_bytes());
            }
            exit_now(127);
        }
        Forked::Parent(pid) => pid,
    };
    drop(child_ch);
    drop(fifo);
    drop(console);
    let mut guard = ChildGuard { pids: vec![first] };
    cgroup.add_task(first).context("adding the init to its cgroup")?;
    if plan.ns.user_in_clone {
        write_id_maps(first, plan)?;
    }
    parent_ch.send(&Msg::Go)?;
    let mut init = first;
    loop {
        match parent_ch.recv()? {
            Some(Msg::NeedMaps(p)) => {
                write_id_maps(Pid::from_raw(p), plan)?;
                parent_ch.send(&Msg::MapsDone)?;
            }
            Some(Msg::Stage2(p)) => {
                init = Pid::from_raw(p);
                guard.pids.push(init);
                let _ = waitpid(first, None);
                guard.pids.retain(|&x| x != first);
            }
            Some(Msg::RunHooks) => {
                let state = hooks.run_runtime_hooks(init)?;
                parent_ch.send(&Msg::HooksDone(state))?;
            }
            Some(Msg::Ready) => break,
            Some(Msg::Fail(msg)) => return Err(Error::new(Kind::System, msg)),
            Some(m) => return Err(Error::new(Kind::System, format!("unexpected {m:?} from the container init"))),
            None => {
                let how = match waitpid(init, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(_, c)) => format!("exit status {c}"),
                    Ok(WaitStatus::Signaled(_, s, _)) => format!("killed by {s}"),
                    _ => "no status".into(),
                };
                return Err(Error::new(Kind::System, format!("container init exited during set-up ({how})")));
            }
        }
    }
    guard.disarm();
    Ok(init)
}

fn write_id_maps(pid: Pid, plan: &InitPlan) -> Result<()> {
    if let Some(m) = &plan.uid_map {
        let p = format!("/proc/{pid}/uid_map");
        std::fs::write(&p, m).map_err(|e| Error::io(e, format!("writing uid mappings {:?} to {p}", m.trim_end())))?;
    }
    if let Some(m) = &plan.gid_map {
        let p = format!("/proc/{pid}/gid_map");
        std::fs::write(&p, m).map_err(|e| Error::io(e, format!("writing gid mappings {:?} to {p}", m.trim_end())))?;
    }
    Ok(())
}

pub fn path_bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

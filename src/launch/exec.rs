//! Launching a process into a running container (`husk exec`): join every namespace of the
//! container's init (the user namespace first), its cgroup, then the shared process steps.
//! The pid namespace applies to children only, so a second fork (CLONE_PARENT: the process
//! stays our child, or the caller's subreaper's once we exit) lands it there.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use nix::fcntl::{open, openat, AtFlags, OFlag};
use nix::sched::setns;
use nix::sys::signal::Signal;
use nix::sys::stat::{fstatat, Mode};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;

use super::process::{finish, ProcessFds, ProcessPlan};
use super::sync::{self, Channel, Msg};
use crate::cgroups::Cgroup;
use crate::error::{Context, Error, Kind, Result};
use crate::namespaces::{flag_of, Join};
use crate::sys::fs::own_fd;
use crate::sys::process::{exit_now, Forked};

pub struct ExecPlan {
    pub joins: Vec<Join>,
    pub stage2: bool,
    pub process: ProcessPlan,
    /// The container's state JSON (status running), for a seccomp agent (SCMP_ACT_NOTIFY).
    pub state_json: Vec<u8>,
}

const NS_FILES: [(LinuxNamespaceType, &str); 8] = [
    (LinuxNamespaceType::User, "user"),
    (LinuxNamespaceType::Cgroup, "cgroup"),
    (LinuxNamespaceType::Ipc, "ipc"),
    (LinuxNamespaceType::Uts, "uts"),
    (LinuxNamespaceType::Network, "net"),
    (LinuxNamespaceType::Pid, "pid"),
    (LinuxNamespaceType::Time, "time"),
    (LinuxNamespaceType::Mount, "mnt"),
];

impl ExecPlan {
    /// Open the namespaces of the running init `init` that differ from ours. `state_json`: the
    /// container's state as hooks get it, sent to a seccomp agent with the listener.
    pub fn new(init: Pid, process: ProcessPlan, state_json: Vec<u8>) -> Result<Self> {
        let mut joins = Vec::new();
        // Both ns directories opened once, each namespace looked up in them: every path walk
        // through /proc/PID revalidates the pid's entries.
        let dir = |p: &str| open(p, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).map(own_fd);
        let theirs_dir = dir(&format!("/proc/{init}/ns"))
            .with_context(|| format!("opening the namespaces of container init {init}"))?;
        let ours_dir = dir("/proc/self/ns").context("opening our own namespaces")?;
        for (kind, name) in NS_FILES {
            let stat = |d: &OwnedFd| fstatat(Some(d.as_raw_fd()), name, AtFlags::empty());
            let (Ok(a), Ok(b)) = (stat(&theirs_dir), stat(&ours_dir)) else { continue };
            if a.st_ino == b.st_ino && a.st_dev == b.st_dev {
                continue;
            }
            let fd = openat(Some(theirs_dir.as_raw_fd()), name, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                .with_context(|| format!("opening {name} namespace of container init {init}"))?;
            joins.push(Join {
                fd: own_fd(fd),
                flag: flag_of(kind),
                kind,
                path: format!("/proc/{init}/ns/{name}").into(),
            });
        }
        let stage2 = joins.iter().any(|j| matches!(j.kind, LinuxNamespaceType::Pid | LinuxNamespaceType::Time));
        Ok(ExecPlan { joins, stage2, process, state_json })
    }
}

/// Where the exec'd process goes: the container's cgroup, or `exec --cgroup` sub-cgroups
/// (one `cgroup.procs` file per hierarchy).
pub enum Placement<'a> {
    Container(&'a Cgroup),
    Sub(Vec<PathBuf>),
}

impl Placement<'_> {
    /// The one cgroup2 directory to start the process in with clone3(CLONE_INTO_CGROUP), if the
    /// placement is one (a unified host): see [`super::fork_into`].
    fn birth_dir(&self) -> Option<OwnedFd> {
        match self {
            Placement::Container(cg) => super::birth_dir(cg),
            Placement::Sub(dirs) if !super::clone3_disabled() => match &dirs[..] {
                [one] => crate::cgroups::open_cgroup_dir(one),
                _ => None,
            },
            Placement::Sub(_) => None,
        }
    }

    fn add(&self, pid: Pid) -> Result<()> {
        match self {
            Placement::Container(cg) => cg.add_task(pid),
            Placement::Sub(dirs) => {
                for d in dirs {
                    let procs = d.join("cgroup.procs");
                    std::fs::write(&procs, pid.to_string())
                        .map_err(|e| Error::io(e, format!("adding pid {pid} to {}", procs.display())))?;
                }
                Ok(())
            }
        }
    }
}

/// runc 1.1's `exec --cgroup [CONTROLLER[,CONTROLLER]:]PATH` arguments: `None` without any;
/// otherwise a map from controller ("" for a path without prefix, which must then be the only
/// argument) to the sub-path. A later controller entry replaces an earlier one, as in runc 1.1.5.
pub fn parse_sub_cgroups(args: &[String]) -> Result<Option<BTreeMap<String, String>>> {
    if args.is_empty() {
        return Ok(None);
    }
    let mut m = BTreeMap::new();
    for a in args {
        let parts: Vec<&str> = a.splitn(3, ':').collect();
        match parts.as_slice() {
            [path] | ["", path] => {
                if args.len() != 1 {
                    return Err(Error::invalid_arg(format!(
                        "invalid --cgroup argument: {a} (missing <controller>: prefix)"
                    )));
                }
                m.insert(String::new(), path.to_string());
            }
            [ctrls, path] => {
                for c in ctrls.split(',') {
                    if c.is_empty() {
                        return Err(Error::invalid_arg(format!(
                            "invalid --cgroup argument: {a} (empty <controller> prefix)"
                        )));
                    }
                    m.insert(c.to_string(), path.to_string());
                }
            }
            _ => return Err(Error::invalid_arg(format!("invalid --cgroup argument: {a}"))),
        }
    }
    Ok(Some(m))
}

/// The cgroup directories for an exec'd process with `sub`: for every hierarchy the container's
/// `init` is in (its /proc/PID/cgroup), the init's cgroup joined with the sub-path given for
/// one of the hierarchy's controllers (or for all, without a prefix), else the init's cgroup.
/// As in runc: a controller no hierarchy has, or a sub-path leaving the container's cgroup,
/// is an error; the sub-cgroup must exist already.
pub fn sub_cgroup_dirs(init: Pid, sub: &BTreeMap<String, String>) -> Result<Vec<PathBuf>> {
    let cg = std::fs::read_to_string(format!("/proc/{init}/cgroup"))
        .map_err(|e| Error::io(e, format!("reading /proc/{init}/cgroup")))?;
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| Error::io(e, "reading /proc/self/mountinfo"))?;
    let mut used: Vec<&str> = Vec::new();
    let mut dirs = Vec::new();
    for line in cg.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else { continue };
        let mount = cgroup_mount(&mountinfo, ctrls).ok_or_else(|| {
            Error::new(Kind::System, format!("no mount of the cgroup hierarchy {ctrls:?} of init {init}"))
        })?;
        let mut dir = mount.join(path.trim_start_matches('/'));
        let wanted = sub.get("").map(|p| ("", p)).or_else(|| {
            ctrls.split(',').filter(|c| !c.is_empty()).find_map(|c| sub.get_key_value(c).map(|(k, v)| (k.as_str(), v)))
        });
        if let Some((key, p)) = wanted {
            used.push(key);
            let clean = clean_sub_path(p).ok_or_else(|| Error::invalid_arg(format!("{p} is not a sub cgroup path")))?;
            dir = dir.join(clean);
        }
        dirs.push(dir);
    }
    if let Some(k) = sub.keys().find(|k| !k.is_empty() && !used.contains(&k.as_str())) {
        return Err(Error::invalid_arg(format!("unknown controller {k} in --cgroup")));
    }
    Ok(dirs)
}

/// `p` made relative and normalized; `None` if it climbs out (`..` past its start).
fn clean_sub_path(p: &str) -> Option<PathBuf> {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.iter().collect())
}

/// The mount point of the cgroup hierarchy named `ctrls` in /proc/PID/cgroup ("" for cgroup2).
fn cgroup_mount(mountinfo: &str, ctrls: &str) -> Option<PathBuf> {
    let want: Vec<&str> = ctrls.split(',').filter(|c| !c.is_empty()).collect();
    mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let point = pre.split(' ').nth(4)?;
        let mut post = post.split(' ');
        let (fstype, _, opts) = (post.next()?, post.next()?, post.next()?);
        let ok = match fstype {
            "cgroup2" => want.is_empty(),
            "cgroup" => !want.is_empty() && want.iter().all(|w| opts.split(',').any(|o| o == *w)),
            _ => false,
        };
        ok.then(|| PathBuf::from(point.replace("\\040", " ")))
    })
}

/// Fork the process, put it in the container's cgroup and namespaces, and wait until it is
/// about to exec. Returns its host pid.
/// `lock`: the container's state-dir lock, closed in the child at once (see `spawn`).
pub fn spawn_exec(plan: &ExecPlan, cgroup: &Placement, console: Option<OwnedFd>, lock: BorrowedFd) -> Result<Pid> {
    let mut ph = crate::logging::Phases::start("exec");
    let (parent_ch, child_ch) = sync::pair()?;
    let birth = cgroup.birth_dir();
    let (forked, born_in_cgroup) = super::fork_into(0, birth.as_ref()).context("forking the exec process")?;
    let first = match forked {
        Forked::Child => {
            // Not the container's: the cgroup directory (close-on-exec anyway) and our lock.
            drop(birth);
            let _ = nix::unistd::close(lock.as_raw_fd());
            drop(parent_ch);
            let ready = std::cell::Cell::new(false);
            let err = match run(plan, &child_ch, console.as_ref(), &ready) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            // After Ready nobody reads the channel any more: the error goes to the process's
            // stderr and its exit status is 1, as with runc's init (a failing execve is
            // reported so by `finish` itself).
            let after_ready = ready.get();
            if after_ready || child_ch.send(&Msg::Fail(err.to_string())).is_err() {
                let _ = nix::unistd::write(std::io::stderr(), format!("husk: exec: {err}\n").as_bytes());
            }
            exit_now(if after_ready { 1 } else { 127 });
        }
        Forked::Parent(pid) => pid,
    };
    drop(birth);
    drop(child_ch);
    drop(console);
    crate::fault::point("exec:forked");
    let mut pids = vec![first];
    let kill_all = |pids: &[Pid]| {
        for &p in pids {
            let _ = nix::sys::signal::kill(p, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(p, None);
        }
    };
    if let Err(e) = plan.process.attrs.pin_initial(first) {
        kill_all(&pids);
        return Err(e);
    }
    ph.mark(if born_in_cgroup { "clone3-into-cgroup" } else { "clone" });
    if !born_in_cgroup {
        if let Err(e) = cgroup.add(first) {
            kill_all(&pids);
            return Err(e.context("adding the exec process to the container's cgroup"));
        }
        ph.mark("cgroup-add-task");
    }
    let res = (|| -> Result<Pid> {
        parent_ch.send(&Msg::Go)?;
        let mut proc_pid = first;
        // A second stage may speak before the first has sent its pid: see Stage2Gate.
        let mut gate = sync::Stage2Gate::new(plan.stage2);
        loop {
            match gate.recv(&parent_ch)? {
                Some(Msg::Stage2(p)) => {
                    proc_pid = Pid::from_raw(p);
                    pids.push(proc_pid);
                    let _ = nix::sys::wait::waitpid(first, None);
                    pids.retain(|&x| x != first);
                }
                Some(Msg::SeccompListener(fd)) => {
                    let target = plan.process.seccomp_listener.as_ref();
                    super::send_seccomp_listener(proc_pid, fd, target, &plan.state_json)?;
                    parent_ch.send(&Msg::SeccompListenerSent)?;
                }
                Some(Msg::Ready) => return Ok(proc_pid),
                Some(Msg::Fail(msg)) => return Err(Error::new(Kind::System, msg)),
                Some(m) => return Err(Error::new(Kind::System, format!("unexpected {m:?} from the exec process"))),
                None => return Err(Error::new(Kind::System, "the exec process exited during set-up")),
            }
        }
    })();
    if res.is_err() {
        kill_all(&pids);
    }
    res
}

fn run(plan: &ExecPlan, ch: &Channel, console: Option<&OwnedFd>, ready: &std::cell::Cell<bool>) -> Result<Infallible> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("setting the parent death signal")?;
    // Not dumpable while husk's image runs in the container's namespaces: container
    // processes cannot open /proc/PID/exe (the host binary) or our memory (CVE-2019-5736).
    nix::sys::prctl::set_dumpable(false).context("clearing the dumpable flag")?;
    super::child::reset_signals()?;
    ch.expect(Msg::Go)?;
    // The container's oom_score_adj, while we still see the host's /proc and hold our caps.
    if let Some(adj) = plan.process.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| Error::io(e, format!("setting oom_score_adj to {adj}")))?;
    }
    for j in &plan.joins {
        setns(j.fd.as_fd(), j.flag).with_context(|| format!("joining {} namespace {}", j.kind, j.path.display()))?;
        if j.kind == LinuxNamespaceType::User {
            super::child::become_root_in_userns()?;
        }
    }
    if plan.stage2 {
        super::fork_stage2("into the container's pid namespace", &|pid| ch.send(&Msg::Stage2(pid.as_raw())))?;
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("setting the parent death signal")?;
        nix::sys::prctl::set_dumpable(false).context("clearing the dumpable flag")?;
    }
    if let Some(sock) = console {
        crate::console::setup_console(sock.as_fd(), plan.process.console_size, plan.process.uid)
            .context("setting up the terminal")?;
    }
    let fds = ProcessFds { sync: ch, fifo: None, console, ready };
    finish(&plan.process, &fds, &|| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sub_cgroup_arguments_parse_as_runc_does() {
        assert_eq!(parse_sub_cgroups(&[]).unwrap(), None);
        let m = parse_sub_cgroups(&args(&["sub"])).unwrap().unwrap();
        assert_eq!(m.get(""), Some(&"sub".to_string()));
        let m = parse_sub_cgroups(&args(&["pids,memory:a/b", "cpu:c"])).unwrap().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m["memory"], "a/b");
        assert_eq!(m["cpu"], "c");
        for bad in [&["a:b:c"][..], &["sub", "pids:x"][..], &["pids,:x"][..]] {
            assert!(parse_sub_cgroups(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sub_paths_stay_below_the_container_cgroup() {
        assert_eq!(clean_sub_path("/a/./b/"), Some(PathBuf::from("a/b")));
        assert_eq!(clean_sub_path("a/../b"), Some(PathBuf::from("b")));
        assert_eq!(clean_sub_path("../.."), None);
        assert_eq!(clean_sub_path("a/../../b"), None);
    }

    #[test]
    fn cgroup_mounts_are_found_by_controller() {
        let mi = "30 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                  31 25 0:27 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n\
                  32 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
                  33 25 0:29 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n";
        assert_eq!(cgroup_mount(mi, ""), Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert_eq!(cgroup_mount(mi, "pids"), Some(PathBuf::from("/sys/fs/cgroup/pids")));
        assert_eq!(cgroup_mount(mi, "cpu,cpuacct"), Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")));
        assert_eq!(cgroup_mount(mi, "name=systemd"), Some(PathBuf::from("/sys/fs/cgroup/systemd")));
        assert_eq!(cgroup_mount(mi, "memory"), None);
    }
}

//! `husk exec`: a new process in a running container, built from `--process FILE` or from
//! the container's own process with the flags applied (as runc does).

use std::os::fd::AsFd;

use nix::sys::signal::SigSet;
use nix::unistd::Pid;
use oci_spec::runtime::Process;

use crate::cgroups::Cgroup;
use crate::cli::{Cli, ExecArgs};
use crate::error::{Context, Error, Result};
use crate::launch::exec::{spawn_exec, ExecPlan};
use crate::launch::process::ProcessPlan;
use crate::state::{StateDir, Status};

/// The process to run: the JSON file as given (the other flags are then ignored, as runc
/// does), or the container's process with the flags applied the way runc 1.1 applies them.
/// Capabilities a process file does not set are the container's (runc's `newInitConfig`);
/// rlimits it does not set are not (runc 1.1.5 leaves the caller's).
fn build_process(a: &ExecArgs, base: Option<&Process>) -> Result<Process> {
    let mut p = if let Some(path) = &a.process {
        let text = std::fs::read(path).map_err(|e| Error::io(e, format!("reading process file {}", path.display())))?;
        let text = crate::spec::normalize(&text);
        let mut p: Process = parse_process_file(&text).map_err(|e| {
            let at = crate::spec::json_path_at(&text, e.line(), e.column());
            Error::invalid_spec(format!("process file {}: {at}: {e}", path.display()))
        })?;
        if let Some(base) = base {
            if p.capabilities().is_none() {
                p.set_capabilities(base.capabilities().clone());
            }
        }
        p
    } else {
        from_flags(a, base)?
    };
    validate(&mut p)?;
    Ok(p)
}

/// A process file as runc reads it: `user` may be left out (uid 0, gid 0: Go's zero value),
/// and capability names oci-spec does not know are dropped with runc's warning.
fn parse_process_file(text: &[u8]) -> serde_json::Result<Process> {
    let mut v: serde_json::Value = serde_json::from_slice(text)?;
    if let Some(obj) = v.as_object_mut() {
        obj.entry("user").or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
    }
    match serde_json::from_value::<Process>(v.clone()) {
        Ok(p) => Ok(p),
        Err(first) => {
            let fixed =
                serde_json::to_vec(&v).ok().and_then(|t| crate::spec::strip_unknown_caps(&t, &["capabilities"]));
            if let Some((fixed, removed)) = fixed {
                if let Ok(p) = serde_json::from_slice::<Process>(&fixed) {
                    crate::spec::warn_ignored_caps(&removed);
                    return Ok(p);
                }
            }
            // Parse the text itself again for an error with its line and column.
            serde_json::from_slice::<Process>(text).map_err(|e| if e.line() == 0 { first } else { e })
        }
    }
}

/// runc's `validateProcessSpec`: a program to run and an absolute cwd.
fn validate(p: &mut Process) -> Result<()> {
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::invalid_arg("args must not be empty"));
    }
    if p.cwd().as_os_str().is_empty() {
        return Err(Error::invalid_arg("Cwd property must not be empty"));
    }
    if !p.cwd().is_absolute() {
        return Err(Error::invalid_arg("Cwd must be an absolute path"));
    }
    Ok(())
}

fn from_flags(a: &ExecArgs, base: Option<&Process>) -> Result<Process> {
    if a.command.is_empty() {
        return Err(Error::invalid_arg("exec needs a command to run (or --process FILE)"));
    }
    let mut p = base.cloned().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(ap) = &a.apparmor {
        p.set_apparmor_profile(Some(ap.clone()));
    }
    if let Some(l) = &a.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    if !a.env.is_empty() {
        // runc appends; the last value of a name wins, as with setenv in its init.
        let mut env = p.env().clone().unwrap_or_default();
        for e in &a.env {
            let key = e.split('=').next().unwrap_or("");
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.clone());
        }
        p.set_env(Some(env));
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let mut user = p.user().clone();
        if let Some(g) = gid {
            user.set_gid(g.parse().map_err(|_| {
                Error::invalid_arg(format!("parsing {g} as int for gid failed: --user wants UID[:GID]"))
            })?);
        }
        user.set_uid(
            uid.parse().map_err(|_| {
                Error::invalid_arg(format!("parsing {uid} as int for uid failed: --user wants UID[:GID]"))
            })?,
        );
        p.set_user(user);
    }
    if !a.additional_gids.is_empty() {
        // Appended to the container's, as runc does.
        let mut user = p.user().clone();
        let mut gids = user.additional_gids().clone().unwrap_or_default();
        gids.extend(&a.additional_gids);
        user.set_additional_gids(Some(gids));
        p.set_user(user);
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !a.cap.is_empty() {
        // Added to the bounding, effective and permitted sets (what runc 1.1.5 does).
        // A name husk does not know is ignored with runc's warning, as in config.json.
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let mut unknown = Vec::new();
        for c in &a.cap {
            let name = if c.starts_with("CAP_") { c.clone() } else { format!("CAP_{c}") };
            let Ok(cap) = serde_json::from_value::<oci_spec::runtime::Capability>(serde_json::Value::String(name))
            else {
                unknown.push(c.clone());
                continue;
            };
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        crate::spec::warn_ignored_caps(&unknown);
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

pub fn exec(cli: &Cli, a: &ExecArgs) -> Result<i32> {
    let id = a.id.as_str();
    let ctx = || format!("exec in container {id}");
    let dir = StateDir::open(&cli.root, id)?;
    let st = dir.load()?;
    // One manager for the frozen check and the placement (each open reads /proc/self/mountinfo);
    // opened for the check only if the init lives, as before.
    let mut opened = None;
    let status = st.status_with(dir.path(), || {
        let cg = Cgroup::open(&st.cgroup);
        let frozen = cg.as_ref().is_ok_and(|c| c.is_frozen().unwrap_or(false));
        opened = Some(cg);
        frozen
    });
    match status {
        Status::Stopped | Status::Creating => {
            return Err(Error::bad_state(format!("cannot exec in a stopped container ({id})")));
        }
        Status::Paused if !a.ignore_paused => {
            return Err(Error::bad_state(format!(
                "cannot exec in a paused container ({id}) (use --ignore-paused to override)"
            )));
        }
        _ => {}
    }
    let sub_cgroups = crate::launch::exec::parse_sub_cgroups(&a.cgroup).with_context(ctx)?;
    let process = build_process(a, st.config.process().as_ref()).with_context(ctx)?;
    // CVE-2019-5736 with CAP_SYS_PTRACE in the container: start over from a read-only mount
    // of our binary (the state-dir lock is close-on-exec and taken again).
    crate::security::sealed::seal_if(crate::security::sealed::exec_exposed(Pid::from_raw(st.pid), &process))
        .with_context(ctx)?;
    let terminal = process.terminal().unwrap_or(false);
    crate::console::check_terminal_args(terminal, a.console_socket.is_some(), a.detach).with_context(ctx)?;
    let seccomp = st.config.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let cache = cli.root.join(crate::launch::process::SECCOMP_CACHE_DIR);
    let mut pplan =
        ProcessPlan::from_process(&process, &st.rootfs, seccomp, Some(&cache), a.preserve_fds, 0).with_context(ctx)?;
    pplan.attrs =
        crate::launch::attrs::ProcessAttrs::from_spec(&process, st.config.linux().as_ref()).with_context(ctx)?;
    // The container's oomScoreAdj, as runc's exec passes it in its bootstrap data.
    pplan.oom_score_adj = st.config.process().as_ref().and_then(|p| p.oom_score_adj());
    let plan = ExecPlan::new(Pid::from_raw(st.pid), pplan, st.hook_json(Status::Running)).with_context(ctx)?;
    let cgroup = opened.unwrap_or_else(|| Cgroup::open(&st.cgroup)).with_context(ctx)?;
    // The pty: to the caller's socket, or back to us for the foreground proxy.
    let (console, pty_back) = match (&a.console_socket, terminal) {
        (Some(p), _) => (Some(crate::console::connect_console_socket(p).with_context(ctx)?), None),
        (None, true) => {
            let (ours, theirs) = crate::console::console_socketpair().with_context(ctx)?;
            (Some(theirs), Some(ours))
        }
        (None, false) => (None, None),
    };
    let mask = if a.detach { SigSet::empty() } else { crate::commands::run::block_forwarded()? };
    let placement = match sub_cgroups {
        Some(sub) => crate::launch::exec::Placement::Sub(
            crate::launch::exec::sub_cgroup_dirs(Pid::from_raw(st.pid), &sub).with_context(ctx)?,
        ),
        None => crate::launch::exec::Placement::Container(&cgroup),
    };
    // Paused (--ignore-paused): the process is born into the frozen cgroup and gets ready only
    // once `resume` thaws it, and resume takes the container's lock: give the lock up now (as
    // runc, whose exec holds none), or exec and resume wait for each other forever. The
    // child still gets the directory fd to close.
    let mut dir = Some(dir);
    let unlocked = match status {
        Status::Paused => dir.take().map(StateDir::unlock).transpose().with_context(ctx)?,
        _ => None,
    };
    let lock_fd = match (&dir, &unlocked) {
        (Some(d), _) => d.lock_fd(),
        (None, Some(f)) => f.as_fd(),
        (None, None) => unreachable!("the state dir is either locked or unlocked"),
    };
    let pid = spawn_exec(&plan, &placement, console, lock_fd).with_context(ctx)?;
    crate::fault::point("exec:ready");
    // Don't hold the container's lock while the process runs: kill/delete must get through.
    drop(dir);
    drop(unlocked);
    if let Some(p) = &a.pid_file {
        crate::commands::create::write_pid_file(p, pid)?;
    }
    if a.detach {
        return Ok(0);
    }
    let master = match &pty_back {
        Some(sock) => Some(crate::console::recv_pty_master(sock.as_fd())?.0),
        None => None,
    };
    crate::commands::run::wait_foreground(mask, pid, master)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_file_user_defaults_to_root_and_unknown_caps_are_dropped() {
        let p = parse_process_file(br#"{"args": ["sh"], "cwd": "/"}"#).unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
        let p = parse_process_file(
            br#"{"args": ["sh"], "cwd": "/", "capabilities": {"bounding": ["CAP_KILL", "CAP_UNKNOWN"]}}"#,
        )
        .unwrap();
        assert_eq!(p.capabilities().as_ref().unwrap().bounding().as_ref().unwrap().len(), 1);
        let e = parse_process_file(b"{\"args\": [\"sh\"],\n \"cwd\": 5}").unwrap_err();
        assert_eq!(e.line(), 2);
    }
}

//! `husk exec`: a new process in a running container, built from `--process FILE` or from
//! the container's own process with the flags applied (as runc does).

use std::os::fd::AsFd;

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;
use oci_spec::runtime::Process;

use crate::cgroups::Cgroup;
use crate::cli::{Cli, ExecArgs};
use crate::error::{Context, Error, Result};
use crate::launch::exec::{spawn_exec, ExecPlan};
use crate::launch::process::ProcessPlan;
use crate::state::{StateDir, Status};

/// The process to run: the JSON file as given, or the container's process with the flags.
fn build_process(a: &ExecArgs, base: Option<&Process>) -> Result<Process> {
    if let Some(path) = &a.process {
        let text = std::fs::read(path).map_err(|e| Error::io(e, format!("reading process file {}", path.display())))?;
        let text = crate::spec::normalize(&text);
        return serde_json::from_slice(&text).map_err(|e| {
            let at = crate::spec::json_path_at(&text, e.line(), e.column());
            Error::invalid_spec(format!("process file {}: {at}: {e}", path.display()))
        });
    }
    if a.command.is_empty() {
        return Err(Error::invalid_arg("exec needs a command to run (or --process FILE)"));
    }
    let mut p = base.cloned().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if !a.env.is_empty() {
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
        let uid: u32 = uid.parse().map_err(|_| Error::invalid_arg(format!("invalid --user {u:?}: want UID[:GID]")))?;
        let mut user = p.user().clone();
        user.set_uid(uid);
        if let Some(g) = gid {
            user.set_gid(g.parse().map_err(|_| Error::invalid_arg(format!("invalid --user {u:?}: want UID[:GID]")))?);
        }
        p.set_user(user);
    }
    if !a.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(user);
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for c in &a.cap {
            let name = if c.starts_with("CAP_") { c.clone() } else { format!("CAP_{c}") };
            let cap: oci_spec::runtime::Capability = serde_json::from_value(serde_json::Value::String(name.clone()))
                .map_err(|_| Error::invalid_arg(format!("unknown capability {c:?}")))?;
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

pub fn exec(cli: &Cli, a: &ExecArgs) -> Result<i32> {
    let id = a.id.as_str();
    let ctx = || format!("exec in container {id}");
    let dir = StateDir::open(&cli.root, id)?;
    let st = dir.load()?;
    match st.status(dir.path()) {
        Status::Stopped | Status::Creating => {
            return Err(Error::bad_state(format!("cannot exec in container {id}: it is not running")));
        }
        Status::Paused if !a.ignore_paused => {
            return Err(Error::bad_state(format!("cannot exec in container {id}: it is paused (use --ignore-paused)")));
        }
        _ => {}
    }
    if !a.cgroup.is_empty() {
        return Err(Error::invalid_arg("--cgroup: sub-cgroups for exec need cgroup v2, which this host does not use")
            .context(ctx()));
    }
    let process = build_process(a, st.config.process().as_ref()).with_context(ctx)?;
    // CVE-2019-5736 with CAP_SYS_PTRACE in the container: start over from a read-only mount
    // of our binary (the state-dir lock is close-on-exec and taken again).
    crate::security::sealed::seal_if(crate::security::sealed::exec_exposed(Pid::from_raw(st.pid), &process))
        .with_context(ctx)?;
    let terminal = process.terminal().unwrap_or(false);
    crate::console::check_terminal_args(terminal, a.console_socket.is_some(), a.detach).with_context(ctx)?;
    if a.apparmor.is_some() || a.process_label.is_some() || process.apparmor_profile().is_some() {
        crate::logging::debug("no AppArmor/SELinux on this host: label requests are skipped");
    }
    let seccomp = st.config.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let cache = cli.root.join(crate::launch::process::SECCOMP_CACHE_DIR);
    let mut pplan =
        ProcessPlan::from_process(&process, &st.rootfs, seccomp, Some(&cache), a.preserve_fds).with_context(ctx)?;
    pplan.attrs =
        crate::launch::attrs::ProcessAttrs::from_spec(&process, st.config.linux().as_ref()).with_context(ctx)?;
    let plan = ExecPlan::new(Pid::from_raw(st.pid), pplan, st.hook_json(Status::Running)).with_context(ctx)?;
    let cgroup = Cgroup::open(&st.cgroup).with_context(ctx)?;
    // The pty: to the caller's socket, or back to us for the foreground proxy.
    let (console, pty_back) = match (&a.console_socket, terminal) {
        (Some(p), _) => (Some(crate::console::connect_console_socket(p).with_context(ctx)?), None),
        (None, true) => {
            let (ours, theirs) = crate::console::console_socketpair().with_context(ctx)?;
            (Some(theirs), Some(ours))
        }
        (None, false) => (None, None),
    };
    let mut mask = SigSet::empty();
    if !a.detach {
        for s in crate::commands::run::FORWARDED {
            mask.add(s);
        }
        mask.add(Signal::SIGCHLD);
        mask.thread_block().context("blocking signals")?;
    }
    let pid = spawn_exec(&plan, &cgroup, console, dir.lock_fd()).with_context(ctx)?;
    crate::fault::point("exec:ready");
    // Don't hold the container's lock while the process runs: kill/delete must get through.
    drop(dir);
    if let Some(p) = &a.pid_file {
        crate::commands::create::write_pid_file(p, pid)?;
    }
    if a.detach {
        return Ok(0);
    }
    let code = match pty_back {
        Some(sock) => {
            let (master, _) = crate::console::recv_pty_master(sock.as_fd())?;
            crate::console::proxy(master, Some(pid))?
        }
        None => {
            let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).context("creating signalfd")?;
            crate::commands::run::wait_child(&sfd, pid)?
        }
    };
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&mask), None);
    Ok(code)
}

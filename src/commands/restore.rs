//! `husk restore [options] ID`: recreate a container from a CRIU checkpoint. As create: the
//! bundle's config is validated, the state directory and the cgroup (with its limits) are made;
//! then CRIU rebuilds the process tree, its namespaces and mounts (the rootfs bound at
//! `<state>/criu-root`, host binds supplied as externals), the restored init placed in the new
//! cgroup (`--cgroup-root`), the prestart/createRuntime hooks run at CRIU's
//! "setup-namespaces" (src/criu/action.rs). The state then records the restored init, so
//! state, exec, kill, pause and delete work as on any container. In the foreground husk waits
//! for the init and deletes the container afterwards (as `run`); with -d it returns at once.
//! Any failure removes everything made: state dir, cgroup, mount, processes.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::Pid;

use crate::cgroups::{Cgroup, CgroupConfig};
use crate::cli::{Cli, RestoreArgs};
use crate::criu::{self, externals, Criu};
use crate::error::{Context, Error, Kind, Result};
use crate::state::{self, State, StateDir, Status};

/// Undo a half-restored container.
struct Cleanup<'a> {
    dir: Option<&'a StateDir>,
    cgroup: Option<&'a Cgroup>,
    mounted: Option<PathBuf>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(m) = self.mounted.take() {
            let _ = umount2(&m, MntFlags::MNT_DETACH);
        }
        if let Some(cg) = self.cgroup {
            // Whatever CRIU left of the tree (it kills its own on failure).
            let _ = cg.kill_all(nix::sys::signal::Signal::SIGKILL);
            for _ in 0..100 {
                if cg.pids().map(|p| p.is_empty()).unwrap_or(true) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let _ = cg.destroy();
        }
        if let Some(d) = self.dir {
            let _ = std::fs::remove_dir_all(d.path());
        }
    }
}

pub fn restore(cli: &Cli, a: &RestoreArgs) -> Result<i32> {
    state::validate_id(&a.id)?;
    let id = a.id.as_str();
    let ctx = || format!("restoring container {id}");
    let bundle = std::fs::canonicalize(&a.bundle)
        .map_err(|e| Error::io(e, format!("bundle {}", a.bundle.display())))
        .with_context(ctx)?;
    let spec = crate::spec::load(&bundle).with_context(ctx)?;
    let root = spec.root().as_ref().map(|r| r.path().clone()).unwrap_or_default();
    let rootfs = std::fs::canonicalize(bundle.join(&root))
        .map_err(|e| Error::io(e, format!("rootfs {}", bundle.join(&root).display())))
        .with_context(ctx)?;
    let linux = spec.linux().as_ref().expect("validated");
    let terminal = spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    crate::console::check_terminal_args(terminal, a.console_socket.is_some(), a.detach).with_context(ctx)?;
    if cli.systemd_cgroup {
        return Err(Error::invalid_arg(
            "--systemd-cgroup: restore places the init with criu's --cgroup-root; a systemd scope needs its first \
             process at creation (use the cgroupfs driver)",
        )
        .context(ctx()));
    }
    let image = criu::image_dir(&a.common).with_context(ctx)?;
    if !image.join("inventory.img").is_file() {
        return Err(Error::new(
            Kind::NotFound,
            format!("no checkpoint in {} (inventory.img missing)", image.display()),
        )
        .context(ctx()));
    }
    let work =
        a.common.work_path.as_deref().map(criu::absolute).transpose().with_context(ctx)?.unwrap_or(image.clone());
    let criu = Criu::probe(cli.criu.as_deref()).with_context(ctx)?;
    // As runc: the work directory is made if missing (a checkpoint may be restored elsewhere).
    criu::make_dir(&work, "work").with_context(ctx)?;
    let cg_cfg = CgroupConfig::resolve(linux.cgroups_path().as_deref(), id, false, false).with_context(ctx)?;
    let binds = externals::bind_mounts(&spec, &bundle, &rootfs, &cg_cfg.fs_path()).with_context(ctx)?;
    let any_masked = linux.masked_paths().as_ref().is_some_and(|m| !m.is_empty());
    let descriptors = externals::read_descriptors(&image).with_context(ctx)?;
    let namespaces = externals::open_joined_ns(&spec).with_context(ctx)?;
    // A terminal: a new pty pair (from the host's devpts); its slave stands in for the dumped
    // console (an inherited fd for the external tty, and the source of /dev/console); the master
    // goes to the console socket (-d) or is proxied to our stdio, as for run.
    let console = if terminal {
        let key = externals::read_tty_key(&image).with_context(ctx)?;
        let sock =
            a.console_socket.as_deref().map(crate::console::connect_console_socket).transpose().with_context(ctx)?;
        let pty = crate::console::open_pty(None).with_context(ctx)?;
        crate::sys::process::clear_cloexec(std::os::fd::AsRawFd::as_raw_fd(&pty.slave))
            .map_err(|e| Error::sys(e, "passing the new pty's slave to criu"))
            .with_context(ctx)?;
        Some((key, sock, pty))
    } else {
        None
    };
    let mut args: Vec<OsString> = vec!["restore".into()];
    args.extend(["-D".into(), image.clone().into(), "-W".into(), work.clone().into()]);
    args.extend(["-o".into(), "restore.log".into(), "-v4".into()]);
    criu::common_args(&a.common, &mut args).with_context(ctx)?;
    // The init becomes our child (a sibling of criu), criu exits once the tree runs.
    args.extend(["--restore-detached".into(), "--restore-sibling".into(), "--evasive-devices".into()]);
    criu::external_args(&externals::restore_externals(&binds, any_masked), &mut args);
    for (fd, key) in externals::inherited_pipes(&descriptors) {
        args.extend(["--inherit-fd".into(), format!("fd[{fd}]:{key}").into()]);
    }
    for (fd, key) in &namespaces {
        args.extend(["--inherit-fd".into(), format!("fd[{}]:{key}", std::os::fd::AsRawFd::as_raw_fd(fd)).into()]);
    }
    if let Some((key, _, pty)) = &console {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&pty.slave);
        args.extend(["--inherit-fd".into(), format!("fd[{fd}]:{key}").into()]);
        args.extend(["--external".into(), format!("mnt[{}]:{}", externals::CONSOLE, pty.name).into()]);
    }
    args.push("--cgroup-root".into());
    args.push(cg_cfg.path.clone().into());
    for (ctrl, path) in &cg_cfg.per_hierarchy {
        if !ctrl.is_empty() {
            args.extend(["--cgroup-root".into(), format!("{ctrl}:{path}").into()]);
        }
    }
    if let Some(p) = &a.lsm_profile {
        args.extend(["--lsm-profile".into(), p.into()]);
    }
    if let Some(p) = &a.lsm_mount_context {
        args.extend(["--lsm-mount-context".into(), p.into()]);
    }
    let hooks = spec.hooks().as_ref().is_some_and(|h| {
        h.prestart().as_ref().is_some_and(|v| !v.is_empty())
            || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    });

    let cgroup = Cgroup::open(&cg_cfg).and_then(|c| c.with_devices_of(linux)).with_context(ctx)?;
    // A container this id's checkpoint stopped is replaced (runc has deleted it by then).
    replace_checkpointed(cli, id).with_context(ctx)?;
    // From here on the system changes: everything is undone on error.
    let dir = StateDir::create(&cli.root, id)?;
    let mut cleanup = Cleanup { dir: Some(&dir), cgroup: None, mounted: None };
    let own_pid_ns =
        spec.linux().as_ref().and_then(|l| l.namespaces().as_ref()).is_some_and(|n| {
            n.iter().any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && n.path().is_none())
        });
    let mut st = State::new_record(&spec, id, &bundle, &rootfs, &cg_cfg, own_pid_ns);
    dir.save(&st).with_context(ctx)?;
    cgroup
        .create(linux.resources().as_ref())
        .with_context(|| format!("{}: setting up cgroup {}", ctx(), cg_cfg.path))?;
    cleanup.cgroup = Some(&cgroup);
    cgroup.apply_device_filter().with_context(ctx)?;
    // CRIU wants the root to be a mount point whose parent is not overmounted (runc's way).
    let criu_root = dir.path().join("criu-root");
    std::fs::create_dir(&criu_root)
        .map_err(|e| Error::io(e, format!("creating {}", criu_root.display())))
        .with_context(ctx)?;
    mount(Some(&rootfs), &criu_root, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| Error::sys(e, format!("binding rootfs {} at {}", rootfs.display(), criu_root.display())))
        .with_context(ctx)?;
    cleanup.mounted = Some(criu_root.clone());
    // The bind mount points a fresh rootfs may lack (runc 1.1.5 fails there: "Can't stat mountpoint").
    externals::make_mountpoints(&rootfs, &binds).with_context(ctx)?;
    let pidfile = dir.path().join("restore.pid");
    args.extend(["--root".into(), criu_root.clone().into(), "--pidfile".into(), pidfile.clone().into()]);
    let mut env: Vec<(&str, OsString)> = Vec::new();
    if hooks {
        let exe = std::env::current_exe().map_err(|e| Error::io(e, "finding husk's own binary")).with_context(ctx)?;
        args.extend(["--action-script".into(), exe.into()]);
        env.push((criu::action::ENV_STATE_DIR, dir.path().as_os_str().to_owned()));
    }
    if !a.detach {
        // The restored init is reparented to us if criu's sibling trick is not used.
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
    criu.run("restore", &args, &env, &work.join("restore.log"), &cgroup.procs_files()).with_context(ctx)?;
    drop(namespaces);
    let (master, sock) = match console {
        Some((_, sock, pty)) => (Some((pty.master, pty.name)), sock),
        None => (None, None),
    };
    let pid = read_pid(&pidfile).with_context(ctx)?;
    adopt_tree(&cgroup, pid, &cg_cfg.fs_path()).with_context(ctx)?;
    let (_, start) = state::proc_start_time(pid)
        .ok_or_else(|| Error::new(Kind::System, format!("{}: restored init {pid} vanished", ctx())))?;
    st.pid = pid.as_raw();
    st.init_start_time = start;
    st.created = crate::logging::rfc3339_now();
    dir.save(&st).with_context(ctx)?;
    if let Some(p) = &a.pid_file {
        crate::commands::create::write_pid_file(p, pid).with_context(ctx)?;
    }
    let _ = std::fs::remove_file(&pidfile);
    // The restored mount namespace holds its own copy; the host's bind can go.
    if let Some(m) = cleanup.mounted.take() {
        let _ = umount2(&m, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&m);
    }
    cleanup.cgroup = None;
    cleanup.dir = None;
    drop(cleanup);
    if a.detach {
        if let (Some((m, name)), Some(sock)) = (&master, &sock) {
            use std::os::fd::AsFd;
            crate::console::send_pty_master(sock.as_fd(), m.as_fd(), name)
                .with_context(|| format!("{}: sending the pty master to the console socket", ctx()))?;
        }
        return Ok(0);
    }
    drop(dir);
    let mask = crate::commands::run::block_forwarded()?;
    let code = crate::commands::run::wait_foreground(mask, pid, master.map(|(m, _)| m))?;
    match StateDir::open(&cli.root, id) {
        Ok(dir) => {
            crate::commands::delete::destroy(&st, Status::Stopped)
                .with_context(|| format!("deleting container {id}"))?;
            dir.remove()?;
        }
        Err(e) if e.kind() == Kind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(code)
}

/// Remove a container of this id that `checkpoint` stopped (marked so); any other existing
/// container stays, and StateDir::create then refuses the id.
fn replace_checkpointed(cli: &Cli, id: &str) -> Result<()> {
    let dir = match StateDir::open(&cli.root, id) {
        Ok(d) => d,
        Err(e) if e.kind() == Kind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !dir.path().join(crate::commands::checkpoint::CHECKPOINTED).exists() {
        return Ok(());
    }
    let old = dir.load()?;
    if old.status(dir.path()) != Status::Stopped {
        return Ok(());
    }
    crate::commands::delete::destroy(&old, Status::Stopped)
        .with_context(|| format!("removing the checkpointed container {id}"))?;
    dir.remove()
}

/// Make sure the whole restored tree is in the container's cgroup. CRIU restores tasks into
/// the cgroup paths recorded at dump time unless it rewrites them (--cgroup-root); should a task
/// sit elsewhere (seen with runc 1.1.5 + CRIU 3.17.1 on cgroup v2: a restore under a new id
/// stays in the dumped container's cgroup), it is moved here, and the cgroup v2 directory CRIU
/// made for it is removed once empty.
fn adopt_tree(cgroup: &Cgroup, init: Pid, path: &str) -> Result<()> {
    let mut todo = vec![init];
    let mut tree = Vec::new();
    while let Some(p) = todo.pop() {
        tree.push(p);
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else { continue };
        for t in tasks.flatten() {
            let children = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            todo.extend(children.split_whitespace().filter_map(|c| c.parse().ok()).map(Pid::from_raw));
        }
    }
    let mut strays = Vec::new();
    for p in tree {
        let text = std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap_or_default();
        let v2 = text.lines().find_map(|l| l.strip_prefix("0::")).map(str::to_string);
        let elsewhere = match &v2 {
            Some(at) if crate::cgroups::is_cgroup2_root().unwrap_or(false) => at != path,
            _ => !text.lines().filter(|l| !l.starts_with("0::")).all(|l| l.ends_with(&format!(":{path}"))),
        };
        if elsewhere {
            crate::logging::debug(&format!("restored process {p} is outside cgroup {path}: moving it"));
            cgroup.add_task(p)?;
            strays.extend(v2);
        }
    }
    strays.sort();
    strays.dedup();
    for s in strays.iter().filter(|s| s.as_str() != "/") {
        let _ = std::fs::remove_dir(Path::new(crate::cgroups::CGROUP_ROOT).join(s.trim_start_matches('/')));
    }
    Ok(())
}

fn read_pid(p: &Path) -> Result<Pid> {
    let text =
        std::fs::read_to_string(p).map_err(|e| Error::io(e, format!("reading criu's pid file {}", p.display())))?;
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|&n| n > 0)
        .map(Pid::from_raw)
        .ok_or_else(|| Error::new(Kind::System, format!("criu's pid file {} holds {:?}", p.display(), text.trim())))
}

//! `husk create`: validate everything, then state dir, cgroup, fifo, fork; returns when the
//! init is fully set up and blocked until `start`. Any failure removes all it made.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use crate::cgroups::{Cgroup, CgroupConfig};
use crate::cli::{Cli, CreateArgs};
use crate::error::{Context, Error, Kind, Result};
use crate::launch::{self, InitPlan, PlanInput, SpawnHooks};
use crate::state::{self, State, StateDir};
use crate::sys::fs::own_fd;

/// A created container, still locked.
pub struct Created {
    pub dir: StateDir,
    pub state: State,
    pub cgroup: Cgroup,
}

/// Undo a half-made container on any error: kill the init, remove cgroup and state dir.
struct Cleanup<'a> {
    dir: Option<&'a StateDir>,
    cgroup: Option<&'a Cgroup>,
    init: Option<Pid>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(pid) = self.init {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        if let Some(cg) = self.cgroup {
            let _ = cg.destroy();
        }
        if let Some(d) = self.dir {
            let _ = std::fs::remove_dir_all(d.path());
        }
    }
}

pub fn create(cli: &Cli, a: &CreateArgs) -> Result<()> {
    create_container(cli, a, true, None).map(|_| ())
}

fn canonical(p: &Path, what: &str) -> Result<PathBuf> {
    std::fs::canonicalize(p).map_err(|e| Error::io(e, format!("{what} {}", p.display())))
}

/// `detached`: the caller will not stay around (create, run -d): a terminal then needs a
/// console socket. `console`: for a foreground `run -t`, our end-to-be of the pty socket.
pub fn create_container(cli: &Cli, a: &CreateArgs, detached: bool, console: Option<OwnedFd>) -> Result<Created> {
    let mut poststop = None;
    let r = create_inner(cli, a, detached, console, &mut poststop);
    // A failure once the create-time hooks got to run: the container is destroyed by now
    // (lifecycle step 12); the poststop hooks run, as after `delete` (step 13).
    if let (Err(_), Some((hooks, json))) = (&r, poststop) {
        crate::hooks::run_hooks_warn(&a.id, "poststop", &hooks, &json);
    }
    r
}

/// The poststop hooks and their state, once prestart/createRuntime hooks started.
type Poststop = Option<(Vec<oci_spec::runtime::Hook>, Vec<u8>)>;

fn create_inner(
    cli: &Cli,
    a: &CreateArgs,
    detached: bool,
    console: Option<OwnedFd>,
    poststop: &mut Poststop,
) -> Result<Created> {
    let mut ph = crate::logging::Phases::start("create");
    state::validate_id(&a.id)?;
    let id = a.id.as_str();
    let ctx = || format!("creating container {id}");
    let bundle = canonical(&a.bundle, "bundle").with_context(ctx)?;
    let spec = crate::spec::load(&bundle).with_context(ctx)?;
    // CVE-2019-5736: the init will run our code in a pid namespace shared with processes that
    // may hold CAP_SYS_PTRACE: start over from a read-only mount of our binary.
    crate::security::sealed::seal_if(crate::security::sealed::create_exposed(&spec)).with_context(ctx)?;
    let root = spec.root().as_ref().map(|r| r.path().clone()).unwrap_or_default();
    let rootfs = canonical(&bundle.join(root), "rootfs").with_context(ctx)?;
    if !rootfs.is_dir() {
        return Err(Error::invalid_spec(format!("rootfs {} is not a directory", rootfs.display())).context(ctx()));
    }
    let process = spec.process().as_ref().expect("validated");
    let terminal = process.terminal().unwrap_or(false);
    crate::console::check_terminal_args(terminal, a.console_socket.is_some(), detached).with_context(ctx)?;
    let linux = spec.linux().as_ref().expect("validated");
    ph.mark("config");
    // Rootless: no device filter (a cgroup v2 eBPF program needs CAP_SYS_ADMIN on the host; runc
    // ignores device errors rootless too: the kernel already keeps the user from other devices),
    // and with --systemd-cgroup the user's own systemd manager.
    let rootless = crate::cgroups::rootless::enabled(cli.rootless, cli.systemd_cgroup);
    let cg_cfg =
        CgroupConfig::resolve(linux.cgroups_path().as_deref(), id, cli.systemd_cgroup, rootless).with_context(ctx)?;
    let mut cgroup = Cgroup::open(&cg_cfg)
        .and_then(|c| if rootless { Ok(c) } else { c.with_devices_of(linux) })
        .with_context(ctx)?;
    let mut plan = InitPlan::from_spec(PlanInput {
        spec: &spec,
        bundle: &bundle,
        rootfs: rootfs.clone(),
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
        cgroup_path: &cg_cfg.fs_path(),
        id,
        no_new_keyring: a.no_new_keyring,
        state_root: &cli.root,
    })
    .with_context(ctx)?;
    ph.mark("plan");
    plan.reparent_to_caller = detached;
    plan.cgroup_made_at_join = cg_cfg.systemd;

    // From here on we change the system: everything is undone on error.
    let dir = StateDir::create(&cli.root, id)?;
    crate::fault::point("create:state-dir");
    let mut cleanup = Cleanup { dir: Some(&dir), cgroup: None, init: None };
    let mut st = State::new_record(&spec, id, &bundle, &rootfs, &cg_cfg, plan.ns.own_pid_ns);
    // Saved before anything else exists, so `delete --force` can clean up after a crash.
    dir.save(&st).with_context(ctx)?;
    ph.mark("state-dir");
    crate::fault::point("create:first-state");
    if rootless {
        let explicit = linux.cgroups_path().as_ref().is_some_and(|p| !p.as_os_str().is_empty());
        // Device rules are not applied rootless (see above), on v1 either.
        let resources = linux.resources().clone().map(|mut r| {
            r.set_devices(None);
            r
        });
        if cgroup
            .create_rootless(resources.as_ref(), explicit)
            .with_context(|| format!("{}: setting up cgroup {}", ctx(), cg_cfg.path))?
        {
            st.cgroup = cgroup.config().clone();
        }
    } else {
        cgroup
            .create(linux.resources().as_ref())
            .with_context(|| format!("{}: setting up cgroup {}", ctx(), cg_cfg.path))?;
    }
    ph.mark("cgroup");
    cleanup.cgroup = Some(&cgroup);
    crate::fault::point("create:cgroup");
    let fifo = Some(make_fifo(&dir.fifo_path()).with_context(ctx)?);
    crate::fault::point("create:fifo");
    // systemd's NOTIFY_SOCKET: our socket's directory goes into the container (src/notify.rs).
    if crate::notify::host_socket().is_some() {
        let index = spec.mounts().as_ref().map_or(0, |m| m.len());
        let (mount, env) = crate::notify::prepare(dir.path(), index).with_context(ctx)?;
        plan.rootfs.mounts.push(mount);
        plan.process.env.push(env);
    }
    let console = match (&a.console_socket, console) {
        (Some(p), _) => Some(crate::console::connect_console_socket(p).with_context(ctx)?),
        (None, Some(fd)) if terminal => Some(fd),
        _ => None,
    };
    plan.hook_state = st.hook_state();
    let mut hooks = RuntimeHooks { state: &st, poststop };
    let pid = launch::spawn(&plan, &cgroup, fifo, console, dir.lock_fd(), &mut hooks).with_context(ctx)?;
    cleanup.init = Some(pid);
    cgroup.apply_device_filter().with_context(ctx)?;
    ph.mark("spawn");
    crate::fault::point("create:ready");
    let (_, start) = state::proc_start_time(pid)
        .ok_or_else(|| Error::new(Kind::System, format!("{}: init {pid} vanished", ctx())))?;
    if st.cgroup.rootless_none.is_some() {
        st.cgroup.rootless_none = Some(pid.as_raw());
    }
    if let Some(scope) = cgroup.placed_scope(pid).with_context(ctx)? {
        st.cgroup.scope = Some(scope);
    }
    st.pid = pid.as_raw();
    st.init_start_time = start;
    st.init_comm = Some(state::INIT_COMM.to_string());
    dir.save(&st).with_context(ctx)?;
    crate::fault::point("create:saved");
    if let Some(p) = &a.pid_file {
        write_pid_file(p, pid).with_context(ctx)?;
    }
    ph.mark("save-state");
    cleanup.init = None;
    cleanup.cgroup = None;
    cleanup.dir = None;
    drop(cleanup);
    Ok(Created { dir, state: st, cgroup })
}

struct RuntimeHooks<'a> {
    state: &'a State,
    poststop: &'a mut Poststop,
}

impl SpawnHooks for RuntimeHooks<'_> {
    fn run_runtime_hooks(&mut self, pid: Pid) -> Result<()> {
        let mut st = self.state.clone();
        if st.cgroup.rootless_none.is_some() {
            st.cgroup.rootless_none = Some(pid.as_raw());
        }
        st.pid = pid.as_raw();
        if let Some(linux) = st.config.linux().as_ref() {
            if let Some(devs) = linux.net_devices() {
                crate::netdev::move_devices(devs, pid)?;
            }
            if let Some(rdt) = linux.intel_rdt() {
                crate::resctrl::apply(rdt, &st.id, pid)?;
            }
        }
        if let Some(h) = st.config.hooks().as_ref() {
            *self.poststop = Some((h.poststop().clone().unwrap_or_default(), st.hook_json(state::Status::Stopped)));
            // prestart (deprecated): "created", as the conformance suite (runtime-tools
            // hooks_stdin) and crun have it; runc 1.1.5 says "creating".
            if let Some(prestart) = h.prestart().as_deref().filter(|l| !l.is_empty()) {
                crate::hooks::run_hooks("prestart", prestart, &st.hook_json(state::Status::Created))?;
            }
            let json = st.hook_json(state::Status::Creating);
            crate::hooks::run_hooks("createRuntime", h.create_runtime().as_deref().unwrap_or_default(), &json)?;
        }
        Ok(())
    }

    fn state_json(&self, pid: Pid) -> Vec<u8> {
        let mut st = self.state.clone();
        if st.cgroup.rootless_none.is_some() {
            st.cgroup.rootless_none = Some(pid.as_raw());
        }
        st.pid = pid.as_raw();
        st.hook_json(state::Status::Creating)
    }
}

fn make_fifo(path: &Path) -> Result<OwnedFd> {
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600))
        .with_context(|| format!("creating exec fifo {}", path.display()))?;
    // Opened here, read side, non-blocking (no writer yet); the init inherits it.
    let fd = nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, Mode::empty())
        .with_context(|| format!("opening exec fifo {}", path.display()))?;
    Ok(own_fd(fd))
}

/// The pid file, written atomically like runc (conmon and the shim read it as soon as
/// `create` returns).
pub fn write_pid_file(p: &Path, pid: Pid) -> Result<()> {
    let abs = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().map_err(Error::from)?.join(p) };
    state::write_atomic(&abs, pid.to_string().as_bytes()).with_context(|| format!("writing pid file {}", p.display()))
}

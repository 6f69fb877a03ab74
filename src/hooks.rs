//! OCI lifecycle hooks: run one hook with the state on stdin, its env, and a timeout.
//!
//! A hook is exec'd with argv = `args` as given (`argv[0]` included; `path` alone when `args` is
//! absent), an environment of exactly `env`, the container state JSON on stdin and its stdout
//! and stderr captured (kept for the error message). It runs in its own process group so a
//! timeout kills it and whatever it started. The hooks the init runs get a [`Ctx`], as runc
//! gives them: without `env`, the container process's environment (`env` given: only that);
//! createContainer's working directory is the container's root filesystem (hooks that patch
//! the rootfs with relative paths rely on it).
//!
//! This module runs in two kinds of process: the runtime itself (createRuntime, poststart,
//! poststop, prestart) and the container init between fork and exec (createContainer,
//! startContainer). So it uses no threads: one poll loop writes stdin, reads stdout/stderr
//! and watches a pidfd of the hook (or polls `waitpid` every few ms on kernels without
//! pidfd), all on the calling thread.
//!
//! Where each list runs (runtime-spec runtime.md "Lifecycle", config.md "POSIX-platform
//! Hooks"), and the state status the stdin JSON should carry:
//!
//! | list              | process / namespace            | when                                              | status     |
//! |-------------------|--------------------------------|---------------------------------------------------|------------|
//! | `prestart`        | runtime (parent), runtime ns   | `create`, after the init's mounts, before pivot_root (as runc) | `created` (1) |
//! | `createRuntime`   | runtime (parent), runtime ns   | `create`, right after prestart                    | `creating` |
//! | `createContainer` | container init, container ns   | `create`, after createRuntime, before pivot_root  | `creating` |
//! | `startContainer`  | container init, container ns   | `start`, right before exec of the program         | `created`  |
//! | `poststart`       | runtime, runtime ns            | `start`, once the program was exec'd, before it returns | `running` |
//! | `poststop`        | runtime, runtime ns            | `delete` (or a failed create), after the container is destroyed | `stopped`  |
//!
//! (1) runc 1.1.5 says `creating`; the conformance suite (runtime-tools `hooks_stdin`) and crun
//! give the deprecated prestart hooks `created`, and so does husk.
//!
//! A failing prestart/createRuntime/createContainer hook fails `create` (the runtime destroys
//! the container, then runs the poststop hooks); a failing startContainer hook fails `start`
//! (the init dies before exec and `start` reports its error). A failing poststart or poststop
//! hook is only a warning and the later hooks of its list still run: [`run_hooks_warn`].
//!
//! The caller must not reap children with `waitpid(-1)` or leave SIGCHLD at SIG_IGN while a
//! hook runs: either would take the hook's exit status away from us.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::Hook;

use crate::error::{Context, Error, Kind, Result};
use crate::sys;

/// Bytes of each of stdout and stderr kept (the tail); the rest is read and dropped so a
/// chatty hook never blocks on a full pipe.
const OUTPUT_KEEP: usize = 64 * 1024;
/// Bytes of stderr quoted in an error message (the tail, where the reason usually is).
const MESSAGE_KEEP: usize = 2048;
/// How often to check on the hook when no pidfd is available.
const WAIT_POLL: Duration = Duration::from_millis(10);

/// What a hook gets besides its own fields, for the hooks the init runs in the container's
/// namespaces. The default (runtime hooks): an empty environment without `env`, the runtime's
/// working directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ctx<'a> {
    /// The environment of a hook that has no `env` (an `env` of `[]` stays empty).
    pub default_env: Option<&'a [std::ffi::CString]>,
    /// The hook's working directory.
    pub cwd: Option<&'a Path>,
}

/// What a finished hook left behind.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// The tail (up to 64 KiB) of what it wrote to stdout.
    pub stdout: Vec<u8>,
    /// The tail (up to 64 KiB) of what it wrote to stderr.
    pub stderr: Vec<u8>,
}

/// Run one hook: exec `hook.path` with argv = `hook.args` (`argv[0]` as given; `[path]` when
/// absent), environment exactly `hook.env`, `state_json` on stdin, stdout and stderr captured.
/// Fails if it cannot start, exits non-zero, dies of a signal, or outlives `hook.timeout`
/// seconds (then it and its process group are killed with SIGKILL and reaped first).
/// The error reads `exit status 3: <stderr tail>`; [`run_hooks`] puts the hook's name in front.
pub fn run_hook(hook: &Hook, state_json: &[u8]) -> Result<()> {
    run_hook_in(hook, state_json, Ctx::default())
}

/// [`run_hook`] with the environment and working directory of `ctx`.
pub fn run_hook_in(hook: &Hook, state_json: &[u8], ctx: Ctx) -> Result<()> {
    let done = run_hook_output_in(hook, state_json, ctx)?;
    if done.status.success() {
        return Ok(());
    }
    let mut msg = describe_status(done.status);
    let (label, text) = if done.stderr.iter().any(|b| !b.is_ascii_whitespace()) {
        ("", &done.stderr)
    } else {
        ("stdout: ", &done.stdout)
    };
    let text = quote_tail(text);
    if !text.is_empty() {
        msg = format!("{msg}: {label}{text}");
    }
    Err(Error::new(Kind::System, msg))
}

/// Run a list of hooks in order, stopping at the first failure. `kind` names the list as the
/// spec does ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
/// "poststop"); errors read `running createRuntime hook #1 (/usr/bin/foo): exit status 3:
/// <stderr>`, where #N is the hook's 0-based index in config.json's array (as runc counts).
pub fn run_hooks(kind: &str, hooks: &[Hook], state_json: &[u8]) -> Result<()> {
    run_hooks_in(kind, hooks, state_json, Ctx::default())
}

/// [`run_hooks`] with the environment and working directory of `ctx` (the init's hooks).
pub fn run_hooks_in(kind: &str, hooks: &[Hook], state_json: &[u8], ctx: Ctx) -> Result<()> {
    for (i, hook) in hooks.iter().enumerate() {
        run_hook_in(hook, state_json, ctx)
            .with_context(|| format!("running {kind} hook #{i} ({})", hook.path().display()))?;
    }
    Ok(())
}

/// Run every hook of a list whose failures are only warnings (poststart, poststop: runtime.md
/// "Lifecycle" steps 9 and 13): a failing hook does not keep the ones after it from running.
/// Returns the errors, in order, worded as [`run_hooks`] words them.
pub fn run_hooks_all(kind: &str, hooks: &[Hook], state_json: &[u8]) -> Vec<Error> {
    hooks
        .iter()
        .enumerate()
        .filter_map(|(i, hook)| {
            run_hook(hook, state_json)
                .with_context(|| format!("running {kind} hook #{i} ({})", hook.path().display()))
                .err()
        })
        .collect()
}

/// [`run_hooks_all`], each failure logged as a warning about container `id`.
pub fn run_hooks_warn(id: &str, kind: &str, hooks: &[Hook], state_json: &[u8]) {
    for e in run_hooks_all(kind, hooks, state_json) {
        crate::logging::warn(&format!("container {id}: {e}"));
    }
}

/// [`run_hook`] without judging the exit status: returns how the hook ended and its output.
/// Still an error when it cannot be started or runs into its timeout.
pub fn run_hook_output(hook: &Hook, state_json: &[u8]) -> Result<Finished> {
    run_hook_output_in(hook, state_json, Ctx::default())
}

/// [`run_hook_output`] with the environment and working directory of `ctx`.
pub fn run_hook_output_in(hook: &Hook, state_json: &[u8], ctx: Ctx) -> Result<Finished> {
    let path = hook.path();
    if !path.is_absolute() {
        return Err(Error::invalid_spec(format!("hook path {} is not absolute", path.display())));
    }
    let timeout = match hook.timeout() {
        Some(t) if t <= 0 => return Err(Error::invalid_spec(format!("hook timeout {t} is not greater than zero"))),
        Some(t) => Some(Duration::from_secs(t as u64)),
        None => None,
    };

    let mut cmd = Command::new(path);
    let argv: Vec<&[u8]> = match hook.args().as_deref() {
        Some(args) if !args.is_empty() => args.iter().map(|a| a.as_bytes()).collect(),
        _ => vec![path.as_os_str().as_bytes()],
    };
    let mut envp: Vec<&[u8]> = Vec::new();
    match (hook.env().as_deref(), ctx.default_env) {
        (None, Some(default)) => envp.extend(default.iter().map(|e| e.as_bytes())),
        (env, _) => {
            for entry in env.unwrap_or_default() {
                match entry.split_once('=') {
                    Some((key, _)) if !key.is_empty() => envp.push(entry.as_bytes()),
                    _ => {
                        return Err(Error::invalid_spec(format!(
                            "hook env entry {entry:?} is not of the form KEY=VALUE"
                        )))
                    }
                }
            }
        }
    }
    cmd.env_clear();
    if let Some(dir) = ctx.cwd {
        cmd.current_dir(dir);
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // Own process group: a timeout kills the hook and everything it started.
    cmd.process_group(0);
    sys::process::clean_exec_in_child(&mut cmd);
    // Exec with argv and env exactly as listed (std's Command would sort the environment and
    // drop duplicate keys): std sets up stdio and the process group, then this execve runs.
    sys::process::exec_in_child(&mut cmd, path.as_os_str().as_bytes(), &argv, &envp)
        .map_err(|_| Error::invalid_spec("hook path, args or env contains a NUL byte"))?;

    // Block SIGPIPE on this thread while we feed stdin, so a hook that exits without reading
    // costs us an EPIPE and not our life, whatever the process's SIGPIPE disposition is. std
    // clears the signal mask in the child, so the hook itself is not affected.
    let mut pipe_set = SigSet::empty();
    pipe_set.add(Signal::SIGPIPE);
    let mut old_mask = SigSet::empty();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&pipe_set), Some(&mut old_mask)).context("blocking SIGPIPE")?;
    let result = spawn_and_wait(&mut cmd, state_json, timeout);
    if !old_mask.contains(Signal::SIGPIPE) {
        sys::process::consume_pending_signal(Signal::SIGPIPE);
    }
    pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None).context("restoring the signal mask")?;
    result
}

/// Run a helper program that is not a hook (`criu --version`, `criu check`) with no input,
/// collecting its output as for a hook: killed, with everything it started, after `timeout`.
pub fn output_within(cmd: &mut Command, timeout: Duration) -> Result<Finished> {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.process_group(0);
    spawn_and_wait(cmd, &[], Some(timeout))
}

fn spawn_and_wait(cmd: &mut Command, input: &[u8], timeout: Option<Duration>) -> Result<Finished> {
    let mut child = cmd.spawn().map_err(|e| match cmd.get_current_dir() {
        Some(dir) => Error::io(e, format!("starting the hook process in {}", dir.display())),
        None => Error::io(e, "starting the hook process"),
    })?;
    let pid = Pid::from_raw(child.id() as i32);
    let deadline = timeout.map(|t| Instant::now() + t);

    let mut io = match HookIo::new(&mut child) {
        Ok(io) => io,
        Err(e) => {
            kill_and_reap(&mut child, pid);
            return Err(e);
        }
    };
    // Without a pidfd (kernels before 5.3) we fall back to checking every WAIT_POLL.
    let pidfd = sys::process::pidfd_open(pid).ok();

    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                kill_and_reap(&mut child, pid);
                return Err(Error::io(e, "waiting for the hook process"));
            }
        }
        let now = Instant::now();
        let mut wait = match deadline {
            Some(d) if now >= d => {
                kill_and_reap(&mut child, pid);
                return Err(Error::new(
                    Kind::System,
                    format!("timed out after {}s, killed it", timeout.unwrap_or_default().as_secs()),
                ));
            }
            Some(d) => Some(d - now),
            None => None,
        };
        if pidfd.is_none() {
            wait = Some(wait.map_or(WAIT_POLL, |w| w.min(WAIT_POLL)));
        }
        if let Err(e) = io.poll_once(input, pidfd.as_ref().map(|f| f.as_fd()), wait) {
            kill_and_reap(&mut child, pid);
            return Err(e);
        }
    };
    // The hook is gone; take what its pipes still hold. Something it left running may keep
    // them open, so read only what is there now and do not wait for end-of-file.
    io.drain();
    Ok(Finished { status, stdout: io.stdout.buf, stderr: io.stderr.buf })
}

/// SIGKILL the hook's process group (the hook leads it) and reap the hook.
fn kill_and_reap(child: &mut Child, pid: Pid) {
    let _ = killpg(pid, Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

struct Output {
    fd: Option<OwnedFd>,
    buf: Vec<u8>,
}

impl Output {
    /// Read what is available; drop the fd at end-of-file or on an error.
    fn read_available(&mut self) {
        let Some(fd) = &self.fd else { return };
        let mut chunk = [0u8; 8192];
        loop {
            match nix::unistd::read(fd.as_raw_fd(), &mut chunk) {
                Ok(0) => {
                    self.fd = None;
                    return;
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    if self.buf.len() > 2 * OUTPUT_KEEP {
                        let cut = self.buf.len() - OUTPUT_KEEP;
                        self.buf.drain(..cut);
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    self.fd = None;
                    return;
                }
            }
        }
    }

    fn finish(&mut self) {
        if self.buf.len() > OUTPUT_KEEP {
            let cut = self.buf.len() - OUTPUT_KEEP;
            self.buf.drain(..cut);
        }
    }
}

/// Our ends of the hook's stdio pipes, all non-blocking and CLOEXEC.
struct HookIo {
    stdin: Option<OwnedFd>,
    written: usize,
    stdout: Output,
    stderr: Output,
}

impl HookIo {
    fn new(child: &mut Child) -> Result<HookIo> {
        let stdin: Option<OwnedFd> = child.stdin.take().map(OwnedFd::from);
        let stdout: Option<OwnedFd> = child.stdout.take().map(OwnedFd::from);
        let stderr: Option<OwnedFd> = child.stderr.take().map(OwnedFd::from);
        for fd in [&stdin, &stdout, &stderr].into_iter().flatten() {
            set_nonblocking(fd.as_fd())?;
        }
        Ok(HookIo {
            stdin,
            written: 0,
            stdout: Output { fd: stdout, buf: Vec::new() },
            stderr: Output { fd: stderr, buf: Vec::new() },
        })
    }

    /// One poll round over stdin (while there is state left to write), stdout, stderr and the
    /// pidfd; returns after handling whatever became ready or after `wait`.
    fn poll_once(&mut self, input: &[u8], pidfd: Option<BorrowedFd>, wait: Option<Duration>) -> Result<()> {
        if self.stdin.is_some() && self.written >= input.len() {
            self.stdin = None; // all written: close it so the hook sees end-of-file
        }
        let timeout = match wait {
            // Round up so we do not spin just short of the deadline.
            Some(w) => PollTimeout::try_from(w.as_millis().saturating_add(1).min(i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX),
            None => PollTimeout::NONE,
        };
        let (stdin_ready, stdout_ready, stderr_ready) = {
            let mut fds = Vec::with_capacity(4);
            let mut slots = [None; 3];
            if let Some(fd) = &self.stdin {
                slots[0] = Some(fds.len());
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLOUT));
            }
            if let Some(fd) = &self.stdout.fd {
                slots[1] = Some(fds.len());
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
            if let Some(fd) = &self.stderr.fd {
                slots[2] = Some(fds.len());
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
            if let Some(fd) = pidfd {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(Error::sys(e, "polling the hook's pipes")),
            }
            let ready = |slot: Option<usize>| slot.and_then(|i| fds[i].revents()).is_some_and(|r| !r.is_empty());
            (ready(slots[0]), ready(slots[1]), ready(slots[2]))
        };
        if stdin_ready {
            self.write_input(input);
        }
        if stdout_ready {
            self.stdout.read_available();
        }
        if stderr_ready {
            self.stderr.read_available();
        }
        Ok(())
    }

    fn write_input(&mut self, input: &[u8]) {
        let Some(fd) = &self.stdin else { return };
        while self.written < input.len() {
            match nix::unistd::write(fd, &input[self.written..]) {
                Ok(n) => self.written += n,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return,
                // EPIPE: the hook does not read its stdin (or stopped); that is its business.
                Err(_) => {
                    self.stdin = None;
                    return;
                }
            }
        }
        self.stdin = None;
    }

    fn drain(&mut self) {
        self.stdin = None;
        self.stdout.read_available();
        self.stderr.read_available();
        self.stdout.finish();
        self.stderr.finish();
    }
}

fn set_nonblocking(fd: BorrowedFd) -> Result<()> {
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).context("getting pipe flags")?;
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags)).context("making a pipe non-blocking")?;
    Ok(())
}

/// `exit status 3`, `killed by signal 9 (SIGKILL)`.
pub fn describe_status(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(sig) => match Signal::try_from(sig) {
            Ok(s) => format!("killed by signal {sig} ({})", s.as_str()),
            Err(_) => format!("killed by signal {sig}"),
        },
        None => format!("ended with wait status {}", status.into_raw()),
    }
}

/// The trimmed tail of `bytes` as text, at most MESSAGE_KEEP bytes, "..." marking a cut.
fn quote_tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.len() <= MESSAGE_KEEP {
        return text.to_string();
    }
    let mut start = text.len() - MESSAGE_KEEP;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A scratch directory removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("husk-hooks-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn hook(v: serde_json::Value) -> Hook {
        serde_json::from_value(v).unwrap()
    }

    /// `/bin/sh -c SCRIPT` with argv[0] "sh".
    fn sh(script: &str) -> Hook {
        hook(serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", script]}))
    }

    const STATE: &[u8] = br#"{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":42,"bundle":"/b"}"#;

    fn pid_from(path: &Path) -> Pid {
        Pid::from_raw(std::fs::read_to_string(path).unwrap().trim().parse().unwrap())
    }

    /// Whether `pid` is still a live (not zombie) process, after giving a reaper a moment.
    fn alive(pid: Pid) -> bool {
        for _ in 0..100 {
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => return false,
                Ok(stat) => {
                    let state = stat.rsplit_once(')').map(|(_, r)| r.trim_start()).unwrap_or("");
                    if state.starts_with('Z') || state.starts_with('X') {
                        return false;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    #[test]
    fn state_arrives_on_stdin() {
        let dir = TempDir::new("stdin");
        let out = dir.path("state");
        run_hook(&sh(&format!("cat > {}", out.display())), STATE).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), STATE);
    }

    #[test]
    fn env_is_exactly_what_is_listed() {
        let h = hook(serde_json::json!({
            "path": "/usr/bin/env", "args": ["env"], "env": ["A=1", "B=two words", "C=x=y"]
        }));
        let done = run_hook_output(&h, STATE).unwrap();
        assert!(done.status.success());
        assert_eq!(String::from_utf8(done.stdout).unwrap(), "A=1\nB=two words\nC=x=y\n");
        // No env at all: an empty environment, not husk's.
        let h = hook(serde_json::json!({"path": "/usr/bin/env", "args": ["env"]}));
        assert_eq!(run_hook_output(&h, STATE).unwrap().stdout, b"");
    }

    #[test]
    fn ctx_gives_default_env_and_cwd() {
        let dir = TempDir::new("ctx");
        let default = [std::ffi::CString::new("FROM=process").unwrap(), std::ffi::CString::new("B=2").unwrap()];
        let ctx = Ctx { default_env: Some(&default), cwd: Some(&dir.0) };
        // No env: the default one, in order; the working directory from the context.
        let h = hook(serde_json::json!({"path": "/usr/bin/env", "args": ["env"]}));
        assert_eq!(run_hook_output_in(&h, STATE, ctx).unwrap().stdout, b"FROM=process\nB=2\n");
        let h = hook(serde_json::json!({"path": "/bin/pwd", "args": ["pwd", "-P"]}));
        let cwd = std::fs::canonicalize(&dir.0).unwrap();
        assert_eq!(run_hook_output_in(&h, STATE, ctx).unwrap().stdout, format!("{}\n", cwd.display()).as_bytes());
        // env given (also empty): only that.
        let h = hook(serde_json::json!({"path": "/usr/bin/env", "args": ["env"], "env": ["ONLY=this"]}));
        assert_eq!(run_hook_output_in(&h, STATE, ctx).unwrap().stdout, b"ONLY=this\n");
        let h = hook(serde_json::json!({"path": "/usr/bin/env", "args": ["env"], "env": []}));
        assert_eq!(run_hook_output_in(&h, STATE, ctx).unwrap().stdout, b"");
        // A missing working directory is named.
        let gone = dir.path("gone");
        let ctx = Ctx { default_env: None, cwd: Some(&gone) };
        let e = run_hook_in(&h, STATE, ctx).unwrap_err();
        assert!(e.to_string().contains(&gone.display().to_string()), "{e}");
    }

    #[test]
    fn malformed_env_entry_is_refused() {
        let h = hook(serde_json::json!({"path": "/usr/bin/env", "env": ["NOEQUALS"]}));
        let e = run_hook(&h, STATE).unwrap_err();
        assert_eq!(e.kind(), Kind::InvalidSpec);
    }

    #[test]
    fn argv0_is_args0_as_given() {
        let h = hook(serde_json::json!({
            "path": "/bin/sh", "args": ["custom-argv0", "-c", "tr '\\0' '\\n' < /proc/$$/cmdline", "x"]
        }));
        let done = run_hook_output(&h, STATE).unwrap();
        assert_eq!(String::from_utf8(done.stdout).unwrap(), "custom-argv0\n-c\ntr '\\0' '\\n' < /proc/$$/cmdline\nx\n");
    }

    #[test]
    fn argv0_is_path_without_args() {
        // No args: sh reads its script from stdin, here the "state".
        let h = hook(serde_json::json!({"path": "/bin/sh"}));
        let done = run_hook_output(&h, b"tr '\\0' '\\n' < /proc/$$/cmdline\n").unwrap();
        assert_eq!(String::from_utf8(done.stdout).unwrap(), "/bin/sh\n");
    }

    #[test]
    fn env_exactly_as_listed_in_order() {
        let h = hook(serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "tr '\\0' ' ' < /proc/self/environ"],
            "env": ["Z=1", "A=two words", "EMPTY=", "Z=again"]}));
        let done = run_hook_output(&h, STATE).unwrap();
        assert_eq!(String::from_utf8(done.stdout).unwrap(), "Z=1 A=two words EMPTY= Z=again ");
    }

    #[test]
    fn warning_lists_run_every_hook() {
        let dir = TempDir::new("all");
        let log = dir.path("log");
        let l = log.display();
        let hooks = [sh(&format!("echo a >> {l}; exit 1")), sh(&format!("echo b >> {l}")), sh("exit 2")];
        let errs = run_hooks_all("poststop", &hooks, STATE);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "a\nb\n");
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            ["running poststop hook #0 (/bin/sh): exit status 1", "running poststop hook #2 (/bin/sh): exit status 2"]
        );
    }

    #[test]
    fn failure_names_kind_index_path_status_and_stderr() {
        let hooks = [sh("exit 0"), sh("echo progress; echo '  oops: no network  ' >&2; exit 3")];
        let e = run_hooks("createRuntime", &hooks, STATE).unwrap_err();
        assert_eq!(e.to_string(), "running createRuntime hook #1 (/bin/sh): exit status 3: oops: no network");
    }

    #[test]
    fn failure_without_stderr_quotes_stdout() {
        let e = run_hooks("poststop", &[sh("echo only stdout; exit 1")], STATE).unwrap_err();
        assert_eq!(e.to_string(), "running poststop hook #0 (/bin/sh): exit status 1: stdout: only stdout");
        let e = run_hooks("poststop", &[sh("exit 2")], STATE).unwrap_err();
        assert_eq!(e.to_string(), "running poststop hook #0 (/bin/sh): exit status 2");
    }

    #[test]
    fn stops_at_first_failure() {
        let dir = TempDir::new("order");
        let log = dir.path("log");
        let l = log.display();
        let hooks =
            [sh(&format!("echo a >> {l}")), sh(&format!("echo b >> {l}; exit 1")), sh(&format!("echo c >> {l}"))];
        assert!(run_hooks("prestart", &hooks, STATE).is_err());
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "a\nb\n");
    }

    #[test]
    fn signal_death_is_a_failure() {
        let e = run_hook(&sh("kill -9 $$"), STATE).unwrap_err();
        assert_eq!(e.to_string(), "killed by signal 9 (SIGKILL)");
    }

    #[test]
    fn timeout_kills_the_hook_and_its_children() {
        let dir = TempDir::new("timeout");
        let (p1, p2) = (dir.path("hook.pid"), dir.path("child.pid"));
        let script = format!("sleep 100 & echo $! > {}; echo $$ > {}; wait", p2.display(), p1.display());
        let h = hook(serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", script], "timeout": 1}));
        let start = Instant::now();
        let e = run_hooks("createContainer", &[h], STATE).unwrap_err();
        let took = start.elapsed();
        assert_eq!(e.to_string(), "running createContainer hook #0 (/bin/sh): timed out after 1s, killed it");
        assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(5), "took {took:?}");
        // The hook was reaped by us: no such process (not even a zombie).
        let hook_pid = pid_from(&p1);
        assert_eq!(nix::sys::signal::kill(hook_pid, None), Err(Errno::ESRCH));
        // Its child died with the process group (it may linger as a zombie of its reaper).
        assert!(!alive(pid_from(&p2)));
    }

    #[test]
    fn hook_within_timeout_succeeds() {
        let h = hook(serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "cat >/dev/null"], "timeout": 5}));
        run_hook(&h, STATE).unwrap();
    }

    #[test]
    fn bad_timeout_and_relative_path_are_spec_errors() {
        let h = hook(serde_json::json!({"path": "/bin/true", "timeout": 0}));
        assert_eq!(run_hook(&h, STATE).unwrap_err().kind(), Kind::InvalidSpec);
        let h = hook(serde_json::json!({"path": "bin/true"}));
        assert_eq!(run_hook(&h, STATE).unwrap_err().kind(), Kind::InvalidSpec);
    }

    #[test]
    fn missing_path_is_a_clear_error() {
        let h = hook(serde_json::json!({"path": "/nonexistent/hook", "args": ["hook"]}));
        let e = run_hooks("poststart", &[h], STATE).unwrap_err();
        assert_eq!(
            e.to_string(),
            "running poststart hook #0 (/nonexistent/hook): starting the hook process: ENOENT: No such file or directory"
        );
        assert_eq!(e.kind(), Kind::NotFound);
    }

    #[test]
    fn hook_ignoring_large_stdin_does_not_hurt() {
        let big = vec![b'x'; 4 << 20];
        run_hook(&sh("exit 0"), &big).unwrap();
        run_hook(&sh("exec 0<&-; sleep 0.1"), &big).unwrap();
        // Reads a little, then leaves.
        run_hook(&sh("head -c 10 >/dev/null"), &big).unwrap();
    }

    #[test]
    fn hook_ignoring_stdin_with_default_sigpipe_does_not_kill_us() {
        // In a forked child with SIGPIPE at SIG_DFL, as a non-Rust caller would have it.
        match sys::process::fork().unwrap() {
            nix::unistd::ForkResult::Child => {
                sys::process::default_sigpipe_for_test();
                let big = vec![b'x'; 4 << 20];
                let ok = run_hook(&sh("exit 0"), &big).is_ok() && run_hook(&sh("exit 0"), &big).is_ok();
                std::process::exit(if ok { 0 } else { 1 });
            }
            nix::unistd::ForkResult::Parent { child } => {
                let st = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(st, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }

    #[test]
    fn hook_gets_default_sigpipe_and_an_empty_signal_mask() {
        // husk ignores SIGPIPE and blocks it while feeding stdin; the hook must see neither.
        // Checked in a forked, single-threaded child: the test harness runs other tests
        // (which block signals on their threads) concurrently in this process.
        match sys::process::fork().unwrap() {
            nix::unistd::ForkResult::Child => {
                let ok = (|| {
                    let done = run_hook_output(&sh("exec grep -E '^Sig(Blk|Ign)' /proc/self/status"), STATE).ok()?;
                    let out = String::from_utf8(done.stdout).ok()?;
                    let mut n = 0;
                    for line in out.lines() {
                        let mask = u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()?;
                        if mask & (1 << (libc::SIGPIPE - 1)) != 0 || (line.starts_with("SigBlk") && mask != 0) {
                            eprintln!("{line}");
                            return None;
                        }
                        n += 1;
                    }
                    (n == 2).then_some(())
                })()
                .is_some();
                sys::process::exit_now(if ok { 0 } else { 1 });
            }
            nix::unistd::ForkResult::Parent { child } => {
                let st = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(st, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }

    #[test]
    fn chatty_hook_does_not_deadlock_and_message_is_bounded() {
        let e = run_hook(
            &sh("head -c 3000000 /dev/zero | tr '\\0' a; head -c 3000000 /dev/zero | tr '\\0' b >&2; exit 4"),
            STATE,
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("exit status 4: ..."), "{}", &msg[..40]);
        assert!(msg.len() < MESSAGE_KEEP + 64);
        assert!(msg.ends_with("bbbb"));
    }

    #[test]
    fn background_child_holding_stdout_does_not_block() {
        // The hook exits at once but leaves a child holding its stdout open.
        let start = Instant::now();
        run_hook(&sh("sleep 3 & echo done"), STATE).unwrap();
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn no_fd_of_ours_leaks_into_the_hook() {
        // An fd without CLOEXEC, as a careless caller might leave one.
        let leak = nix::unistd::dup(std::io::stderr().as_raw_fd()).unwrap();
        let done = run_hook_output(&sh("ls /proc/$$/fd"), STATE).unwrap();
        let _ = nix::unistd::close(leak);
        assert_eq!(String::from_utf8(done.stdout).unwrap(), "0\n1\n2\n");
    }
}

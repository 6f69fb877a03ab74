//! CRIU, driven through its command line (see docs/checkpoint.md for why not `criu swrk`):
//! finding the binary, its version, `criu check`, the dump and restore command lines husk
//! builds from a container's config, running them, and turning CRIU's log into one error line.
//! What is specific to a container (its mounts, namespaces, cgroup) is computed in
//! [`externals`]; the verbs are in commands/checkpoint.rs and commands/restore.rs.

pub mod action;
pub mod externals;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Context, Error, Kind, Result};

/// The oldest CRIU husk drives: 3.14 freezes cgroup v2 and knows every option husk passes.
pub const MIN_VERSION: u32 = 31400;

/// The file in the image directory listing the init's fds 0-2 at dump time (runc's name and
/// format: a JSON array of /proc/PID/fd link targets), so a restore can re-attach pipes.
pub const DESCRIPTORS: &str = "descriptors.json";

/// A usable CRIU binary.
#[derive(Debug, Clone)]
pub struct Criu {
    pub path: PathBuf,
    /// major*10000 + minor*100 + sublevel, as runc counts.
    pub version: u32,
}

/// `criu` in PATH (then /usr/sbin, /sbin), or the `--criu` path given.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        if p.components().count() > 1 {
            return if p.is_file() {
                Ok(p.to_path_buf())
            } else {
                Err(Error::new(Kind::NotFound, format!("criu binary {} not found", p.display())))
            };
        }
    }
    let name = explicit.map(|p| p.as_os_str().to_owned()).unwrap_or_else(|| "criu".into());
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .filter(|d| d.is_absolute())
        .map(|d| d.join(&name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::new(
                Kind::NotFound,
                format!(
                    "{} not found in PATH: checkpoint/restore needs CRIU {} or newer (package criu)",
                    Path::new(&name).display(),
                    version_text(MIN_VERSION)
                ),
            )
        })
}

/// "3.17.1" for 31701.
pub fn version_text(v: u32) -> String {
    format!("{}.{}.{}", v / 10000, v / 100 % 100, v % 100)
}

/// The version in `criu --version` output ("Version: 3.17.1", maybe "GitID: ..." after).
pub fn parse_version(out: &str) -> Option<u32> {
    let line = out.lines().find_map(|l| l.trim().strip_prefix("Version:"))?;
    let mut parts = line.trim().split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let sub: u32 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    Some(major * 10000 + minor * 100 + sub)
}

/// The useful part of a CRIU log or `criu check` output: its error lines without the
/// timestamp and source location, the last few, joined in one line.
pub fn summarize(log: &str, max: usize) -> Option<String> {
    let errs: Vec<String> = log
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            // "(00.012345) Error (criu/cr-check.c:1234): msg" or "Error (criu/...): msg"
            let rest = match l.strip_prefix('(') {
                Some(r) => r.split_once(')').map(|(_, r)| r.trim_start()).unwrap_or(r),
                None => l,
            };
            let msg = rest.strip_prefix("Error (").and_then(|r| r.split_once("):")).map(|(_, m)| m.trim())?;
            (!msg.is_empty()).then(|| msg.to_string())
        })
        .collect();
    if errs.is_empty() {
        return None;
    }
    let start = errs.len().saturating_sub(max);
    Some(errs[start..].join("; "))
}

/// The bound on `criu --version` and `criu check` (each takes well under a second): a CRIU
/// that hangs there must not wedge the caller's checkpoint or restore.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

impl Criu {
    /// Locate CRIU, check its version and that it can work on this kernel (`criu check`): any
    /// problem is one line naming the cause.
    pub fn probe(explicit: Option<&Path>) -> Result<Criu> {
        let path = locate(explicit)?;
        let out = crate::hooks::output_within(Command::new(&path).arg("--version"), PROBE_TIMEOUT)
            .with_context(|| format!("running {} --version", path.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version = parse_version(&text).ok_or_else(|| {
            Error::new(
                Kind::System,
                format!("{} --version: no version in its output {:?}", path.display(), text.trim()),
            )
        })?;
        if version < MIN_VERSION {
            return Err(Error::new(
                Kind::System,
                format!(
                    "CRIU {} ({}) is too old: husk needs CRIU {} or newer",
                    version_text(version),
                    path.display(),
                    version_text(MIN_VERSION)
                ),
            ));
        }
        let c = Criu { path, version };
        c.check()?;
        Ok(c)
    }

    /// `criu check`: "Looks good." or the kernel features it misses, summarized.
    fn check(&self) -> Result<()> {
        let out = crate::hooks::output_within(Command::new(&self.path).arg("check"), PROBE_TIMEOUT)
            .with_context(|| format!("running {} check", self.path.display()))?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if out.status.success() && text.contains("Looks good") {
            return Ok(());
        }
        let kernel = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
        let why = summarize(&text, 3)
            .or_else(|| text.lines().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_string()))
            .unwrap_or_else(|| crate::hooks::describe_status(out.status));
        Err(Error::new(
            Kind::System,
            format!(
                "CRIU {} cannot checkpoint/restore on kernel {kernel} (criu check failed: {why})",
                version_text(self.version)
            ),
        ))
    }

    /// Run `criu ARGS` with our stdio (restore hands its pipes to the restored process) and
    /// `env` added; on failure the last errors of `log` (CRIU's log file) are the message.
    /// `join`: cgroup.procs files CRIU joins before it execs (restore: the restored tree is
    /// then born in the container's cgroup, as runc puts `criu swrk` there).
    pub fn run(
        &self,
        what: &str,
        args: &[OsString],
        env: &[(&str, OsString)],
        log: &Path,
        join: &[PathBuf],
    ) -> Result<()> {
        crate::logging::debug(&format!("running {} {}", self.path.display(), shell_words(args)));
        let mut cmd = Command::new(&self.path);
        cmd.args(args);
        if !join.is_empty() {
            let mut fds = Vec::new();
            for p in join {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(p)
                    .map_err(|e| Error::io(e, format!("opening {}", p.display())))?;
                fds.push(std::os::fd::OwnedFd::from(f));
            }
            crate::sys::process::join_cgroup_in_child(&mut cmd, fds);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let status = cmd.status().map_err(|e| Error::io(e, format!("running {}", self.path.display())))?;
        if status.success() {
            return Ok(());
        }
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let why = summarize(&text, 3).unwrap_or_else(|| crate::hooks::describe_status(status));
        Err(Error::new(Kind::System, format!("criu {what} failed: {why} (log file: {})", log.display())))
    }
}

fn shell_words(args: &[OsString]) -> String {
    args.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
}

/// runc's `--manage-cgroups-mode` values.
pub fn manage_cgroups_mode(m: &str) -> Result<&'static str> {
    match m {
        "soft" => Ok("soft"),
        "full" => Ok("full"),
        "strict" => Ok("strict"),
        "ignore" => Ok("ignore"),
        _ => Err(Error::invalid_arg(format!("invalid manage cgroups mode {m:?} (soft, full, strict or ignore)"))),
    }
}

/// runc's `--empty-ns` values (only the network namespace can be left empty).
pub fn empty_ns(ns: &str) -> Result<&'static str> {
    match ns {
        "network" | "net" => Ok("net"),
        _ => Err(Error::invalid_arg(format!("namespace {ns:?} not supported for --empty-ns (only network)"))),
    }
}

/// Options common to dump and restore, as CRIU arguments.
pub fn common_args(a: &crate::cli::CriuCommonArgs, out: &mut Vec<OsString>) -> Result<()> {
    let flags = [
        (a.tcp_established, "--tcp-established"),
        (a.ext_unix_sk, "--ext-unix-sk"),
        (a.shell_job, "--shell-job"),
        (a.file_locks, "--file-locks"),
        (a.auto_dedup, "--auto-dedup"),
        (a.lazy_pages, "--lazy-pages"),
    ];
    out.extend(flags.iter().filter(|(on, _)| *on).map(|(_, f)| OsString::from(*f)));
    match &a.manage_cgroups_mode {
        Some(m) => out.push(format!("--manage-cgroups={}", manage_cgroups_mode(m)?).into()),
        None => out.push("--manage-cgroups".into()),
    }
    if let Some(ns) = &a.empty_ns {
        out.push("--empty-ns".into());
        out.push(empty_ns(ns)?.into());
    }
    Ok(())
}

/// `--external KEY:VALUE` pairs (mounts, namespaces) as CRIU arguments.
pub fn external_args(ext: &[(String, String)], out: &mut Vec<OsString>) {
    for (k, v) in ext {
        out.push("--external".into());
        out.push(format!("{k}:{v}").into());
    }
}

/// The default image directory: ./checkpoint (runc's).
pub fn image_dir(a: &crate::cli::CriuCommonArgs) -> Result<PathBuf> {
    let p = a.image_path.clone().unwrap_or_else(|| PathBuf::from("checkpoint"));
    absolute(&p)
}

pub fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(std::env::current_dir().map_err(|e| Error::io(e, "getting the current directory"))?.join(p))
}

/// Make `dir` (and parents) with mode 0700, as runc does for the image and work directories.
pub fn make_dir(dir: &Path, what: &str) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(e, format!("creating the {what} directory {}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("Version: 3.17.1\n"), Some(31701));
        assert_eq!(parse_version("Version: 3.19\nGitID: v3.19\n"), Some(31900));
        assert_eq!(parse_version("criu\n"), None);
        assert_eq!(version_text(31400), "3.14.0");
    }

    #[test]
    fn log_summary_keeps_the_last_errors() {
        let log = "(00.001) Warn (criu/kerndat.c:1): x\n\
                   (00.002) Error (criu/cr-check.c:1303): UFFD is not supported\n\
                   Error (criu/cr-check.c:1): Kernel doesn't support PTRACE_O_SUSPEND_SECCOMP\n\
                   (00.003) Error (criu/cr-dump.c:2): Dumping FAILED.\n";
        assert_eq!(
            summarize(log, 2).as_deref(),
            Some("Kernel doesn't support PTRACE_O_SUSPEND_SECCOMP; Dumping FAILED.")
        );
        assert_eq!(summarize("Looks good.\n", 3), None);
    }

    #[test]
    fn options() {
        let a = crate::cli::CriuCommonArgs {
            tcp_established: true,
            manage_cgroups_mode: Some("full".into()),
            empty_ns: Some("network".into()),
            ..Default::default()
        };
        let mut out = Vec::new();
        common_args(&a, &mut out).unwrap();
        assert_eq!(out, ["--tcp-established", "--manage-cgroups=full", "--empty-ns", "net"]);
        let bad = crate::cli::CriuCommonArgs { manage_cgroups_mode: Some("x".into()), ..Default::default() };
        assert!(common_args(&bad, &mut Vec::new()).is_err());
        let bad = crate::cli::CriuCommonArgs { empty_ns: Some("pid".into()), ..Default::default() };
        assert!(common_args(&bad, &mut Vec::new()).is_err());
    }

    #[test]
    fn missing_binary_is_one_line() {
        let e = locate(Some(Path::new("/nonexistent/criu"))).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/criu not found"), "{e}");
    }
}

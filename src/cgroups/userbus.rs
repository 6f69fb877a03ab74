//! The rootless systemd driver's bus: the user's own systemd manager (`systemd --user`, the
//! `user@UID.service` of the system manager), reached over the user's session bus as runc 1.1.5
//! reaches it (libcontainer/cgroups/systemd/user.go):
//!
//! - the address is `$DBUS_SESSION_BUS_ADDRESS` when set; else `unix:path=$XDG_RUNTIME_DIR/bus`
//!   when that socket exists; else the `DBUS_SESSION_BUS_ADDRESS` that
//!   `systemctl --user --no-pager show-environment` prints;
//! - the EXTERNAL authentication names the caller's uid, or, in a user namespace (rootless podman
//!   runs its runtime as root of one), the bus owner's uid that `busctl --user --no-pager status`
//!   reports as `OwnerUID=` (libcgroups' client asks busctl in both cases: the same uid outside a
//!   user namespace);
//! - every failure to reach the bus reads as runc's: `failed to connect to dbus (hint: ...): ...`.
//!
//! libcgroups' session client only understands `unix:path=` (and reads the address itself from
//! the environment), so the address resolved here is dialled once to report runc's errors and
//! then handed to it in `DBUS_SESSION_BUS_ADDRESS` in its plain `unix:path=PATH` form.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::error::{Error, Kind, Result};

/// runc's words for any failure to reach the manager's bus (its hint names the package that
/// gives a user a session bus; runc links its cgroup-v2 page, husk its rootless one).
const CONNECT_FAILED: &str = "failed to connect to dbus (hint: for rootless containers, maybe you need to install \
     dbus-user-session package, see husk's docs/rootless.md)";

/// A failure to reach the user's manager, in runc's words.
pub(super) fn connect_failed(why: String) -> Error {
    Error::new(Kind::System, format!("{CONNECT_FAILED}: {why}"))
}

/// The session bus address, as runc's DetectUserDbusSessionBusAddress finds it. `env` reads an
/// environment variable, `exists` tests a path, `show_environment` runs
/// `systemctl --user --no-pager show-environment` (its combined output, or runc's error text).
pub(super) fn session_bus_address(
    env: &dyn Fn(&str) -> Option<String>,
    exists: &dyn Fn(&Path) -> bool,
    show_environment: &dyn Fn() -> std::result::Result<String, String>,
) -> std::result::Result<String, String> {
    if let Some(a) = env("DBUS_SESSION_BUS_ADDRESS").filter(|a| !a.is_empty()) {
        return Ok(a);
    }
    if let Some(xdr) = env("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
        let bus = Path::new(&xdr).join("bus");
        if exists(&bus) {
            return Ok(format!("unix:path={}", escape_value(&bus.to_string_lossy())));
        }
    }
    let out = show_environment()?;
    out.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("DBUS_SESSION_BUS_ADDRESS="))
        .map(str::to_string)
        .ok_or_else(|| {
            "could not detect DBUS_SESSION_BUS_ADDRESS from `systemctl --user --no-pager show-environment`. Make sure \
             you have installed the dbus-user-session or dbus-daemon package and then run: `systemctl --user start dbus`"
                .to_string()
        })
}

/// D-Bus address value escaping (the specification's "optionally escaped" bytes pass as is).
fn escape_value(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_/.\\*".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

fn unescape_value(v: &str) -> Option<String> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = v.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The Unix socket paths of a D-Bus address (entries separated by `;`, each `transport:k=v,...`),
/// in order: `unix:path=` entries. `Err` names an entry husk cannot dial (another transport or
/// key, an abstract socket: libcgroups' client dials filesystem paths only).
pub(super) fn unix_paths(addr: &str) -> std::result::Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for entry in addr.split(';').filter(|e| !e.is_empty()) {
        let Some(params) = entry.strip_prefix("unix:") else {
            return Err(format!("dbus: unsupported transport in bus address {entry:?} (husk dials unix:path= only)"));
        };
        let path = params.split(',').find_map(|kv| kv.strip_prefix("path="));
        match path.and_then(unescape_value) {
            Some(p) => out.push(PathBuf::from(p)),
            None => {
                return Err(format!("dbus: unsupported bus address {entry:?} (husk dials unix:path= only)"));
            }
        }
    }
    if out.is_empty() {
        return Err("dbus: invalid bus address (no transport)".to_string());
    }
    Ok(out)
}

/// Go's `syscall.Errno` text: strerror, lowercase.
fn go_errno_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let s = nix::errno::Errno::from_raw(n).desc();
            let mut c = s.chars();
            c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default()
        }
        None => e.to_string(),
    }
}

/// Go's `%q` of a string (enough for command output: quotes, backslashes, control bytes).
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `CMD ARGS...` with stdout and stderr combined (Go's CombinedOutput): its output, or runc's
/// "could not execute `CMD ARGS` (output...): CAUSE" text. `output_key` is runc's spelling of the
/// key in that text (`output=` for systemctl, `output: ` for busctl).
fn combined_output(cmd: &str, args: &[&str], output_key: &str) -> std::result::Result<String, String> {
    let shown = format!("{cmd} {}", args.join(" "));
    let out = match Command::new(cmd).args(args).stdin(Stdio::null()).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "could not execute `{shown}` ({output_key}\"\"): exec: \"{cmd}\": executable file not found in $PATH"
            ))
        }
        Err(e) => return Err(format!("could not execute `{shown}` ({output_key}\"\"): {e}")),
    };
    let status = out.status;
    // Go's CombinedOutput has both streams in one buffer.
    let mut out = out.stdout.into_iter().chain(out.stderr).collect::<Vec<u8>>();
    out.shrink_to_fit();
    let text = String::from_utf8_lossy(&out).into_owned();
    if status.success() {
        return Ok(text);
    }
    let why = match status.code() {
        Some(c) => format!("exit status {c}"),
        None => format!("{status}"),
    };
    Err(format!("could not execute `{shown}` ({output_key}{}): {why}", go_quote(&text)))
}

/// runc's DetectUID: the caller's uid, or in a user namespace the bus owner's (`OwnerUID=` of
/// `busctl --user --no-pager status`). Asked once per process.
pub(super) fn owner_uid() -> std::result::Result<u32, String> {
    static UID: OnceLock<std::result::Result<u32, String>> = OnceLock::new();
    UID.get_or_init(|| {
        if !crate::namespaces::in_user_namespace() {
            return Ok(nix::unistd::getuid().as_raw());
        }
        let out = combined_output("busctl", &["--user", "--no-pager", "status"], "output: ")?;
        parse_owner_uid(&out)
    })
    .clone()
}

pub(super) fn parse_owner_uid(busctl_status: &str) -> std::result::Result<u32, String> {
    let v = busctl_status
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("OwnerUID="))
        .ok_or_else(|| "could not detect the OwnerUID".to_string())?;
    v.parse().map_err(|e| format!("could not detect the OwnerUID: {e}"))
}

/// Find the user's session bus as runc does, check that it answers, and point libcgroups'
/// session client at it (`DBUS_SESSION_BUS_ADDRESS=unix:path=PATH` in this process). Errors are
/// runc's.
pub(super) fn prepare() -> Result<()> {
    let fail = connect_failed;
    let env = |k: &str| std::env::var(k).ok();
    let exists = |p: &Path| p.exists();
    let show = || combined_output("systemctl", &["--user", "--no-pager", "show-environment"], "output=");
    let addr = session_bus_address(&env, &exists, &show).map_err(fail)?;
    let path = dial(&addr).map_err(fail)?;
    let plain = format!("unix:path={}", path.display());
    if std::env::var("DBUS_SESSION_BUS_ADDRESS").ok().as_deref() != Some(plain.as_str()) {
        // No other thread reads the environment meanwhile (the only other thread husk ever
        // starts, `run`'s sd_notify relay, reads none).
        std::env::set_var("DBUS_SESSION_BUS_ADDRESS", plain);
    }
    Ok(())
}

/// The first socket of `addr` that accepts a connection, or runc's (godbus') error text.
pub(super) fn dial(addr: &str) -> std::result::Result<PathBuf, String> {
    let mut last = String::new();
    for p in unix_paths(addr)? {
        match UnixStream::connect(&p) {
            Ok(_) => return Ok(p),
            Err(e) => last = format!("dial unix {}: connect: {}", p.display(), go_errno_text(&e)),
        }
    }
    Err(format!("error while dialing {}: {last}", go_quote(addr)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(
        vars: &[(&str, &str)],
        existing: &[&str],
        show: std::result::Result<&str, &str>,
    ) -> std::result::Result<String, String> {
        let env = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        let exists = |p: &Path| existing.iter().any(|e| Path::new(e) == p);
        let show = || show.map(str::to_string).map_err(str::to_string);
        session_bus_address(&env, &exists, &show)
    }

    #[test]
    fn address_from_the_environment_first() {
        let a = addr(
            &[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/x/bus"), ("XDG_RUNTIME_DIR", "/run/user/7")],
            &["/run/user/7/bus"],
            Err("not run"),
        );
        assert_eq!(a.unwrap(), "unix:path=/x/bus");
    }

    #[test]
    fn address_from_xdg_runtime_dir_when_its_bus_exists() {
        let a = addr(
            &[("DBUS_SESSION_BUS_ADDRESS", ""), ("XDG_RUNTIME_DIR", "/run/user/7")],
            &["/run/user/7/bus"],
            Err("x"),
        );
        assert_eq!(a.unwrap(), "unix:path=/run/user/7/bus");
        let a = addr(&[("XDG_RUNTIME_DIR", "/run/my dir")], &["/run/my dir/bus"], Err("x")).unwrap();
        assert_eq!(a, "unix:path=/run/my%20dir/bus");
        assert_eq!(unix_paths(&a).unwrap(), [PathBuf::from("/run/my dir/bus")]);
    }

    #[test]
    fn address_from_systemctl_show_environment_last() {
        let out = "HOME=/home/u\nDBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/7/bus\nPATH=/bin\n";
        assert_eq!(addr(&[("XDG_RUNTIME_DIR", "/run/user/7")], &[], Ok(out)).unwrap(), "unix:path=/run/user/7/bus");
        let e = addr(&[], &[], Ok("HOME=/home/u\n")).unwrap_err();
        assert!(
            e.starts_with(
                "could not detect DBUS_SESSION_BUS_ADDRESS from `systemctl --user --no-pager show-environment`"
            ),
            "{e}"
        );
        let e = addr(
            &[],
            &[],
            Err("could not execute `systemctl --user --no-pager show-environment` (output=\"\"): exit status 1"),
        );
        assert!(e.unwrap_err().contains("exit status 1"));
    }

    #[test]
    fn unix_paths_of_addresses() {
        assert_eq!(
            unix_paths("unix:path=/a/bus,guid=0123;unix:path=/b").unwrap(),
            [PathBuf::from("/a/bus"), PathBuf::from("/b")]
        );
        assert!(unix_paths("unix:abstract=/tmp/dbus-x").unwrap_err().contains("unix:path= only"));
        assert!(unix_paths("tcp:host=localhost,port=1").unwrap_err().contains("unsupported transport"));
        assert!(unix_paths("").unwrap_err().contains("no transport"));
        assert!(unix_paths("unix:path=/a%zz").is_err());
    }

    #[test]
    fn owner_uid_from_busctl_status() {
        let out = "BusAddress=unix:path=/run/user/1500/bus\nOwnerUID=1500\nUnique=:1.4\n";
        assert_eq!(parse_owner_uid(out).unwrap(), 1500);
        assert_eq!(parse_owner_uid("PID=1\n").unwrap_err(), "could not detect the OwnerUID");
        assert!(parse_owner_uid("OwnerUID=x").unwrap_err().starts_with("could not detect the OwnerUID: "));
    }

    #[test]
    fn go_texts() {
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(go_errno_text(&e), "no such file or directory");
    }

    #[test]
    fn dial_failure_reads_as_runc() {
        let dir = std::env::temp_dir().join(format!("husk-userbus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("none");
        let a = format!("unix:path={}", missing.display());
        assert_eq!(
            dial(&a).unwrap_err(),
            format!("error while dialing \"{a}\": dial unix {}: connect: no such file or directory", missing.display())
        );
        // The first entry that answers wins.
        let sock = dir.join("bus");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        assert_eq!(dial(&format!("{a};unix:path={},guid=1", sock.display())).unwrap(), sock);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! `husk ps [--format table|json] ID [PS-ARGS...]`: the container's processes. `json` is the
//! array of host pids in its cgroup (what containerd's shim reads); `table` runs the host's
//! `ps` with PS-ARGS (default `-ef`) and keeps the header and the rows of those pids, as runc.

use std::process::Command;

use nix::unistd::Pid;

use crate::cgroups::Cgroup;
use crate::cli::{Cli, Format, PsArgs};
use crate::error::{Context, Error, Kind, Result};
use crate::state::StateDir;

pub fn ps(cli: &Cli, a: &PsArgs) -> Result<()> {
    let pids = {
        let dir = StateDir::open(&cli.root, &a.id)?;
        let st = dir.load()?;
        Cgroup::open(&st.cgroup)
            .and_then(|cg| cg.pids())
            .with_context(|| format!("listing processes of container {}", a.id))?
    };
    match a.format {
        Format::Json => crate::logging::stdout(&(pids_json(&pids) + "\n")),
        Format::Table => {
            let args: Vec<String> = if a.ps_args.is_empty() { vec!["-ef".into()] } else { a.ps_args.clone() };
            let out = Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| Error::io(e, "running ps"))
                .with_context(|| format!("listing processes of container {}", a.id))?;
            if !out.status.success() {
                return Err(Error::new(
                    Kind::System,
                    format!(
                        "running ps {}: {}: {}",
                        args.join(" "),
                        crate::hooks::describe_status(out.status),
                        String::from_utf8_lossy(&out.stderr).trim_end()
                    ),
                ));
            }
            crate::logging::stdout(&filter_table(&String::from_utf8_lossy(&out.stdout), &pids)?)
        }
    }
}

/// `[1,2]`, or `null` for none (runc encodes a nil slice).
fn pids_json(pids: &[Pid]) -> String {
    if pids.is_empty() {
        return "null".into();
    }
    let v: Vec<i32> = pids.iter().map(|p| p.as_raw()).collect();
    serde_json::to_string(&v).unwrap_or_else(|_| "null".into())
}

/// The header and the rows whose PID column is one of `pids`.
fn filter_table(out: &str, pids: &[Pid]) -> Result<String> {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or("");
    let idx = header
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or_else(|| Error::invalid_arg("finding the PID column in the ps output: there is none (add pid to -o)"))?;
    let mut res = format!("{header}\n");
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let field = line.split_whitespace().nth(idx).unwrap_or("");
        let pid: i32 = field.parse().map_err(|_| {
            Error::new(Kind::System, format!("reading ps output: unexpected pid {field:?} in {line:?}"))
        })?;
        if pids.contains(&Pid::from_raw(pid)) {
            res.push_str(line);
            res.push('\n');
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EF: &str = "UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 16:00 ?        00:00:01 /sbin/init
root         100       1  0 16:01 ?        00:00:00 sleep 100
root         101     100  0 16:01 ?        00:00:00 sleep 100 1001
";

    #[test]
    fn keeps_header_and_container_rows() {
        let t = filter_table(EF, &[Pid::from_raw(101), Pid::from_raw(7)]).unwrap();
        assert_eq!(t.lines().count(), 2);
        assert!(t.starts_with("UID          PID"));
        assert!(t.lines().nth(1).unwrap().contains(" 101 "));
        // A pid appearing in another column does not count.
        let t = filter_table(EF, &[Pid::from_raw(1001)]).unwrap();
        assert_eq!(t.lines().count(), 1);
    }

    #[test]
    fn pid_column_anywhere() {
        let t = filter_table("COMMAND PID\nsleep 5\nsh 6\n", &[Pid::from_raw(6)]).unwrap();
        assert_eq!(t, "COMMAND PID\nsh 6\n");
        let e = filter_table("COMMAND\nsleep\n", &[]).unwrap_err();
        assert!(e.to_string().contains("PID column"), "{e}");
    }

    #[test]
    fn json_like_runc() {
        assert_eq!(pids_json(&[]), "null");
        assert_eq!(pids_json(&[Pid::from_raw(3), Pid::from_raw(10)]), "[3,10]");
    }
}

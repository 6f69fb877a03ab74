//! `husk list`: every container under --root, as runc's table or JSON. A container whose
//! state cannot be read is skipped (with a warning), never fatal for the others.
//!
//! Per container: one stat, one read of state.json decoded without its config
//! ([`StateSummary`]), one read of /proc/PID/stat, and for a live init one read of its freezer
//! state and one stat of the exec fifo. What is the same for every container is done once: the
//! host's cgroup layout ([`FrozenCheck`]) and /etc/passwd (owner names).

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;

use crate::cgroups::FrozenCheck;
use crate::cli::{Cli, Format, ListArgs};
use crate::error::{Error, Kind, Result};
use crate::state::{StateRoot, StateSummary, Status};

struct Row {
    state: StateSummary,
    status: Status,
    owner: String,
}

/// Owner names by uid, /etc/passwd read at most once per `list`.
#[derive(Default)]
struct Owners {
    passwd: Option<String>,
    names: HashMap<u32, String>,
}

impl Owners {
    fn name(&mut self, uid: u32) -> String {
        if let Some(n) = self.names.get(&uid) {
            return n.clone();
        }
        let passwd = self.passwd.get_or_insert_with(|| std::fs::read_to_string("/etc/passwd").unwrap_or_default());
        let n = owner_name(passwd, uid);
        self.names.insert(uid, n.clone());
        n
    }
}

fn owner_name(passwd: &str, uid: u32) -> String {
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_string())
        })
        .unwrap_or_else(|| format!("#{uid}"))
}

pub fn list(cli: &Cli, a: &ListArgs) -> Result<()> {
    let mut rows = Vec::new();
    let mut frozen = FrozenCheck::default();
    let mut owners = Owners::default();
    let entries = match std::fs::read_dir(&cli.root) {
        Ok(e) => Some(e),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(e, format!("reading state root {}", cli.root.display()))),
    };
    let root = match entries {
        Some(_) => Some(
            StateRoot::open(&cli.root)
                .map_err(|e| Error::io(e, format!("opening state root {}", cli.root.display())))?,
        ),
        None => None,
    };
    for entry in entries.into_iter().flatten().flatten() {
        let dir = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        // Not a container: a file, or a dir whose name is no valid id (the seccomp cache).
        let name = entry.file_name();
        let Some(id) = name.to_str().filter(|n| meta.is_dir() && crate::state::validate_id(n).is_ok()) else {
            continue;
        };
        let Some(root) = &root else { continue };
        let st = match root.summary(id, &dir) {
            Ok(st) => st,
            Err(e) => {
                crate::logging::warn(&format!("skipping {}: {e}", dir.display()));
                continue;
            }
        };
        let status = root.status(&st, &dir, &mut frozen);
        rows.push(Row { state: st, status, owner: owners.name(meta.uid()) });
    }
    rows.sort_by(|a, b| a.state.id.cmp(&b.state.id));
    if a.quiet {
        let mut out = String::new();
        for r in &rows {
            out.push_str(&r.state.id);
            out.push('\n');
        }
        return print(&out);
    }
    match a.format {
        Format::Json => {
            // runc's containerState: its field order, annotations if any.
            let v: Vec<_> = rows.iter().map(|r| r.state.oci_state(r.status, r.owner.clone())).collect();
            // runc prints `null` for no containers (a nil slice).
            let out = if v.is_empty() {
                "null".to_string()
            } else {
                serde_json::to_string(&v).map_err(|e| Error::new(Kind::System, e.to_string()))?
            };
            print(&(out + "\n"))?;
        }
        Format::Table => {
            let mut table = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from).to_vec()];
            // The cells straight from the summary (oci_state's annotations map is JSON's only).
            for r in &rows {
                let pid = if r.status == Status::Stopped { 0 } else { r.state.pid };
                table.push(vec![
                    r.state.id.clone(),
                    pid.to_string(),
                    r.status.as_str().into(),
                    r.state.bundle.display().to_string(),
                    r.state.created.clone(),
                    r.owner.clone(),
                ]);
            }
            print(&tabulate(&table))?;
        }
    }
    Ok(())
}

/// The whole output in one write (println! per row is a write(2) per line).
fn print(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes()).and_then(|()| out.flush()).map_err(|e| Error::io(e, "writing the list"))
}

/// Go's tabwriter as runc configures it (minwidth 12, padding 3): every column but the last
/// is padded to max(12, widest cell + 3).
fn tabulate(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map(Vec::len).unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().map(|r| r[c].chars().count() + 3).max().unwrap_or(0).max(12)).collect();
    let mut out = String::with_capacity(rows.len() * (widths.iter().sum::<usize>() + 1));
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            out.push_str(cell);
            if c + 1 < cols {
                let pad = widths[c].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_runc() {
        let t = tabulate(&[["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from).to_vec()]);
        assert_eq!(t, "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n");
    }
}

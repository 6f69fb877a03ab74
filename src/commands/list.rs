//! `husk list`: every container under --root, as runc's table or JSON. A container whose
//! state cannot be read is skipped (with a warning), never fatal for the others.

use std::os::unix::fs::MetadataExt;

use crate::cli::{Cli, Format, ListArgs};
use crate::error::{Error, Kind, Result};
use crate::state::{read_state, State, Status};

struct Row {
    state: State,
    status: Status,
    owner: String,
}

fn owner_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
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
    let entries = match std::fs::read_dir(&cli.root) {
        Ok(e) => Some(e),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(e, format!("reading state root {}", cli.root.display()))),
    };
    for entry in entries.into_iter().flatten().flatten() {
        let dir = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        // Not a container: a file, or a dir whose name is no valid id (the seccomp cache).
        if !meta.is_dir() || entry.file_name().to_str().is_none_or(|n| crate::state::validate_id(n).is_err()) {
            continue;
        }
        let st = match read_state(&dir) {
            Ok(st) => st,
            Err(e) => {
                crate::logging::warn(&format!("skipping {}: {e}", dir.display()));
                continue;
            }
        };
        let status = st.status_unlocked(&dir);
        rows.push(Row { state: st, status, owner: owner_name(meta.uid()) });
    }
    rows.sort_by(|a, b| a.state.id.cmp(&b.state.id));
    if a.quiet {
        for r in &rows {
            println!("{}", r.state.id);
        }
        return Ok(());
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
            println!("{out}");
        }
        Format::Table => {
            let mut table = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from).to_vec()];
            for r in &rows {
                let o = r.state.oci_state(r.status, r.owner.clone());
                table.push(vec![
                    o.id.to_string(),
                    o.pid.to_string(),
                    o.status.into(),
                    o.bundle.display().to_string(),
                    o.created.to_string(),
                    o.owner,
                ]);
            }
            print!("{}", tabulate(&table));
        }
    }
    Ok(())
}

/// Go's tabwriter as runc configures it (minwidth 12, padding 3): every column but the last
/// is padded to max(12, widest cell + 3).
fn tabulate(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map(Vec::len).unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().map(|r| r[c].chars().count() + 3).max().unwrap_or(0).max(12)).collect();
    let mut out = String::new();
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[c]));
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

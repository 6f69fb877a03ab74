//! `husk list`: every container under --root, as runc's table or JSON. A container whose
//! state cannot be read is skipped (with a warning), never fatal for the others.

use std::os::unix::fs::MetadataExt;

use crate::cli::{Cli, Format, ListArgs};
use crate::error::{Error, Kind, Result};
use crate::state::read_state;

struct Row {
    id: String,
    pid: i32,
    status: &'static str,
    bundle: String,
    rootfs: String,
    created: String,
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
        let oci = st.oci_json(status);
        rows.push(Row {
            id: st.id.clone(),
            pid: oci["pid"].as_i64().unwrap_or(0) as i32,
            status: status.as_str(),
            bundle: st.bundle.display().to_string(),
            rootfs: st.rootfs.display().to_string(),
            created: st.created.clone(),
            owner: owner_name(meta.uid()),
        });
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    if a.quiet {
        for r in &rows {
            println!("{}", r.id);
        }
        return Ok(());
    }
    match a.format {
        Format::Json => {
            let v: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({"ociVersion": crate::OCI_SPEC_VERSION, "id": r.id, "pid": r.pid, "status": r.status,
                        "bundle": r.bundle, "rootfs": r.rootfs, "created": r.created, "owner": r.owner})
                })
                .collect();
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
                table.push(vec![
                    r.id.clone(),
                    r.pid.to_string(),
                    r.status.into(),
                    r.bundle.clone(),
                    r.created.clone(),
                    r.owner.clone(),
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

//! `husk list`: every container under --root, as runc's table or JSON. A container whose
//! state cannot be read is skipped (with a warning), never fatal for the others.
//!
//! Per container: state.json opened (its fstat gives the owner), read (its first KiB, as a
//! rule) and decoded without its config ([`StateSummary`]), and /proc/PID/stat read; the
//! freezer state only for an init that shows as frozen could, the exec fifo only for an init
//! that has not exec'd yet (by its name, [`crate::state::INIT_COMM`]). What is the same for every container is done once: the
//! host's cgroup layout ([`FrozenCheck`]) and /etc/passwd (owner names).

use std::borrow::Cow;
use std::collections::HashMap;
use std::os::fd::AsRawFd;

use crate::cgroups::FrozenCheck;
use crate::cli::{Cli, Format, ListArgs};
use crate::error::{Error, Kind, Result};
use crate::state::{StateRoot, StateSummary, Status};

struct Row {
    state: StateSummary,
    status: Status,
    /// Shared by every row of the same owner (one name per uid, not one copy per container).
    owner: std::rc::Rc<str>,
}

/// Owner names by uid, /etc/passwd read at most once per `list`.
#[derive(Default)]
struct Owners {
    passwd: Option<String>,
    names: HashMap<u32, std::rc::Rc<str>>,
}

impl Owners {
    fn name(&mut self, uid: u32) -> std::rc::Rc<str> {
        if let Some(n) = self.names.get(&uid) {
            return n.clone();
        }
        let passwd = self.passwd.get_or_insert_with(|| std::fs::read_to_string("/etc/passwd").unwrap_or_default());
        let n: std::rc::Rc<str> = owner_name(passwd, uid).into();
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
    let mut root = match StateRoot::open(&cli.root) {
        Ok(r) => Some(r),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(e, format!("reading state root {}", cli.root.display()))),
    };
    // The root's entries through getdents on the fd already open: names and types borrowed
    // from the kernel's buffer, nothing allocated per entry.
    let mut entries = match &root {
        Some(r) => Some(
            nix::dir::Dir::openat(
                Some(r.as_raw_fd()),
                ".",
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| Error::sys(e, format!("reading state root {}", cli.root.display())))?,
        ),
        None => None,
    };
    for entry in entries.iter_mut().flat_map(|d| d.iter()).flatten() {
        let Some(root) = &mut root else { break };
        // Not a container: a file, or a dir whose name is no valid id (the seccomp cache). The
        // type is readdir's (no stat) where the filesystem gives one; a link is no container.
        let Some(id) = entry.file_name().to_str().ok().filter(|n| crate::state::validate_id(n).is_ok()) else {
            continue;
        };
        let is_dir = match entry.file_type() {
            Some(t) => t == nix::dir::Type::Directory,
            None => root.is_dir(id),
        };
        if !is_dir {
            continue;
        }
        let (st, uid) = match root.summary(id) {
            Ok(st) => st,
            Err(e) => {
                crate::logging::warn(&format!("skipping {}: {e}", cli.root.join(id).display()));
                continue;
            }
        };
        let status = root.status(id, &st, &mut frozen);
        rows.push(Row { state: st, status, owner: owners.name(uid) });
    }
    rows.sort_unstable_by(|a, b| a.state.id.cmp(&b.state.id));
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
            let v: Vec<_> = rows.iter().map(|r| r.state.oci_state(r.status, r.owner.to_string())).collect();
            // runc prints `null` for no containers (a nil slice).
            let out = if v.is_empty() {
                "null".to_string()
            } else {
                serde_json::to_string(&v).map_err(|e| Error::new(Kind::System, e.to_string()))?
            };
            print(&(out + "\n"))?;
        }
        Format::Table => {
            let mut table: Vec<[Cow<str>; 6]> =
                vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(Cow::Borrowed)];
            // The cells straight from the summary (oci_state's annotations map is JSON's only).
            for r in &rows {
                let pid = if r.status == Status::Stopped { 0 } else { r.state.pid };
                table.push([
                    Cow::Borrowed(r.state.id.as_str()),
                    Cow::Owned(pid.to_string()),
                    Cow::Borrowed(r.status.as_str()),
                    r.state.bundle.to_string_lossy(),
                    Cow::Borrowed(r.state.created.as_str()),
                    Cow::Borrowed(&*r.owner),
                ]);
            }
            print(&tabulate(&table))?;
        }
    }
    Ok(())
}

/// The whole output in one write (println! per row is a write(2) per line).
fn print(s: &str) -> Result<()> {
    crate::logging::stdout(s)
}

/// Go's tabwriter as runc configures it (minwidth 12, padding 3): every column but the last
/// is padded to max(12, widest cell + 3).
fn tabulate<S: AsRef<str>, const N: usize>(rows: &[[S; N]]) -> String {
    let cols = N;
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().map(|r| r[c].as_ref().chars().count() + 3).max().unwrap_or(0).max(12)).collect();
    let mut out = String::with_capacity(rows.len() * (widths.iter().sum::<usize>() + 1));
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            let cell = cell.as_ref();
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
        let t = tabulate(&[["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]);
        assert_eq!(t, "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n");
    }
}

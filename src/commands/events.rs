//! `husk events [--interval D] [--stats] ID`: the container's events as JSON lines, runc's
//! format: `{"type":"stats","id":…,"data":{…}}` every interval (the first after one interval)
//! and `{"type":"oom","id":…}` for each process the OOM killer kills in the container's cgroup
//! (read from the cgroup's oom_kill counter, checked more often than stats are printed).
//! The stream ends when the container stops or its cgroup goes away. `--stats` prints one
//! stats event and exits.
//!
//! The container's lock is not held while streaming: kill, update and delete must get through.

use std::io::Write;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cgroups::Cgroup;
use crate::cli::{Cli, EventsArgs};
use crate::error::{Context, Error, Result};
use crate::state::{StateDir, Status};

/// How often the OOM counter and the container's liveness are checked.
const POLL: Duration = Duration::from_millis(100);

pub fn events(cli: &Cli, a: &EventsArgs) -> Result<()> {
    let id = a.id.as_str();
    let interval = parse_duration(&a.interval)
        .map_err(|e| Error::invalid_arg(format!("invalid value {:?} for --interval: {e}", a.interval)))?;
    let (st, dir_path) = {
        let dir = StateDir::open(&cli.root, id)?;
        (dir.load()?, dir.path().to_path_buf())
    };
    if st.status(&dir_path) == Status::Stopped {
        return Err(Error::bad_state(format!("container {id} is not running")));
    }
    let cg = Cgroup::open(&st.cgroup).with_context(|| format!("reading events of container {id}"))?;
    let mut out = std::io::stdout().lock();
    if a.stats {
        let data = cg.stats().with_context(|| format!("reading statistics of container {id}"))?;
        // A closed stdout is the reader's choice, not an error of ours.
        let _ = emit(&mut out, &stats_event(id, data));
        return Ok(());
    }
    let mut ooms = cg.oom_kills().unwrap_or(0);
    let mut next_stats = Instant::now() + interval;
    loop {
        let stopped = st.status(&dir_path) == Status::Stopped || !dir_path.exists();
        // After a stop too: an OOM kill of the init is what stopped it.
        let Ok(now_ooms) = cg.oom_kills() else { return Ok(()) };
        for _ in ooms..now_ooms {
            if emit(&mut out, &oom_event(id)).is_err() {
                return Ok(());
            }
        }
        ooms = ooms.max(now_ooms);
        if stopped {
            return Ok(());
        }
        if Instant::now() >= next_stats {
            next_stats += interval;
            match cg.stats() {
                Ok(data) => {
                    if emit(&mut out, &stats_event(id, data)).is_err() {
                        return Ok(());
                    }
                }
                Err(e) => crate::logging::warn(&format!("reading statistics of container {id}: {e}")),
            }
        }
        sleep(POLL.min(next_stats.saturating_duration_since(Instant::now())).max(Duration::from_millis(1)));
    }
}

/// runc's key order (type, id, data), which a serde_json object would sort.
fn stats_event(id: &str, data: Value) -> String {
    format!(r#"{{"type":"stats","id":{},"data":{data}}}"#, Value::from(id))
}

fn oom_event(id: &str) -> String {
    format!(r#"{{"type":"oom","id":{}}}"#, Value::from(id))
}

fn emit(out: &mut impl Write, ev: &str) -> std::io::Result<()> {
    writeln!(out, "{ev}")?;
    out.flush()
}

/// A Go `time.ParseDuration` string ("5s", "100ms", "1m30s", "1.5s"), which must be > 0.
fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    if rest == "0" {
        return Err("duration interval must be greater than 0".into());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, tail) = rest.split_at(n_end);
        let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
        let u_end = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(u_end);
        let secs = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("missing unit in duration {s:?}")),
            u => return Err(format!("unknown unit {u:?} in duration {s:?}")),
        };
        total += n * secs;
        rest = tail;
    }
    if total <= 0.0 {
        return Err("duration interval must be greater than 0".into());
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0").unwrap_err().contains("greater than 0"));
        assert!(parse_duration("0s").unwrap_err().contains("greater than 0"));
        for bad in ["", "5", "5x", "s", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stats_event_shape() {
        let e = stats_event("c1", json!({"pids": {"current": 1}}));
        assert_eq!(oom_event("c\"1"), r#"{"type":"oom","id":"c\"1"}"#);
        assert_eq!(e, r#"{"type":"stats","id":"c1","data":{"pids":{"current":1}}}"#);
    }
}

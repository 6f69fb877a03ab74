//! runc-style logging: `--log FILE --log-format json` writes one JSON object a line
//! (`{"level":"error","msg":"...","time":"..."}`), text format writes logrus-style
//! `time="..." level=error msg="..."`. containerd and conmon show the last `msg` to the user.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cli::LogFormat;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warning",
            Level::Error => "error",
        }
    }
}

struct Logger {
    file: Option<File>,
    format: LogFormat,
    min: Level,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// A command's output on stdout, in one write. A reader that has gone (`husk list | head -1`)
/// ends us as it ends runc (Go dies of SIGPIPE on a broken stdout): quietly, by SIGPIPE, where
/// Rust's own printing would panic (and abort) or the write would come back as an error. Only
/// here: everywhere else SIGPIPE stays ignored, so that a closed socket or hook pipe is an error
/// to handle, never the end of a create half done.
pub fn stdout(text: &str) -> crate::error::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
            let _ = crate::sys::process::default_signal(libc::SIGPIPE);
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGPIPE);
            std::process::exit(128 + libc::SIGPIPE)
        }
        Err(e) => Err(crate::error::Error::io(e, "writing to stdout")),
    }
}

/// Set up the process-wide logger. Without a file, log lines go to stderr.
pub fn init(path: Option<&Path>, format: LogFormat, debug: bool) -> std::io::Result<()> {
    let file = match path {
        Some(p) => Some(OpenOptions::new().create(true).append(true).open(p)?),
        None => None,
    };
    let min = if debug { Level::Debug } else { Level::Warn };
    let _ = LOGGER.set(Logger { file, format, min });
    Ok(())
}

pub fn log(level: Level, msg: &str) {
    let Some(l) = LOGGER.get() else { return };
    if level < l.min {
        return;
    }
    let line = format_line(l.format, level, msg, &rfc3339_seconds_now());
    match &l.file {
        // One write(2) per line on an O_APPEND file: lines of concurrent writers never interleave.
        Some(f) => {
            let _ = (&*f).write_all(line.as_bytes());
        }
        // No log file: runc writes its log lines (errors included) to stderr.
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

pub fn error(msg: &str) {
    log(Level::Error, msg);
}

pub fn warn(msg: &str) {
    log(Level::Warn, msg);
}

pub fn debug(msg: &str) {
    log(Level::Debug, msg);
}

fn debug_enabled() -> bool {
    LOGGER.get().is_some_and(|l| l.min <= Level::Debug)
}

/// Phase timings of a command, logged at debug level (`--debug`) as one structured line per
/// phase: `msg="create phase=cgroup ms=0.412"`. Without `--debug` it never reads the clock.
pub struct Phases {
    what: &'static str,
    last: Option<std::time::Instant>,
}

impl Phases {
    pub fn start(what: &'static str) -> Self {
        Phases { what, last: debug_enabled().then(std::time::Instant::now) }
    }

    /// The phase that ends now.
    pub fn mark(&mut self, phase: &str) {
        if let Some(t) = self.last {
            let now = std::time::Instant::now();
            debug(&format!("{} phase={phase} ms={:.3}", self.what, (now - t).as_secs_f64() * 1e3));
            self.last = Some(now);
        }
    }
}

fn format_line(format: LogFormat, level: Level, msg: &str, time: &str) -> String {
    match format {
        LogFormat::Json => {
            let v = serde_json::json!({"level": level.as_str(), "msg": msg, "time": time});
            format!("{v}\n")
        }
        LogFormat::Text => {
            let quoted = serde_json::Value::String(msg.to_string());
            format!("time=\"{time}\" level={} msg={quoted}\n", level.as_str())
        }
    }
}

/// Current UTC time as RFC 3339 with nanoseconds, e.g. `2026-11-26T16:30:00.123456789Z`.
pub fn rfc3339_now() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

/// Log timestamps, like runc's: `2026-11-26T16:34:56Z`.
pub fn rfc3339_seconds_now() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut s = rfc3339(d.as_secs() as i64, 0);
    s.replace_range(s.len() - 11..s.len() - 1, "");
    s
}

/// Whether log lines go to a file (then main also prints the bare error to stderr).
pub fn has_file() -> bool {
    LOGGER.get().is_some_and(|l| l.file.is_some())
}

pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
/// Also the man pages' date (hack/gen-docs).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_795_710_896, 0), "2026-11-26T16:34:56.000000000Z");
    }

    #[test]
    fn seconds_timestamp() {
        let s = rfc3339_seconds_now();
        assert_eq!(s.len(), 20, "{s}");
        assert!(s.ends_with('Z') && s.as_bytes()[10] == b'T', "{s}");
    }

    #[test]
    fn json_line_is_runc_shaped() {
        let line = format_line(LogFormat::Json, Level::Error, "bad \"x\"", "T");
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "bad \"x\"");
        assert_eq!(v["time"], "T");
        assert!(line.ends_with('\n'));
    }

    #[test]
    fn text_line_quotes_message() {
        let line = format_line(LogFormat::Text, Level::Warn, "a b", "T");
        assert_eq!(line, "time=\"T\" level=warning msg=\"a b\"\n");
    }
}

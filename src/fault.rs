//! Fault injection for crash-safety tests: `HUSK_FAULT=<point>[,<point>...]` makes husk
//! SIGKILL itself when it reaches a named point of create, start, exec or delete, as an
//! orchestrator's timeout would. Without the variable every point is one load of a cached
//! flag (the environment is read once per process). Points are listed in [`POINTS`] and in
//! docs/reliability.md; `HUSK_FAULT=list` prints them to stderr at the first point reached.

use std::sync::OnceLock;

/// Every fault point, in the order a container's life reaches them.
pub const POINTS: &[&str] = &[
    "create:state-dir",
    "create:first-state",
    "create:cgroup",
    "create:fifo",
    "create:forked",
    "create:in-cgroup",
    "create:ready",
    "create:saved",
    "start:opened",
    "start:written",
    "exec:forked",
    "exec:ready",
    "delete:locked",
    "delete:killed",
    "delete:cgroup-removed",
];

fn armed() -> &'static [String] {
    static ARMED: OnceLock<Vec<String>> = OnceLock::new();
    ARMED.get_or_init(|| match std::env::var("HUSK_FAULT") {
        Ok(v) if !v.is_empty() => v.split(',').map(|s| s.trim().to_string()).collect(),
        _ => Vec::new(),
    })
}

/// Die by SIGKILL here if `HUSK_FAULT` names this point (also in a forked child, which is
/// the same image: points are only placed in the runtime's own code paths).
#[inline]
pub fn point(name: &'static str) {
    let armed = armed();
    if armed.is_empty() {
        return;
    }
    debug_assert!(POINTS.contains(&name), "unlisted fault point {name}");
    if armed.iter().any(|a| a == "list") {
        eprintln!("husk fault points: {}", POINTS.join(" "));
    }
    if armed.iter().any(|a| a == name) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
        // SIGKILL to ourselves is delivered before kill(2) returns; never continue.
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn points_are_unique_and_named_by_command() {
        let mut seen = std::collections::HashSet::new();
        for p in super::POINTS {
            assert!(seen.insert(p), "{p} twice");
            let (cmd, what) = p.split_once(':').unwrap();
            assert!(["create", "start", "exec", "delete"].contains(&cmd), "{p}");
            assert!(!what.is_empty());
        }
    }
}

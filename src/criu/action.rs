//! husk as CRIU's action script during a restore: CRIU runs `--action-script` (husk's own
//! binary, no arguments) at each step with CRTOOLS_SCRIPT_ACTION set; the restoring husk adds
//! the container's state directory to CRIU's environment ([`ENV_STATE_DIR`]). At
//! "setup-namespaces" the restored init exists with its namespaces (CRTOOLS_INIT_PID) but runs
//! nothing yet: the prestart and createRuntime hooks run then, as runc runs them at restore.
//! Every other action is acknowledged.

use std::path::Path;

use crate::error::{Error, Kind, Result};
use crate::state::Status;

/// The state directory of the container being restored, in CRIU's (and so our) environment.
pub const ENV_STATE_DIR: &str = "HUSK_CRIU_STATE_DIR";

/// When CRIU started us as an action script of a husk restore: handle the action and return
/// the exit status (0 lets CRIU go on). None for every normal invocation.
pub fn from_env() -> Option<i32> {
    let action = std::env::var("CRTOOLS_SCRIPT_ACTION").ok()?;
    let dir = std::env::var_os(ENV_STATE_DIR)?;
    if std::env::args_os().count() > 1 {
        return None;
    }
    Some(match handle(&action, Path::new(&dir), std::env::var("CRTOOLS_INIT_PID").ok().as_deref()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("husk: criu action {action}: {e}");
            1
        }
    })
}

fn handle(action: &str, dir: &Path, init_pid: Option<&str>) -> Result<()> {
    if action != "setup-namespaces" {
        return Ok(());
    }
    let pid: i32 = init_pid
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| Error::new(Kind::System, "CRTOOLS_INIT_PID is not set by criu"))?;
    // The restoring husk holds the container's lock: read without it.
    let mut st = crate::state::read_state(dir)?;
    st.pid = pid;
    if let Some(h) = st.config.hooks().as_ref() {
        if let Some(prestart) = h.prestart().as_deref().filter(|l| !l.is_empty()) {
            crate::hooks::run_hooks("prestart", prestart, &st.hook_json(Status::Created))?;
        }
        let json = st.hook_json(Status::Creating);
        crate::hooks::run_hooks("createRuntime", h.create_runtime().as_deref().unwrap_or_default(), &json)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_actions_are_acknowledged() {
        assert!(handle("post-restore", Path::new("/nonexistent"), None).is_ok());
        assert!(handle("network-unlock", Path::new("/nonexistent"), None).is_ok());
        assert!(handle("setup-namespaces", Path::new("/nonexistent"), None).is_err());
    }
}

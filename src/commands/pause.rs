//! `husk pause ID` / `husk resume ID`: freeze and thaw every process of the container through
//! the cgroup freezer (v1 freezer.state, v2 cgroup.freeze), returning once the freezer reports
//! FROZEN / THAWED.
//!
//! Like runc: a created or running container can be paused (a paused created container
//! resumes to `created`); only a paused one can be resumed.

use crate::cgroups::Cgroup;
use crate::cli::Cli;
use crate::error::{Context, Error, Result};
use crate::state::{StateDir, Status};

pub fn pause(cli: &Cli, id: &str) -> Result<()> {
    let dir = StateDir::open(&cli.root, id)?;
    let st = dir.load()?;
    if !may_pause(st.status(dir.path())) {
        return Err(Error::bad_state(format!("container {id} is not running")));
    }
    Cgroup::open(&st.cgroup).and_then(|cg| cg.freeze()).with_context(|| format!("pausing container {id}"))
}

pub fn resume(cli: &Cli, id: &str) -> Result<()> {
    let dir = StateDir::open(&cli.root, id)?;
    let st = dir.load()?;
    if !may_resume(st.status(dir.path())) {
        return Err(Error::bad_state(format!("container {id} is not paused")));
    }
    Cgroup::open(&st.cgroup).and_then(|cg| cg.thaw()).with_context(|| format!("resuming container {id}"))
}

/// runc pauses created and running containers (a paused one is "not running").
fn may_pause(s: Status) -> bool {
    matches!(s, Status::Created | Status::Running)
}

fn may_resume(s: Status) -> bool {
    s == Status::Paused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_like_runc() {
        use Status::*;
        let pausable: Vec<Status> =
            [Creating, Created, Running, Paused, Stopped].into_iter().filter(|s| may_pause(*s)).collect();
        assert_eq!(pausable, [Created, Running]);
        let resumable: Vec<Status> =
            [Creating, Created, Running, Paused, Stopped].into_iter().filter(|s| may_resume(*s)).collect();
        assert_eq!(resumable, [Paused]);
    }
}

//! One file per verb: orchestration only, the work is in the modules they call.

pub mod checkpoint;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod restore;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use crate::cli::{Cli, Command};
use crate::error::Result;

/// Run the parsed command; Ok(code) is the exit status to use.
pub fn dispatch(cli: &Cli, cmd: &Command) -> Result<i32> {
    match cmd {
        Command::Create(a) => create::create(cli, a).map(|_| 0),
        Command::Start(a) => start::start(cli, &a.id).map(|_| 0),
        Command::State(a) => state::state(cli, &a.id).map(|_| 0),
        Command::Kill(a) => kill::kill(cli, a).map(|_| 0),
        Command::Delete(a) => delete::delete(cli, a).map(|_| 0),
        Command::Run(a) => run::run(cli, a),
        Command::Exec(a) => exec::exec(cli, a),
        Command::Spec(a) => spec::spec(a).map(|_| 0),
        Command::List(a) => list::list(cli, a).map(|_| 0),
        Command::Ps(a) => ps::ps(cli, a).map(|_| 0),
        Command::Pause(a) => pause::pause(cli, &a.id).map(|_| 0),
        Command::Resume(a) => pause::resume(cli, &a.id).map(|_| 0),
        Command::Update(a) => update::update(cli, a).map(|_| 0),
        Command::Events(a) => events::events(cli, a).map(|_| 0),
        Command::Features => features::features().map(|_| 0),
        Command::Checkpoint(a) => checkpoint::checkpoint(cli, a).map(|_| 0),
        Command::Restore(a) => restore::restore(cli, a),
    }
}

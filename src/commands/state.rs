//! `husk state`: the OCI state JSON, status derived from the init's liveness.

use crate::cli::Cli;
use crate::error::{Error, Kind, Result};
use crate::state::{read_state_summary, validate_id};

pub fn state(cli: &Cli, id: &str) -> Result<()> {
    validate_id(id)?;
    let dir = cli.root.join(id);
    if !dir.is_dir() {
        return Err(Error::not_found(format!("container {id} does not exist")));
    }
    // Without decoding the config: `state` prints none of it.
    let st = read_state_summary(&dir)?;
    // runc's `state` leaves owner empty (only `list` fills it in).
    let json = st.oci_state(st.status_unlocked(&dir, &mut crate::cgroups::FrozenCheck::default()), String::new());
    let out =
        serde_json::to_string_pretty(&json).map_err(|e| Error::new(Kind::System, format!("encoding state: {e}")))?;
    crate::logging::stdout(&(out + "\n"))
}

//! OCI lifecycle hooks. Placeholder until the hooks module lands: hooks are refused clearly.
use crate::error::{Error, Result};
pub fn run_hooks(kind: &str, hooks: &[oci_spec::runtime::Hook], _state: &[u8]) -> Result<()> {
    if hooks.is_empty() {
        return Ok(());
    }
    Err(Error::invalid_spec(format!("hooks.{kind}: hooks are not supported by this build of husk yet")))
}

//! Terminals. Placeholder until the console module lands: a terminal is refused clearly.
use crate::error::{Error, Result};
pub fn setup_console(_sock: std::os::fd::BorrowedFd, _size: Option<(u16, u16)>) -> Result<()> {
    Err(Error::invalid_spec("process.terminal: terminals are not supported by this build of husk yet"))
}
pub fn connect_console_socket(p: &std::path::Path) -> Result<std::os::fd::OwnedFd> {
    Err(Error::invalid_arg(format!("console socket {}: terminals are not supported by this build yet", p.display())))
}

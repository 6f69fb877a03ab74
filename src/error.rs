//! The one error type of husk: a kind callers can match, a context chain, and the errno.
//!
//! Messages read "lowercase verb + object + cause", outermost context first:
//! `creating container c1: mounting proc at /proc in rootfs /b/rootfs: EPERM: Operation not permitted`.

use std::fmt;

use nix::errno::Errno;

/// What went wrong, coarsely: enough for callers (and exit codes) to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A container, file or object does not exist.
    NotFound,
    /// Something that must be unique already exists (a container id).
    Exists,
    /// The operation is not valid in the container's current state.
    BadState,
    /// config.json (or another JSON input) is malformed or violates the spec.
    InvalidSpec,
    /// A command-line argument is invalid (bad id, unknown signal...).
    InvalidArg,
    /// A system call or the environment failed.
    System,
}

#[derive(Debug, Clone)]
pub struct Error {
    kind: Kind,
    /// Context frames, outermost first, then the root cause.
    chain: Vec<String>,
    errno: Option<Errno>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: Kind, msg: impl Into<String>) -> Self {
        Error { kind, chain: vec![msg.into()], errno: None }
    }

    /// A failed system call: `what` names the operation and object ("mounting proc at /proc").
    pub fn sys(errno: Errno, what: impl Into<String>) -> Self {
        let kind = if errno == Errno::ENOENT { Kind::NotFound } else { Kind::System };
        Error { kind, chain: vec![what.into(), errno_text(errno)], errno: Some(errno) }
    }

    pub fn io(err: std::io::Error, what: impl Into<String>) -> Self {
        match err.raw_os_error() {
            Some(n) => Error::sys(Errno::from_raw(n), what),
            None => Error { kind: Kind::System, chain: vec![what.into(), err.to_string()], errno: None },
        }
    }

    pub fn invalid_spec(msg: impl Into<String>) -> Self {
        Error::new(Kind::InvalidSpec, msg)
    }

    pub fn invalid_arg(msg: impl Into<String>) -> Self {
        Error::new(Kind::InvalidArg, msg)
    }

    pub fn bad_state(msg: impl Into<String>) -> Self {
        Error::new(Kind::BadState, msg)
    }

    pub fn not_found(msg: impl Into<String>) -> Self {
        Error::new(Kind::NotFound, msg)
    }

    /// Wrap with an outer frame of context.
    pub fn context(mut self, ctx: impl Into<String>) -> Self {
        self.chain.insert(0, ctx.into());
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn errno(&self) -> Option<Errno> {
        self.errno
    }

    /// The innermost message (the cause), without the context frames.
    pub fn root_cause(&self) -> &str {
        self.chain.last().map(String::as_str).unwrap_or("")
    }
}

/// `EPERM: Operation not permitted`
pub fn errno_text(e: Errno) -> String {
    e.to_string()
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.chain.join(": "))
    }
}

impl std::error::Error for Error {}

impl From<Errno> for Error {
    fn from(e: Errno) -> Self {
        Error { kind: Kind::System, chain: vec![errno_text(e)], errno: Some(e) }
    }
}

/// `.context(|| format!(...))` on any result whose error converts into [`Error`].
pub trait Context<T> {
    fn context<C: Into<String>>(self, ctx: C) -> Result<T>;
    fn with_context<C: Into<String>, F: FnOnce() -> C>(self, f: F) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context<C: Into<String>>(self, ctx: C) -> Result<T> {
        self.map_err(|e| e.into().context(ctx))
    }
    fn with_context<C: Into<String>, F: FnOnce() -> C>(self, f: F) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(n) => Errno::from_raw(n).into(),
            None => Error { kind: Kind::System, chain: vec![e.to_string()], errno: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_reads_outermost_first() {
        let e = Error::sys(Errno::EPERM, "mounting proc at /proc").context("creating container c1");
        assert_eq!(e.to_string(), "creating container c1: mounting proc at /proc: EPERM: Operation not permitted");
        assert_eq!(e.kind(), Kind::System);
        assert_eq!(e.errno(), Some(Errno::EPERM));
    }

    #[test]
    fn enoent_is_not_found() {
        let e = Error::sys(Errno::ENOENT, "opening x");
        assert_eq!(e.kind(), Kind::NotFound);
        let r: std::result::Result<(), Errno> = Err(Errno::EINVAL);
        let e = r.context("setting y").unwrap_err();
        assert_eq!(e.to_string(), "setting y: EINVAL: Invalid argument");
    }
}

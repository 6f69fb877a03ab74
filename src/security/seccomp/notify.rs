//! Handing the SCMP_ACT_NOTIFY listener to the seccomp agent at `linux.seccomp.listenerPath`.
//!
//! Runs in the runtime parent. The flow, the one runc uses:
//! 1. the container init loads the filter ([`super::Program::install`] returns the listener),
//!    writes the listener's fd *number* to the runtime over its sync pipe (only `write`, which
//!    is why NOTIFY on `write` is refused), and waits for the runtime's go-ahead;
//! 2. the runtime copies the fd out of the init with [`take_listener`] (pidfd_getfd), and calls
//!    [`send_listener`], which connects to listenerPath and sends the fd with SCM_RIGHTS along
//!    with the container process state JSON;
//! 3. the runtime releases the init, which closes its copy of the listener and execs.
//!
//! Doing the transfer from the runtime rather than the init keeps socket/connect/sendmsg out of
//! the filtered process: a profile may well route those to the agent.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use nix::sys::socket::{
    connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use oci_spec::runtime::{ContainerProcessState, State, SECCOMP_FD_NAME};

use crate::error::{Context, Error, Result};
use crate::sys::seccomp as sys;

/// Copy the listener (fd number `fd` in the container init behind `init_pidfd`) into the runtime.
pub fn take_listener(init_pidfd: BorrowedFd<'_>, fd: RawFd) -> Result<OwnedFd> {
    sys::pidfd_getfd(init_pidfd, fd).context("taking the seccomp listener")
}

/// The JSON the agent receives: runtime-spec `ContainerProcessState`.
pub fn process_state_json(pid: i32, metadata: Option<&str>, state: &State) -> Result<String> {
    let mut st = ContainerProcessState::default();
    st.set_version(state.version().clone());
    st.set_fds(vec![SECCOMP_FD_NAME.to_string()]);
    st.set_pid(pid);
    st.set_metadata(metadata.map(str::to_string));
    st.set_state(state.clone());
    serde_json::to_string(&st).map_err(|e| Error::invalid_arg(format!("encoding the container process state: {e}")))
}

/// Send `listener` to the agent listening on the unix socket `listener_path`, with SCM_RIGHTS,
/// the message being the container process state (`pid` of the container process,
/// `listenerMetadata`, and the container's `state`).
pub fn send_listener(
    listener: BorrowedFd<'_>,
    listener_path: &Path,
    pid: i32,
    metadata: Option<&str>,
    state: &State,
) -> Result<()> {
    // runc: "failed to connect with seccomp agent specified in the seccomp profile: dial unix P".
    let connecting = || {
        format!("failed to connect with the seccomp agent at {} (linux.seccomp.listenerPath)", listener_path.display())
    };
    let what = || format!("sending the seccomp listener to the agent at {}", listener_path.display());
    let msg = process_state_json(pid, metadata, state)?;
    let sock = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).with_context(connecting)?;
    let addr = UnixAddr::new(listener_path).with_context(connecting)?;
    connect(sock.as_raw_fd(), &addr).with_context(connecting)?;
    let fds = [listener.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(msg.as_bytes())];
    let n = sendmsg::<UnixAddr>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).with_context(what)?;
    if n != msg.len() {
        return Err(Error::sys(nix::errno::Errno::EMSGSIZE, what()).context("short write"));
    }
    Ok(())
}

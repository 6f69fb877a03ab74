//! Receiving file descriptors over unix sockets (SCM_RIGHTS) as owned fds.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use crate::error::{Error, Result};

/// One `recvmsg` on `sock` into `buf`, accepting up to 8 fds (received CLOEXEC; the kernel
/// drops any beyond). Returns the payload length and the fds, each owned (closed on drop).
/// Retries on EINTR.
pub fn recv_with_fds(sock: BorrowedFd, buf: &mut [u8]) -> Result<(usize, Vec<OwnedFd>)> {
    let mut cmsg_buf = nix::cmsg_space!([RawFd; 8]);
    loop {
        let mut iov = [IoSliceMut::new(buf)];
        match recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg_buf), MsgFlags::MSG_CMSG_CLOEXEC) {
            Ok(msg) => {
                let mut raw: Vec<RawFd> = Vec::new();
                if let Ok(cmsgs) = msg.cmsgs() {
                    for c in cmsgs {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            raw.extend(fds);
                        }
                    }
                }
                // SAFETY: the kernel installed these fds in our table for this message just
                // now; nothing else refers to them, so each gets exactly one owner.
                let fds = raw.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }).collect();
                return Ok((msg.bytes, fds));
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys(e, "receiving a message with file descriptors")),
        }
    }
}

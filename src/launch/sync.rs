//! Typed messages between the runtime parent and the container's init over a
//! SOCK_SEQPACKET socketpair: one message a packet, so no framing is needed.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};

use crate::error::{Error, Result};
use crate::sys::fs::own_fd;

/// A message from one side to the other.
#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    /// parent → child: you are in your cgroup (and, with a user namespace created by clone,
    /// its id maps are written): go on.
    Go,
    /// child → parent: I unshared a user namespace; write the id maps for process `pid`.
    NeedMaps(i32),
    /// parent → child: the id maps are written.
    MapsDone,
    /// child (stage 1) → parent: the container's init is process `pid` (a sibling of mine).
    Stage2(i32),
    /// child → parent: run the createRuntime/prestart hooks now (the namespaces exist).
    RunHooks,
    /// parent → child: hooks ran; the init's host pid, for the state JSON of the
    /// createContainer and startContainer hooks the init runs itself (the rest of that
    /// state is in the plan: it can be bigger than one packet).
    HooksDone(i32),
    /// child → parent: the seccomp filter is loaded and its notification listener is fd
    /// `fd` of mine: take it (pidfd_getfd) and send it to the agent at listenerPath. Sent with
    /// write(2) (see [`Channel::send_by_write`]).
    SeccompListener(i32),
    /// parent → child: the agent has the listener; close your copy and go on.
    SeccompListenerSent,
    /// child → parent: set-up is complete; init waits for `start`.
    Ready,
    /// child → parent: set-up failed with this message.
    Fail(String),
}

const TAG_GO: u8 = 1;
const TAG_NEED_MAPS: u8 = 2;
const TAG_MAPS_DONE: u8 = 3;
const TAG_STAGE2: u8 = 4;
const TAG_RUN_HOOKS: u8 = 5;
const TAG_HOOKS_DONE: u8 = 6;
const TAG_READY: u8 = 7;
const TAG_FAIL: u8 = 8;
const TAG_SECCOMP_LISTENER: u8 = 9;
const TAG_SECCOMP_LISTENER_SENT: u8 = 10;

impl Msg {
    fn encode(&self, buf: &mut Vec<u8>) {
        buf.clear();
        match self {
            Msg::Go => buf.push(TAG_GO),
            Msg::NeedMaps(p) => {
                buf.push(TAG_NEED_MAPS);
                buf.extend_from_slice(&p.to_le_bytes());
            }
            Msg::MapsDone => buf.push(TAG_MAPS_DONE),
            Msg::Stage2(p) => {
                buf.push(TAG_STAGE2);
                buf.extend_from_slice(&p.to_le_bytes());
            }
            Msg::RunHooks => buf.push(TAG_RUN_HOOKS),
            Msg::HooksDone(p) => {
                buf.push(TAG_HOOKS_DONE);
                buf.extend_from_slice(&p.to_le_bytes());
            }
            Msg::SeccompListener(fd) => {
                buf.push(TAG_SECCOMP_LISTENER);
                buf.extend_from_slice(&fd.to_le_bytes());
            }
            Msg::SeccompListenerSent => buf.push(TAG_SECCOMP_LISTENER_SENT),
            Msg::Ready => buf.push(TAG_READY),
            Msg::Fail(s) => {
                buf.push(TAG_FAIL);
                buf.extend_from_slice(s.as_bytes());
            }
        }
    }

    fn decode(b: &[u8]) -> Option<Msg> {
        let int = || b.get(1..5).map(|s| i32::from_le_bytes([s[0], s[1], s[2], s[3]]));
        Some(match *b.first()? {
            TAG_GO => Msg::Go,
            TAG_NEED_MAPS => Msg::NeedMaps(int()?),
            TAG_MAPS_DONE => Msg::MapsDone,
            TAG_STAGE2 => Msg::Stage2(int()?),
            TAG_RUN_HOOKS => Msg::RunHooks,
            TAG_HOOKS_DONE => Msg::HooksDone(int()?),
            TAG_SECCOMP_LISTENER => Msg::SeccompListener(int()?),
            TAG_SECCOMP_LISTENER_SENT => Msg::SeccompListenerSent,
            TAG_READY => Msg::Ready,
            TAG_FAIL => Msg::Fail(String::from_utf8_lossy(&b[1..]).into_owned()),
            _ => return None,
        })
    }
}

/// One end of the channel.
pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair: (parent end, child end). Both CLOEXEC.
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|e| Error::sys(e, "creating the parent/child socketpair"))?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send(&self, m: &Msg) -> Result<()> {
        let mut buf = Vec::with_capacity(64);
        m.encode(&mut buf);
        loop {
            match send(self.fd.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys(e, format!("sending {m:?} to the other side"))),
            }
        }
    }

    /// Like [`Channel::send`] but with write(2) rather than sendto(2): for the one message the
    /// init sends after loading a seccomp filter with SCMP_ACT_NOTIFY rules and before the agent
    /// holds the listener. A notified syscall would block forever there; the compiler refuses
    /// NOTIFY on `write` (as runc does), so write(2) is the call that is known to get through.
    pub fn send_by_write(&self, m: &Msg) -> Result<()> {
        let mut buf = Vec::with_capacity(64);
        m.encode(&mut buf);
        loop {
            match nix::unistd::write(&self.fd, &buf) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys(e, format!("sending {m:?} to the other side"))),
            }
        }
    }

    /// Receive one message; `None` when the other side closed (exited).
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    return Msg::decode(&buf[..n])
                        .map(Some)
                        .ok_or_else(|| Error::new(crate::Kind::System, "malformed message on the sync socket"))
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys(e, "receiving from the other side")),
            }
        }
    }

    /// Receive and insist on one kind of message.
    pub fn expect(&self, want: Msg) -> Result<()> {
        match self.recv()? {
            Some(m) if m == want => Ok(()),
            Some(m) => {
                Err(Error::new(crate::Kind::System, format!("expected {want:?} from the other side, got {m:?}")))
            }
            None => Err(Error::new(crate::Kind::System, format!("the other side exited while we waited for {want:?}"))),
        }
    }

    pub fn raw(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.fd)
    }

    pub fn from_fd(fd: i32) -> Channel {
        Channel { fd: own_fd(fd) }
    }
}

/// The runtime's side of a set-up conversation with a second stage (a second fork into the pid
/// or time namespace; see [`super::fork_stage2`]). The second stage shares the channel with the
/// first, which announces it (Stage2) and exits; the second may speak before that announcement
/// has been read. Its RunHooks, SeccompListener and Ready are about its own pid, which the
/// runtime does not know yet: [`Stage2Gate::recv`] holds them until Stage2 has come and gives
/// them out after it, in the order they came. Every other message passes at once.
pub(crate) struct Stage2Gate {
    waiting: bool,
    held: std::collections::VecDeque<Msg>,
}

impl Stage2Gate {
    /// `stage2`: the process forks a second stage (else nothing is ever held).
    pub(crate) fn new(stage2: bool) -> Self {
        Stage2Gate { waiting: stage2, held: Default::default() }
    }

    /// The next message to act on; `None` when the other side closed (exited). After a
    /// `Stage2(pid)`, every message is about `pid`.
    pub(crate) fn recv(&mut self, ch: &Channel) -> Result<Option<Msg>> {
        if !self.waiting {
            if let Some(m) = self.held.pop_front() {
                return Ok(Some(m));
            }
        }
        loop {
            match ch.recv()? {
                Some(m @ (Msg::RunHooks | Msg::SeccompListener(_) | Msg::Ready)) if self.waiting => {
                    self.held.push_back(m)
                }
                Some(m) => {
                    if matches!(m, Msg::Stage2(_)) {
                        self.waiting = false;
                    }
                    return Ok(Some(m));
                }
                None => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let (a, b) = pair().unwrap();
        for m in [
            Msg::Go,
            Msg::NeedMaps(42),
            Msg::MapsDone,
            Msg::Stage2(-1),
            Msg::RunHooks,
            Msg::HooksDone(7),
            Msg::SeccompListener(7),
            Msg::SeccompListenerSent,
            Msg::Ready,
            Msg::Fail("x: y".into()),
        ] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), Some(m));
        }
        a.send_by_write(&Msg::SeccompListener(12)).unwrap();
        assert_eq!(b.recv().unwrap(), Some(Msg::SeccompListener(12)));
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }

    #[test]
    fn the_second_stage_is_heard_only_after_it_is_announced() {
        let (parent, child) = pair().unwrap();
        for m in [Msg::NeedMaps(5), Msg::RunHooks, Msg::SeccompListener(9), Msg::Stage2(42), Msg::Ready] {
            child.send(&m).unwrap();
        }
        drop(child);
        let mut gate = Stage2Gate::new(true);
        let mut got = Vec::new();
        while let Some(m) = gate.recv(&parent).unwrap() {
            got.push(m);
        }
        let want = [Msg::NeedMaps(5), Msg::Stage2(42), Msg::RunHooks, Msg::SeccompListener(9), Msg::Ready];
        assert_eq!(got, want);
    }

    #[test]
    fn without_a_second_stage_nothing_is_held() {
        let (parent, child) = pair().unwrap();
        child.send(&Msg::Ready).unwrap();
        child.send(&Msg::Fail("x".into())).unwrap();
        let mut gate = Stage2Gate::new(false);
        assert_eq!(gate.recv(&parent).unwrap(), Some(Msg::Ready));
        assert_eq!(gate.recv(&parent).unwrap(), Some(Msg::Fail("x".into())));
    }
}

//! linux.netDevices: move host network interfaces into the container's network namespace
//! (optionally renamed) with one rtnetlink RTM_NEWLINK request each. Runs in the runtime once
//! the init's network namespace exists. On delete the kernel does the rest: when the
//! namespace goes away, physical devices return to the root namespace and virtual ones
//! (veth...) are destroyed, as the runtime-spec expects.

use std::os::fd::AsRawFd;

use nix::sys::socket::{
    bind, recv, sendto, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};
use nix::unistd::Pid;

use crate::error::{Context, Error, Kind, Result};

const RTM_NEWLINK: u16 = 16;
const NLM_F_REQUEST: u16 = 0x01;
const NLM_F_ACK: u16 = 0x04;
const NLMSG_ERROR: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_PID: u16 = 19;

fn push_attr(buf: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(data);
    while buf.len() % 4 != 0 {
        buf.push(0);
    }
}

/// The RTM_NEWLINK message moving interface `index` into the namespace of `pid`, renamed to
/// `new_name` if given. Pure, for tests.
pub fn move_request(index: u32, pid: i32, new_name: Option<&str>, seq: u32) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    // struct ifinfomsg: family, pad, type, index, flags, change
    b.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    b.extend_from_slice(&(index as i32).to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    push_attr(&mut b, IFLA_NET_NS_PID, &(pid as u32).to_ne_bytes());
    if let Some(n) = new_name {
        let mut name = n.as_bytes().to_vec();
        name.push(0);
        push_attr(&mut b, IFLA_IFNAME, &name);
    }
    let len = b.len() as u32;
    b[0..4].copy_from_slice(&len.to_ne_bytes());
    b[4..6].copy_from_slice(&RTM_NEWLINK.to_ne_bytes());
    b[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    b
}

/// Validate the names (IFNAMSIZ, no '/', not "." or "..") before anything happens.
pub fn validate(devices: &std::collections::HashMap<String, oci_spec::runtime::LinuxNetDevice>) -> Result<()> {
    let ok = |n: &str| !n.is_empty() && n.len() < 16 && n != "." && n != ".." && !n.contains(['/', ':', ' ', '\0']);
    for (host, d) in devices {
        if !ok(host) {
            return Err(Error::invalid_spec(format!("linux.netDevices: invalid interface name {host:?}")));
        }
        if let Some(n) = d.name() {
            if !ok(n) {
                return Err(Error::invalid_spec(format!(
                    "linux.netDevices[{host:?}].name: invalid interface name {n:?}"
                )));
            }
        }
    }
    Ok(())
}

/// Move each device into the network namespace of `pid`.
pub fn move_devices(
    devices: &std::collections::HashMap<String, oci_spec::runtime::LinuxNetDevice>,
    pid: Pid,
) -> Result<()> {
    if devices.is_empty() {
        return Ok(());
    }
    let sock = socket(AddressFamily::Netlink, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::NetlinkRoute)
        .context("opening a netlink socket")?;
    bind(sock.as_raw_fd(), &NetlinkAddr::new(0, 0)).context("binding the netlink socket")?;
    let mut names: Vec<_> = devices.iter().collect();
    names.sort_by(|a, b| a.0.cmp(b.0));
    for (seq, (host, d)) in names.into_iter().enumerate() {
        let what = || format!("moving network device {host} into the container (linux.netDevices)");
        let index: u32 = std::fs::read_to_string(format!("/sys/class/net/{host}/ifindex"))
            .map_err(|e| Error::io(e, format!("{}: no such host interface", what())))?
            .trim()
            .parse()
            .map_err(|_| Error::new(Kind::System, format!("{}: bad ifindex", what())))?;
        let msg = move_request(index, pid.as_raw(), d.name().as_deref(), seq as u32 + 1);
        sendto(sock.as_raw_fd(), &msg, &NetlinkAddr::new(0, 0), MsgFlags::empty()).with_context(what)?;
        let mut buf = [0u8; 4096];
        let n = recv(sock.as_raw_fd(), &mut buf, MsgFlags::empty()).with_context(what)?;
        if n >= 20 && u16::from_ne_bytes([buf[4], buf[5]]) == NLMSG_ERROR {
            let err = i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]);
            if err != 0 {
                return Err(Error::sys(nix::errno::Errno::from_raw(-err), what()));
            }
        } else {
            return Err(Error::new(Kind::System, format!("{}: unexpected netlink reply", what())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let m = move_request(7, 1234, Some("eth9"), 1);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize, m.len());
        assert_eq!(m.len() % 4, 0);
        assert_eq!(i32::from_ne_bytes(m[20..24].try_into().unwrap()), 7);
        // first attribute: IFLA_NET_NS_PID
        assert_eq!(u16::from_ne_bytes(m[34..36].try_into().unwrap()), IFLA_NET_NS_PID);
        assert_eq!(u32::from_ne_bytes(m[36..40].try_into().unwrap()), 1234);
        assert_eq!(&m[44..49], b"eth9\0");
    }

    #[test]
    fn names_are_validated() {
        let mut d = std::collections::HashMap::new();
        d.insert("../x".to_string(), Default::default());
        assert!(validate(&d).is_err());
        let mut d = std::collections::HashMap::new();
        d.insert(
            "veth0".to_string(),
            serde_json::from_value(serde_json::json!({"name": "averyveryverylongname"})).unwrap(),
        );
        assert!(validate(&d).is_err());
    }
}

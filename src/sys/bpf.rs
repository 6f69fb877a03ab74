//! bpf(2) for cgroup device programs: load, attach, query, detach. No libbpf.
//!
//! Runs in: the runtime parent (`create`, `update`) on cgroup v2. Every fd the kernel returns
//! is wrapped in an [`OwnedFd`] at once; bpf(2) makes program fds close-on-exec itself.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// `enum bpf_cmd` values used here.
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;

/// `BPF_PROG_TYPE_CGROUP_DEVICE`.
pub const PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `BPF_CGROUP_DEVICE` (enum bpf_attach_type).
pub const ATTACH_CGROUP_DEVICE: u32 = 6;
/// `BPF_F_ALLOW_MULTI`.
pub const F_ALLOW_MULTI: u32 = 1 << 1;
/// `BPF_F_REPLACE` (with ALLOW_MULTI: swap `replace_bpf_fd` for the new program atomically).
pub const F_REPLACE: u32 = 1 << 2;

/// The BPF_PROG_LOAD part of `union bpf_attr` (up to expected_attach_type).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The BPF_PROG_ATTACH / BPF_PROG_DETACH part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// The BPF_PROG_QUERY part of `union bpf_attr` (up to prog_cnt).
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// The BPF_PROG_GET_FD_BY_ID part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// bpf(cmd, attr, sizeof attr); the raw return value or the errno.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<libc::c_long, Errno> {
    // SAFETY: `attr` is a live, exclusively borrowed repr(C) prefix of `union bpf_attr` for `cmd`
    // with every pointer field it holds (set by our callers) pointing to memory that outlives
    // the call; the kernel reads at most size_of::<T>() bytes and, for the commands used here,
    // writes back only fields of the same struct (prog_cnt, attach_flags).
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>() as libc::c_ulong) };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(rc)
    }
}

fn own(rc: libc::c_long) -> OwnedFd {
    // SAFETY: `rc` is a new fd bpf(2) just returned to us; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(rc as RawFd) }
}

/// Load a program of `prog_type` from raw 8-byte instructions. On failure the errno and the
/// verifier's log (empty if it said nothing).
pub fn prog_load(prog_type: u32, insns: &[u8], license: &str, name: &str) -> Result<OwnedFd, (Errno, String)> {
    if insns.is_empty() || insns.len() % 8 != 0 || insns.len() / 8 > u32::MAX as usize {
        return Err((Errno::EINVAL, "program length is not a whole number of instructions".into()));
    }
    let license = std::ffi::CString::new(license).map_err(|_| (Errno::EINVAL, "license has a NUL".into()))?;
    let mut prog_name = [0u8; 16];
    let n = name.len().min(15);
    prog_name[..n].copy_from_slice(&name.as_bytes()[..n]);
    let mut attr = ProgLoadAttr {
        prog_type,
        insn_cnt: (insns.len() / 8) as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(own(fd)),
        Err(first) => {
            // Again with the verifier's log, which only a failed load needs.
            let mut log = vec![0u8; 64 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            match bpf(BPF_PROG_LOAD, &mut attr) {
                Ok(fd) => Ok(own(fd)),
                Err(e) => {
                    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                    let text = String::from_utf8_lossy(&log[..end]).into_owned();
                    Err((if e == Errno::ENOSPC { first } else { e }, text))
                }
            }
        }
    }
}

/// BPF_PROG_ATTACH `prog` to the cgroup directory `cgroup` (with `replace`: BPF_F_REPLACE of
/// that attached program).
pub fn prog_attach(
    cgroup: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
    replace: Option<BorrowedFd<'_>>,
) -> Result<(), Errno> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        attach_flags: flags | if replace.is_some() { F_REPLACE } else { 0 },
        replace_bpf_fd: replace.map(|f| f.as_raw_fd() as u32).unwrap_or(0),
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// BPF_PROG_DETACH `prog` (attached with ALLOW_MULTI) from `cgroup`.
pub fn prog_detach(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>, attach_type: u32) -> Result<(), Errno> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        ..Default::default()
    };
    bpf(BPF_PROG_DETACH, &mut attr).map(drop)
}

/// The ids of the programs attached to `cgroup` itself (not inherited) for `attach_type`.
pub fn prog_query(cgroup: BorrowedFd<'_>, attach_type: u32) -> Result<Vec<u32>, Errno> {
    let mut ids = vec![0u32; 64];
    loop {
        let mut attr = QueryAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_type,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            ..Default::default()
        };
        match bpf(BPF_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            // prog_cnt now holds the number attached: retry with room for all.
            Err(Errno::ENOSPC) if attr.prog_cnt as usize > ids.len() => ids = vec![0u32; attr.prog_cnt as usize],
            Err(e) => return Err(e),
        }
    }
}

/// An fd for the loaded program `id` (BPF_PROG_GET_FD_BY_ID).
pub fn prog_get_fd_by_id(id: u32) -> Result<OwnedFd, Errno> {
    let mut attr = GetFdAttr { prog_id: id, ..Default::default() };
    bpf(BPF_PROG_GET_FD_BY_ID, &mut attr).map(own)
}

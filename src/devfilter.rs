//! Device access control on cgroup v2: `linux.resources.devices` compiled into an eBPF
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program and attached to the container's cgroup.
//!
//! The rule list is the one runc builds: the config's rules in order, then runc's default allowed
//! devices (mknod of any char/block device, /dev/null, zero, full, tty, random, urandom, ptys,
//! /dev/ptmx and tun), except that a default device whose path `linux.devices` lists is left to
//! the config, as runc does. The list is reduced the way the v1 devices controller (and runc's
//! emulation of it) would apply it, starting from "deny all":
//! - an `a` rule (any type) resets: allow → allow all, deny → deny all, with no exceptions;
//! - otherwise a rule with the default's action removes its access bits from the exception with
//!   the very same type, major and minor, and the opposite action adds them (merging); removing
//!   access a wildcard exception grants for part of its range is refused, since v1 would ignore it
//!   silently ("cannot punch a hole").
//!
//! The program then answers each request (`bpf_cgroup_dev_ctx`: type in the low 16 bits of
//! `access_type`, the requested access in the high 16, major, minor): an exception matching the
//! type, major and minor (wildcards match anything) whose access includes everything requested
//! decides the opposite of the default; no match gives the default. All exceptions have the same
//! action, so their order does not matter.
//!
//! [`install`] loads the program and attaches it with BPF_F_ALLOW_MULTI. An earlier filter is
//! replaced without a window without one: BPF_F_REPLACE when exactly one program is attached,
//! otherwise the new one is attached first and the old ones are detached after.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use oci_spec::runtime::{Linux, LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Error, Result};
use crate::sys::bpf;

/// `BPF_DEVCG_ACC_*`: the access bits of a request.
pub const ACC_MKNOD: u8 = 1;
pub const ACC_READ: u8 = 2;
pub const ACC_WRITE: u8 = 4;
const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;
/// `BPF_DEVCG_DEV_*`: the device type of a request.
pub const DEV_BLOCK: u8 = 1;
pub const DEV_CHAR: u8 = 2;

/// License string given to BPF_PROG_LOAD (device programs need no GPL-only helpers).
const LICENSE: &str = "Apache";

/// What a rule applies to: every device (`a`), block or char devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    All,
    Block,
    Char,
}

/// One device cgroup rule; `None` major/minor is the wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// `ACC_*` bits.
    pub access: u8,
}

impl Rule {
    const fn allow(kind: Kind, major: Option<u32>, minor: Option<u32>, access: u8) -> Rule {
        Rule { allow: true, kind, major, minor, access }
    }

    /// An OCI rule, validated like runc: type a/b/c (absent is `a`), a negative or absent
    /// major/minor is the wildcard, access a non-empty subset of "rwm".
    pub fn from_oci(d: &LinuxDeviceCgroup) -> std::result::Result<Rule, String> {
        let kind = match d.typ() {
            None | Some(LinuxDeviceType::A) => Kind::All,
            Some(LinuxDeviceType::B) => Kind::Block,
            Some(LinuxDeviceType::C) => Kind::Char,
            Some(t) => return Err(format!("invalid cgroup device type {:?}", t.as_str())),
        };
        let num = |what: &str, v: Option<i64>| match v {
            None => Ok(None),
            Some(n) if n < 0 => Ok(None),
            Some(n) => u32::try_from(n).map(Some).map_err(|_| format!("invalid {what} {n}")),
        };
        let access_text = d.access().as_deref().unwrap_or("");
        if access_text.is_empty() {
            return Err("device access cannot be empty".into());
        }
        let mut access = 0;
        for c in access_text.chars() {
            access |= match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                // An `a` rule only resets, whatever its access says (as in runc).
                _ if kind == Kind::All => 0,
                _ => return Err(format!("unknown device access {c:?} in {access_text:?}")),
            };
        }
        Ok(Rule { allow: d.allow(), kind, major: num("major", d.major())?, minor: num("minor", d.minor())?, access })
    }
}

/// runc's default allowed devices, with the path that lets `linux.devices` override them.
const DEFAULT_ALLOWED: [(Option<&str>, Rule); 11] = [
    (None, Rule::allow(Kind::Char, None, None, ACC_MKNOD)),
    (None, Rule::allow(Kind::Block, None, None, ACC_MKNOD)),
    (Some("/dev/null"), Rule::allow(Kind::Char, Some(1), Some(3), ACC_ALL)),
    (Some("/dev/random"), Rule::allow(Kind::Char, Some(1), Some(8), ACC_ALL)),
    (Some("/dev/full"), Rule::allow(Kind::Char, Some(1), Some(7), ACC_ALL)),
    (Some("/dev/tty"), Rule::allow(Kind::Char, Some(5), Some(0), ACC_ALL)),
    (Some("/dev/zero"), Rule::allow(Kind::Char, Some(1), Some(5), ACC_ALL)),
    (Some("/dev/urandom"), Rule::allow(Kind::Char, Some(1), Some(9), ACC_ALL)),
    // /dev/pts/*, /dev/ptmx, tun/tap (runc 1.1).
    (None, Rule::allow(Kind::Char, Some(136), None, ACC_ALL)),
    (None, Rule::allow(Kind::Char, Some(5), Some(2), ACC_ALL)),
    (None, Rule::allow(Kind::Char, Some(10), Some(200), ACC_ALL)),
];

/// The container's effective rule list: linux.resources.devices, then the default allowed
/// devices not listed in linux.devices.
pub fn rules_for(linux: Option<&Linux>) -> Result<Vec<Rule>> {
    let mut rules = Vec::new();
    let user = linux.and_then(|l| l.resources().as_ref()).and_then(|r| r.devices().as_ref());
    for (i, d) in user.map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
        rules.push(Rule::from_oci(d).map_err(|e| Error::invalid_spec(format!("linux.resources.devices[{i}]: {e}")))?);
    }
    let listed = linux.and_then(|l| l.devices().as_ref()).map(Vec::as_slice).unwrap_or_default();
    for (path, rule) in DEFAULT_ALLOWED {
        if path.is_some_and(|p| listed.iter().any(|d| d.path() == Path::new(p))) {
            continue;
        }
        rules.push(rule);
    }
    Ok(rules)
}

/// The rules in force while the init sets up a cgroup that already had device programs: the
/// container's, plus every node linux.devices lists (the init makes and prepares them; the final
/// rules, attached at Ready, may deny them, as runc's only apply after its rootfs set-up).
pub fn birth_rules(rules: &[Rule], linux: Option<&Linux>) -> Vec<Rule> {
    let mut out = rules.to_vec();
    for d in linux.and_then(|l| l.devices().as_ref()).map(Vec::as_slice).unwrap_or_default() {
        let kind = match d.typ() {
            LinuxDeviceType::B => Kind::Block,
            LinuxDeviceType::C | LinuxDeviceType::U => Kind::Char,
            _ => continue,
        };
        let (Ok(major), Ok(minor)) = (u32::try_from(d.major()), u32::try_from(d.minor())) else { continue };
        out.push(Rule::allow(kind, Some(major), Some(minor), ACC_ALL));
    }
    out
}

/// Whether the cgroup directory has device programs attached already.
pub fn has_programs(dir: &Path) -> Result<bool> {
    let cg =
        std::fs::File::open(dir).map_err(|e| Error::io(e, format!("opening cgroup directory {}", dir.display())))?;
    let ids = bpf::prog_query(cg.as_fd(), bpf::ATTACH_CGROUP_DEVICE)
        .map_err(|e| Error::sys(e, format!("listing the device programs of cgroup {}", dir.display())))?;
    Ok(!ids.is_empty())
}

/// Type, major, minor of an exception (`Kind::All` never appears here).
type Key = (Kind, Option<u32>, Option<u32>);

/// The rule list reduced to a default action plus exceptions of the opposite action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub default_allow: bool,
    pub exceptions: BTreeMap<Key, u8>,
}

impl Policy {
    pub fn new(rules: &[Rule]) -> std::result::Result<Policy, String> {
        let mut p = Policy { default_allow: false, exceptions: BTreeMap::new() };
        for r in rules {
            if r.kind == Kind::All {
                p = Policy { default_allow: r.allow, exceptions: BTreeMap::new() };
            } else if r.allow == p.default_allow {
                p.remove(r)?;
            } else {
                *p.exceptions.entry((r.kind, r.major, r.minor)).or_insert(0) |= r.access;
            }
        }
        Ok(p)
    }

    fn remove(&mut self, r: &Rule) -> std::result::Result<(), String> {
        let key = (r.kind, r.major, r.minor);
        for wider in [(r.kind, None, r.minor), (r.kind, r.major, None), (r.kind, None, None)] {
            if wider == key {
                continue;
            }
            if let Some(&acc) = self.exceptions.get(&wider) {
                if acc & r.access != 0 {
                    return Err(format!(
                        "rule {} cannot take access away from part of the wider rule {} (cgroup v1 would ignore it)",
                        show(key, r.access),
                        show(wider, acc)
                    ));
                }
            }
        }
        if let Some(acc) = self.exceptions.get_mut(&key) {
            *acc &= !r.access;
            if *acc == 0 {
                self.exceptions.remove(&key);
            }
        }
        Ok(())
    }

    /// The decision for one request, straight from the policy (what the program computes).
    pub fn allows(&self, dev_type: u8, major: u32, minor: u32, access: u8) -> bool {
        let hit = self.exceptions.iter().any(|(&(kind, ma, mi), &acc)| {
            kind_code(kind) == dev_type as u32
                && ma.is_none_or(|m| m == major)
                && mi.is_none_or(|m| m == minor)
                && access & !acc == 0
        });
        hit != self.default_allow
    }

    /// The eBPF program.
    pub fn program(&self) -> Vec<Insn> {
        let mut p = vec![
            // r2 = device type (low half of access_type), r3 = requested access (high half)
            Insn::ldx_w(2, 1, 0),
            Insn::alu32_k(ALU_AND, 2, 0xffff),
            Insn::ldx_w(3, 1, 0),
            Insn::alu32_k(ALU_RSH, 3, 16),
            // r4 = major, r5 = minor
            Insn::ldx_w(4, 1, 4),
            Insn::ldx_w(5, 1, 8),
        ];
        let verdict = i32::from(!self.default_allow);
        for (&(kind, major, minor), &acc) in &self.exceptions {
            // Each test jumps past the end of this block when it fails.
            let mut tests: Vec<Insn> = vec![Insn::jne_k(2, kind_code(kind) as i32)];
            if acc != ACC_ALL {
                // if (r3 & acc) != r3: something requested that the exception lacks
                tests.push(Insn::mov32_x(1, 3));
                tests.push(Insn::alu32_k(ALU_AND, 1, i32::from(acc)));
                tests.push(Insn::jne_x(1, 3));
            }
            if let Some(m) = major {
                tests.push(Insn::jne_k(4, m as i32));
            }
            if let Some(m) = minor {
                tests.push(Insn::jne_k(5, m as i32));
            }
            let len = tests.len() + 2;
            for (i, t) in tests.iter_mut().enumerate() {
                if t.code == JMP_JNE_K || t.code == JMP_JNE_X {
                    t.off = (len - i - 1) as i16;
                }
            }
            p.extend(tests);
            p.push(Insn::mov32_k(0, verdict));
            p.push(Insn::exit());
        }
        p.push(Insn::mov32_k(0, i32::from(self.default_allow)));
        p.push(Insn::exit());
        p
    }
}

fn kind_code(k: Kind) -> u32 {
    match k {
        Kind::Block => DEV_BLOCK as u32,
        Kind::Char => DEV_CHAR as u32,
        Kind::All => 0,
    }
}

fn show((kind, major, minor): Key, acc: u8) -> String {
    let t = match kind {
        Kind::All => 'a',
        Kind::Block => 'b',
        Kind::Char => 'c',
    };
    let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
    let a: String = [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')]
        .iter()
        .filter(|(b, _)| acc & b != 0)
        .map(|&(_, c)| c)
        .collect();
    format!("\"{t} {}:{} {a}\"", n(major), n(minor))
}

// eBPF opcodes (linux/bpf.h, bpf_common.h): class | op | source. Only those emitted.
pub const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
pub const ALU_AND: u8 = 0x50;
pub const ALU_RSH: u8 = 0x70;
pub const ALU32_K: u8 = 0x04; // BPF_ALU | BPF_K
pub const ALU32_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
pub const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
pub const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
pub const JMP_JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
pub const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// `struct bpf_insn`: opcode, dst register (low nibble) and src register (high nibble), jump
/// offset, immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn { code, regs: (src << 4) | (dst & 0xf), off, imm }
    }
    fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(LDX_MEM_W, dst, src, off, 0)
    }
    fn alu32_k(op: u8, dst: u8, imm: i32) -> Insn {
        Insn::new(ALU32_K | op, dst, 0, 0, imm)
    }
    fn mov32_k(dst: u8, imm: i32) -> Insn {
        Insn::new(ALU32_MOV_K, dst, 0, 0, imm)
    }
    fn mov32_x(dst: u8, src: u8) -> Insn {
        Insn::new(ALU32_MOV_X, dst, src, 0, 0)
    }
    /// `if dst != imm goto +off` (off set by the caller).
    fn jne_k(dst: u8, imm: i32) -> Insn {
        Insn::new(JMP_JNE_K, dst, 0, 0, imm)
    }
    fn jne_x(dst: u8, src: u8) -> Insn {
        Insn::new(JMP_JNE_X, dst, src, 0, 0)
    }
    fn exit() -> Insn {
        Insn::new(JMP_EXIT, 0, 0, 0, 0)
    }
    pub fn dst(&self) -> usize {
        (self.regs & 0xf) as usize
    }
    pub fn src(&self) -> usize {
        (self.regs >> 4) as usize
    }

    /// The kernel's little-endian encoding.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = self.regs;
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

/// Build the filter for `rules` and put it on the cgroup directory `dir`, replacing whatever
/// device programs are attached there.
pub fn install(dir: &Path, rules: &[Rule]) -> Result<()> {
    let what = || format!("device filter for cgroup {}", dir.display());
    let policy = Policy::new(rules).map_err(|e| Error::invalid_spec(format!("building the {}: {e}", what())))?;
    let code: Vec<u8> = policy.program().into_iter().flat_map(Insn::to_bytes).collect();
    // std opens with O_CLOEXEC.
    let cg =
        std::fs::File::open(dir).map_err(|e| Error::io(e, format!("opening cgroup directory {}", dir.display())))?;
    let old = bpf::prog_query(cg.as_fd(), bpf::ATTACH_CGROUP_DEVICE)
        .map_err(|e| Error::sys(e, format!("listing the device programs of cgroup {}", dir.display())))?;
    let prog = bpf::prog_load(bpf::PROG_TYPE_CGROUP_DEVICE, &code, LICENSE, "husk_devices").map_err(|(e, log)| {
        let mut msg = format!("loading the {}", what());
        let tail = log_tail(&log);
        if !tail.is_empty() {
            msg = format!("{msg} (verifier: {tail})");
        }
        Error::sys(e, msg)
    })?;
    let old_fds: Vec<OwnedFd> = old.iter().filter_map(|&id| bpf::prog_get_fd_by_id(id).ok()).collect();
    let attach_err = |e| Error::sys(e, format!("attaching the {}", what()));
    if let [only] = old_fds.as_slice() {
        match bpf::prog_attach(
            cg.as_fd(),
            prog.as_fd(),
            bpf::ATTACH_CGROUP_DEVICE,
            bpf::F_ALLOW_MULTI,
            Some(only.as_fd()),
        ) {
            Ok(()) => return Ok(()),
            // No BPF_F_REPLACE (kernel < 5.6), or the program went away meanwhile.
            Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(attach_err(e)),
        }
    }
    bpf::prog_attach(cg.as_fd(), prog.as_fd(), bpf::ATTACH_CGROUP_DEVICE, bpf::F_ALLOW_MULTI, None)
        .map_err(attach_err)?;
    for f in &old_fds {
        match bpf::prog_detach(cg.as_fd(), f.as_fd(), bpf::ATTACH_CGROUP_DEVICE) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => {
                return Err(Error::sys(e, format!("detaching the previous device filter of cgroup {}", dir.display())))
            }
        }
    }
    Ok(())
}

/// The last lines of a verifier log (the error is at its end), on one line.
fn log_tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join("; ")
}

#[cfg(test)]
mod tests;

//! OCI `linux.seccomp` → classic BPF, with libseccomp's (and so runc's) semantics.
//!
//! Pure code, run by the runtime parent before fork. Two stages:
//! 1. [`plan`]: validate the profile and resolve it into, per ABI, a map syscall number →
//!    what to do (one unconditional action, or an ordered list of conditional rules).
//! 2. [`emit`]: generate the program. It is built backwards (last instruction first), so
//!    every jump goes to an instruction that already exists; a target further than a
//!    conditional jump reaches (255) gets a `ja` trampoline.
//!
//! docs/seccomp.md describes the layout and why each rule is ordered as it is.

use std::collections::{BTreeMap, HashMap};

use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};
use seccompiler::{sock_filter, BpfProgram, SeccompAction};

use super::tables;
use crate::error::{Error, Result};

/// The kernel's limit on a filter's length (BPF_MAXINSNS).
pub const BPF_MAX_LEN: usize = 4096;

/// `__X32_SYSCALL_BIT`: set in the syscall number of every x32 syscall.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `AUDIT_ARCH_*` values the kernel puts in `seccomp_data.arch`.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;

/// SECCOMP_RET_USER_NOTIF (seccompiler's action enum has no NOTIFY).
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;

/// What a syscall made through an ABI the profile does not list gets: libseccomp's default
/// `SCMP_FLTATR_ACT_BADARCH` is SCMP_ACT_KILL (kill the thread), and runc never changes it.
pub const RET_BADARCH: u32 = 0; // SECCOMP_RET_KILL_THREAD

const ENOSYS: u32 = libc::ENOSYS as u32;
const EPERM: u32 = libc::EPERM as u32;

// Classic BPF opcodes (linux/bpf_common.h), the only ones we emit.
const LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS
const ALU_AND_K: u16 = 0x04 | 0x50; // BPF_ALU | BPF_AND | BPF_K
const JMP_JA: u16 = 0x05; // BPF_JMP | BPF_JA
const JMP_JEQ_K: u16 = 0x05 | 0x10;
const JMP_JGT_K: u16 = 0x05 | 0x20;
const JMP_JGE_K: u16 = 0x05 | 0x30;
const JMP_JSET_K: u16 = 0x05 | 0x40;
const RET_K: u16 = 0x06;

// `struct seccomp_data` offsets.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

/// One syscall ABI the x86_64 kernel can present to a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Abi {
    X86_64,
    X32,
    X86,
}

impl Abi {
    pub fn name(self) -> &'static str {
        match self {
            Abi::X86_64 => "SCMP_ARCH_X86_64",
            Abi::X32 => "SCMP_ARCH_X32",
            Abi::X86 => "SCMP_ARCH_X86",
        }
    }
    fn audit(self) -> u32 {
        match self {
            Abi::X86_64 | Abi::X32 => AUDIT_ARCH_X86_64,
            Abi::X86 => AUDIT_ARCH_I386,
        }
    }
    /// libseccomp compares only the low 32 bits of arguments on 32-bit ABIs (x86 and x32).
    fn args_64bit(self) -> bool {
        self == Abi::X86_64
    }
    pub fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Abi::X86_64 => tables::X86_64,
            Abi::X32 => tables::X32,
            Abi::X86 => tables::X86,
        }
    }
    /// The syscall's number in this ABI, if the ABI has it.
    pub fn resolve(self, name: &str) -> Option<u32> {
        let t = self.table();
        t.binary_search_by(|(n, _)| (*n).cmp(name)).ok().map(|i| t[i].1)
    }
}

/// The ABI of the build target, what `SCMP_ARCH_NATIVE` and an empty list mean.
fn native_abi() -> Result<Abi> {
    if cfg!(target_arch = "x86_64") {
        Ok(Abi::X86_64)
    } else {
        Err(Error::invalid_spec(
            "linux.seccomp: husk has syscall tables for x86_64, x86 and x32 only, not for this build's architecture",
        ))
    }
}

/// Which listed architectures husk filters. Architectures an x86_64 kernel can never report in
/// `seccomp_data.arch` (ARM, MIPS, s390...) are skipped: a listed-but-impossible ABI changes
/// nothing, exactly as under libseccomp.
fn abi_of(arch: Arch) -> Result<Option<Abi>> {
    Ok(match arch {
        Arch::ScmpArchNative => Some(native_abi()?),
        Arch::ScmpArchX86_64 => Some(Abi::X86_64),
        Arch::ScmpArchX86 => Some(Abi::X86),
        Arch::ScmpArchX32 => Some(Abi::X32),
        _ => None,
    })
}

/// On x86 (i386) the socket and SysV IPC calls also exist multiplexed through socketcall(2)
/// and ipc(2), selected by the first argument. libseccomp resolves these names to pseudo
/// numbers there and adds each rule to the multiplexer as well as to the direct syscall (when
/// the ABI has one: accept, send and recv have none): on the multiplexer, `arg0 == call`
/// replaces the rule's conditions on arg0, and its other conditions are kept as they are (they
/// then test socketcall's own arguments, a libseccomp quirk we reproduce). Sorted by name.
const X86_MULTIPLEXED: &[(&str, &str, u64)] = &[
    ("accept", "socketcall", 5),
    ("accept4", "socketcall", 18),
    ("bind", "socketcall", 2),
    ("connect", "socketcall", 3),
    ("getpeername", "socketcall", 7),
    ("getsockname", "socketcall", 6),
    ("getsockopt", "socketcall", 15),
    ("listen", "socketcall", 4),
    ("msgctl", "ipc", 14),
    ("msgget", "ipc", 13),
    ("msgrcv", "ipc", 12),
    ("msgsnd", "ipc", 11),
    ("recv", "socketcall", 10),
    ("recvfrom", "socketcall", 12),
    ("recvmmsg", "socketcall", 19),
    ("recvmsg", "socketcall", 17),
    ("semctl", "ipc", 3),
    ("semget", "ipc", 2),
    ("semop", "ipc", 1),
    ("semtimedop", "ipc", 4),
    ("send", "socketcall", 9),
    ("sendmmsg", "socketcall", 20),
    ("sendmsg", "socketcall", 16),
    ("sendto", "socketcall", 11),
    ("setsockopt", "socketcall", 14),
    ("shmat", "ipc", 21),
    ("shmctl", "ipc", 24),
    ("shmdt", "ipc", 22),
    ("shmget", "ipc", 23),
    ("shutdown", "socketcall", 13),
    ("socket", "socketcall", 1),
    ("socketpair", "socketcall", 8),
];

fn x86_multiplexed(name: &str) -> Option<(u32, u64)> {
    let i = X86_MULTIPLEXED.binary_search_by(|(n, _, _)| (*n).cmp(name)).ok()?;
    let (_, via, call) = X86_MULTIPLEXED[i];
    Some((Abi::X86.resolve(via)?, call))
}

/// A comparison operator, with the operands it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    /// `(arg & mask) == value`
    MaskedEq {
        mask: u64,
    },
}

impl Op {
    /// libseccomp's `__db_chain_op_priority`: how it sorts rule trees (see `rule_order`).
    fn priority(self) -> u8 {
        match self {
            Op::MaskedEq { .. } | Op::Eq | Op::Ne => 3,
            Op::Le | Op::Lt => 2,
            Op::Ge | Op::Gt => 1,
        }
    }
}

/// `args[arg] <op> value`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cond {
    pub arg: u8,
    pub op: Op,
    pub value: u64,
}

/// Conditions ANDed; when all hold, `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub action: u32,
    /// Sorted by argument index (the order libseccomp chains them).
    pub conds: Vec<Cond>,
    /// Index in `linux.seccomp.syscalls`, for error messages.
    pub origin: usize,
}

/// What a filter does for one syscall number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyscallPlan {
    /// An unconditional rule wins over every conditional one, whatever the order (libseccomp
    /// drops a syscall's argument rules when an unconditional rule is added, and ignores
    /// conditional rules added after one). Among unconditional rules the first wins.
    pub unconditional: Option<u32>,
    /// First match wins, in libseccomp's tree order (see `rule_order`).
    pub rules: Vec<Rule>,
}

/// Everything [`emit`] needs, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    pub default_action: u32,
    /// The filtered ABIs, without duplicates: the native one first unless listed, then the
    /// listed ones in profile order.
    pub abis: Vec<Abi>,
    pub syscalls: BTreeMap<(Abi, u32), SyscallPlan>,
    /// runc's -ENOSYS stub: per ABI, the largest syscall number the profile names; numbers above
    /// it get ENOSYS so that programs probing newer syscalls fall back. None: no stub.
    pub enosys_above: Option<BTreeMap<Abi, u32>>,
    pub uses_notify: bool,
}

fn action_value(action: LinuxSeccompAction, errno_ret: Option<u32>, path: &str) -> Result<u32> {
    use LinuxSeccompAction::*;
    let data = |e: Option<u32>| -> Result<u32> {
        let e = e.unwrap_or(EPERM);
        if e > 0xffff {
            return Err(Error::invalid_spec(format!("{path}: errnoRet {e} does not fit in 16 bits")));
        }
        Ok(e)
    };
    if errno_ret.is_some() && !matches!(action, ScmpActErrno | ScmpActTrace) {
        // runtime-spec: "When the action doesn't support an errno, the runtime MUST print and
        // error and fail."
        return Err(Error::invalid_spec(format!(
            "{path}: errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {action}"
        )));
    }
    Ok(match action {
        ScmpActKill | ScmpActKillThread => SeccompAction::KillThread.into(),
        ScmpActKillProcess => SeccompAction::KillProcess.into(),
        ScmpActTrap => SeccompAction::Trap.into(),
        ScmpActErrno => SeccompAction::Errno(data(errno_ret)?).into(),
        ScmpActTrace => SeccompAction::Trace(data(errno_ret)?).into(),
        ScmpActLog => SeccompAction::Log.into(),
        ScmpActAllow => SeccompAction::Allow.into(),
        ScmpActNotify => RET_USER_NOTIF,
    })
}

/// Validate `spec` and resolve it into a [`Plan`].
pub fn plan(spec: &LinuxSeccomp) -> Result<Plan> {
    let default_action = action_value(spec.default_action(), spec.default_errno_ret(), "linux.seccomp.defaultAction")
        .map_err(|e| match spec.default_errno_ret() {
        Some(_) => Error::invalid_spec(e.root_cause().replace("errnoRet", "defaultErrnoRet")),
        None => e,
    })?;
    if spec.default_action() == LinuxSeccompAction::ScmpActNotify {
        // As runc: the init still has to hand over the listener after loading the filter, which
        // a default NOTIFY would block forever.
        return Err(Error::invalid_spec("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"));
    }

    let mut abis = Vec::new();
    for (i, arch) in spec.architectures().iter().flatten().enumerate() {
        let abi = abi_of(*arch).map_err(|e| e.context(format!("linux.seccomp.architectures[{i}]")))?;
        if let Some(abi) = abi {
            if !abis.contains(&abi) {
                abis.push(abi);
            }
        }
    }
    let listed = !spec.architectures().as_deref().unwrap_or_default().is_empty();
    // The ABIs the profile names: the only ones runc's -ENOSYS stub covers.
    let named = abis.clone();
    // libseccomp's filter always holds the native ABI (seccomp_init adds it, and runc only adds
    // the listed architectures to it): a profile listing only x86 or x32, or only foreign
    // architectures, still applies its rules to native syscalls rather than killing them all.
    let native = native_abi()?;
    if !abis.contains(&native) {
        abis.insert(0, native);
    }

    let mut plan =
        Plan { default_action, abis: abis.clone(), syscalls: BTreeMap::new(), enosys_above: None, uses_notify: false };
    // Largest syscall number named, per ABI (indexed by `Abi as usize`).
    let mut largest = [0u32; 3];
    let has_x86 = abis.contains(&Abi::X86);
    let mut hits: Vec<(usize, Abi, u32)> = Vec::new();

    for (i, sc) in spec.syscalls().iter().flatten().enumerate() {
        let path = format!("linux.seccomp.syscalls[{i}]");
        let action = action_value(sc.action(), sc.errno_ret(), &path)?;
        let notify = sc.action() == LinuxSeccompAction::ScmpActNotify;
        let mut conds = Vec::new();
        let mut seen = [0u8; 6];
        for (j, a) in sc.args().iter().flatten().enumerate() {
            if a.index() > 5 {
                return Err(Error::invalid_spec(format!(
                    "{path}.args[{j}]: index {} is out of range, a syscall has 6 arguments (0-5)",
                    a.index()
                )));
            }
            seen[a.index()] += 1;
            let (op, value) = match a.op() {
                LinuxSeccompOperator::ScmpCmpNe => (Op::Ne, a.value()),
                LinuxSeccompOperator::ScmpCmpLt => (Op::Lt, a.value()),
                LinuxSeccompOperator::ScmpCmpLe => (Op::Le, a.value()),
                LinuxSeccompOperator::ScmpCmpEq => (Op::Eq, a.value()),
                LinuxSeccompOperator::ScmpCmpGe => (Op::Ge, a.value()),
                LinuxSeccompOperator::ScmpCmpGt => (Op::Gt, a.value()),
                // runtime-spec / runc: value is the mask, valueTwo the value compared.
                LinuxSeccompOperator::ScmpCmpMaskedEq => (Op::MaskedEq { mask: a.value() }, a.value_two().unwrap_or(0)),
            };
            conds.push(Cond { arg: a.index() as u8, op, value });
        }
        hits.clear();
        for (k, name) in sc.names().iter().enumerate() {
            if name.is_empty() {
                return Err(Error::invalid_spec(format!("{path}.names[{k}]: empty syscall name")));
            }
            if notify && name == "write" {
                // As runc: the init writes the listener's fd number to the runtime after loading.
                return Err(Error::invalid_spec(format!(
                    "{path}: SCMP_ACT_NOTIFY cannot be used for write (the init needs it to hand over the listener)"
                )));
            }
            let multiplexed = has_x86 && x86_multiplexed(name).is_some();
            for &abi in &abis {
                // Unknown to this ABI: skipped, like libseccomp does.
                let Some(nr) = abi.resolve(name) else { continue };
                hits.push((k, abi, nr));
                // libseccomp resolves multiplexed x86 names to pseudo numbers: not counted.
                if !(abi == Abi::X86 && multiplexed) {
                    largest[abi as usize] = largest[abi as usize].max(nr);
                }
            }
        }
        // runc skips rules whose action is the default action (libseccomp refuses them).
        if action == default_action {
            continue;
        }
        // runc: when one argument index appears twice in a rule, each condition becomes a rule
        // of its own (ORed) instead of being ANDed.
        let mut rules: Vec<Vec<Cond>> = if seen.iter().any(|&n| n > 1) {
            conds.iter().map(|c| vec![*c]).collect()
        } else {
            let mut c = conds.clone();
            c.sort_by_key(|c| c.arg);
            vec![c]
        };
        // `(arg & 0) == 0` always holds: libseccomp drops it from the rule, which can leave the
        // rule unconditional (and so winning over the syscall's other rules). Same here.
        for r in &mut rules {
            r.retain(|c| c.op != Op::MaskedEq { mask: 0 } || c.value != 0);
        }
        plan.uses_notify |= notify;
        if has_x86 {
            for name in sc.names() {
                if let Some((via, call)) = x86_multiplexed(name) {
                    let entry = plan.syscalls.entry((Abi::X86, via)).or_default();
                    for r in &rules {
                        let mut c = vec![Cond { arg: 0, op: Op::Eq, value: call }];
                        c.extend(r.iter().filter(|c| c.arg != 0));
                        add_rule(entry, Rule { action, conds: c, origin: i }, name)?;
                    }
                }
            }
        }
        for &(k, abi, nr) in &hits {
            let entry = plan.syscalls.entry((abi, nr)).or_default();
            for conds in &rules {
                add_rule(entry, Rule { action, conds: conds.clone(), origin: i }, &sc.names()[k])?;
            }
        }
    }

    if plan.uses_notify && spec.listener_path().as_deref().is_none_or(|p| p.as_os_str().is_empty()) {
        return Err(Error::invalid_spec(
            "linux.seccomp.listenerPath: required when a rule uses SCMP_ACT_NOTIFY (the listener must go to an agent)",
        ));
    }

    // runc's patchbpf: only for listed architectures, never for permissive default actions or
    // a default errno of ENOSYS.
    let permissive = matches!(
        spec.default_action(),
        LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog | LinuxSeccompAction::ScmpActTrace
    );
    if listed && !permissive && spec.default_errno_ret() != Some(ENOSYS) {
        let above = named.iter().filter(|a| largest[**a as usize] != 0).map(|a| (*a, largest[*a as usize]));
        plan.enosys_above = Some(above.collect());
    }
    Ok(plan)
}

/// libseccomp's order between two conditional rules of one syscall: `Less` = evaluated first.
///
/// libseccomp merges a syscall's rules into a tree whose levels are sorted by `_db_chain_lt`,
/// larger first: higher argument index first, then by operator class (EQ/NE/MASKED_EQ, then
/// LT/LE, then GT/GE), then by value (larger first; for LT/LE smaller first). Evaluation walks
/// that tree depth-first and falls through to the next sibling on a mismatch, which is
/// first-match over the rules sorted lexicographically by their condition chains (arguments in
/// ascending order) with that node order. A rule whose chain is a prefix of another's comes
/// first (libseccomp drops the longer rule's extra conditions). Ties keep profile order.
fn rule_order(a: &Rule, b: &Rule) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for (x, y) in a.conds.iter().zip(&b.conds) {
        let key = |c: &Cond| (c.arg, c.op.priority());
        // Larger key first.
        match key(y).cmp(&key(x)) {
            Ordering::Equal => {}
            o => return o,
        }
        let o = match x.op {
            Op::Lt | Op::Le => x.value.cmp(&y.value),
            _ => y.value.cmp(&x.value),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.conds.len().cmp(&b.conds.len())
}

/// Add one rule to a syscall's plan, as libseccomp's `db_rule_add` would.
fn add_rule(entry: &mut SyscallPlan, rule: Rule, name: &str) -> Result<()> {
    if rule.conds.is_empty() {
        entry.unconditional.get_or_insert(rule.action);
        return Ok(());
    }
    if entry.unconditional.is_some() {
        // libseccomp ignores conditional rules added after an unconditional one.
        return Ok(());
    }
    // Same chain, or this rule is a shorter prefix of an existing longer one, with another
    // action: libseccomp's tree insert fails with EEXIST, so runc refuses the profile. So do we.
    for r in &entry.rules {
        if r.action != rule.action && r.conds.len() >= rule.conds.len() && r.conds[..rule.conds.len()] == rule.conds[..]
        {
            return Err(Error::invalid_spec(format!(
                "linux.seccomp.syscalls[{}]: conditions on {name} repeat those of linux.seccomp.syscalls[{}] with a different action",
                rule.origin, r.origin
            )));
        }
    }
    // Insert keeping profile order among ties (a stable insertion sort).
    let at = entry.rules.partition_point(|r| rule_order(r, &rule) != std::cmp::Ordering::Greater);
    entry.rules.insert(at, rule);
    Ok(())
}

/// Where a jump goes: an index into the reversed program (0 = last instruction).
type Label = usize;

/// A program built backwards, so that jump targets exist before the jumps.
struct Emitter {
    rev: Vec<sock_filter>,
    /// A `ret` per action value, reused while it is within a short jump's reach.
    rets: HashMap<u32, Label>,
}

impl Emitter {
    fn push(&mut self, code: u16, jt: u8, jf: u8, k: u32) -> Label {
        self.rev.push(sock_filter { code, jt, jf, k });
        self.rev.len() - 1
    }
    /// Distance from an instruction pushed now to `target`.
    fn dist(&self, target: Label) -> usize {
        self.rev.len() - 1 - target
    }
    fn ja(&mut self, target: Label) -> Label {
        let d = self.dist(target) as u32;
        self.push(JMP_JA, 0, 0, d)
    }
    /// An instruction that falls through to `next`.
    fn stmt(&mut self, code: u16, k: u32, next: Label) -> Label {
        if self.rev.len() != next + 1 {
            self.ja(next);
        }
        self.push(code, 0, 0, k)
    }
    fn load(&mut self, off: u32, next: Label) -> Label {
        self.stmt(LD_W_ABS, off, next)
    }
    fn jump(&mut self, code: u16, k: u32, t: Label, f: Label) -> Label {
        let f = if self.dist(f) > 255 { self.ja(f) } else { f };
        let t = if self.dist(t) > 255 { self.ja(t) } else { t };
        let (jt, jf) = (self.dist(t), self.dist(f));
        if jf > 255 {
            // Only when `t` needed a trampoline that pushed `f` out of reach again.
            let f = self.ja(f);
            let t = if self.dist(t) > 255 { self.ja(t) } else { t };
            let (jt, jf) = (self.dist(t), self.dist(f));
            return self.push(code, jt as u8, jf as u8, k);
        }
        self.push(code, jt as u8, jf as u8, k)
    }
    fn ret(&mut self, action: u32) -> Label {
        if let Some(&l) = self.rets.get(&action) {
            if self.dist(l) <= 200 {
                return l;
            }
        }
        let l = self.push(RET_K, 0, 0, action);
        self.rets.insert(action, l);
        l
    }
}

/// A dispatch target: return an action, or run a rule chain.
#[derive(Clone, Copy)]
enum Target {
    Ret(u32),
    Chain(Label),
}

/// Generate the BPF program for `plan`.
pub fn emit(plan: &Plan) -> Result<BpfProgram> {
    let mut e = Emitter { rev: Vec::with_capacity(2048), rets: HashMap::new() };
    let badarch = e.ret(RET_BADARCH);

    // One section per AUDIT_ARCH value: x86_64 and x32 share one.
    let mut sections: Vec<(u32, Vec<Abi>)> = Vec::new();
    for &abi in &plan.abis {
        match sections.iter_mut().find(|(a, _)| *a == abi.audit()) {
            Some((_, v)) => v.push(abi),
            None => sections.push((abi.audit(), vec![abi])),
        }
    }
    let mut entries = Vec::new();
    for (audit, abis) in sections.iter().rev() {
        let entry = emit_section(&mut e, plan, abis, badarch);
        entries.push((*audit, entry));
    }
    // Arch dispatch: load seccomp_data.arch, jump to its section, or the bad-arch action.
    let mut next = badarch;
    for (audit, entry) in entries {
        next = e.jump(JMP_JEQ_K, audit, entry, next);
    }
    e.load(OFF_ARCH, next);

    if e.rev.len() > BPF_MAX_LEN {
        return Err(Error::invalid_spec(format!(
            "linux.seccomp: the profile compiles to {} BPF instructions, more than the kernel's limit of {BPF_MAX_LEN}",
            e.rev.len()
        )));
    }
    e.rev.reverse();
    Ok(e.rev)
}

/// One arch section, entered with anything in A; returns its first instruction.
fn emit_section(e: &mut Emitter, plan: &Plan, abis: &[Abi], badarch: Label) -> Label {
    // Rule chains first (they sit after the dispatch), then the dispatch tree over A = nr.
    let mut targets: Vec<(u32, Target)> = Vec::new();
    for &abi in abis {
        for ((_, nr), sp) in plan.syscalls.range((abi, 0)..=(abi, u32::MAX)) {
            let t = match sp.unconditional {
                Some(a) => Target::Ret(a),
                None if sp.rules.is_empty() => continue,
                None => Target::Chain(emit_chain(e, &sp.rules, plan.default_action, abi.args_64bit())),
            };
            targets.push((*nr, t));
        }
    }
    targets.sort_by_key(|t| t.0);
    let dispatch = emit_dispatch(e, &targets, plan.default_action);

    // Prelude (A = nr): the -ENOSYS stub, then the x32/x86_64 split of the shared section.
    let has64 = abis.contains(&Abi::X86_64);
    let has32 = abis.contains(&Abi::X32);
    let mut after_stub = dispatch;
    if let Some(largest) = &plan.enosys_above {
        let enosys = e.ret(SeccompAction::Errno(ENOSYS).into());
        let check = |e: &mut Emitter, abi: Abi, next: Label| match largest.get(&abi) {
            Some(&max) => e.jump(JMP_JGT_K, max, enosys, next),
            None => next,
        };
        after_stub = if abis == [Abi::X86] {
            check(e, Abi::X86, dispatch)
        } else {
            let c32 = if has32 { check(e, Abi::X32, dispatch) } else { dispatch };
            let c64 = if has64 { check(e, Abi::X86_64, dispatch) } else { dispatch };
            if c32 == dispatch && c64 == dispatch {
                dispatch
            } else {
                e.jump(JMP_JSET_K, X32_SYSCALL_BIT, c32, c64)
            }
        };
    }
    // libseccomp: on an x86_64 filter without x32, x32 numbers (but not -1, "no syscall" under
    // ptrace) get the bad-arch action; symmetrically for x32 without x86_64.
    let mut head = after_stub;
    if has64 && !has32 {
        let minus1 = e.jump(JMP_JEQ_K, u32::MAX, head, badarch);
        head = e.jump(JMP_JGE_K, X32_SYSCALL_BIT, minus1, head);
    } else if has32 && !has64 {
        head = e.jump(JMP_JGE_K, X32_SYSCALL_BIT, head, badarch);
    }
    e.load(OFF_NR, head)
}

/// Binary search over sorted syscall numbers in A; a miss gets the default action.
fn emit_dispatch(e: &mut Emitter, targets: &[(u32, Target)], default_action: u32) -> Label {
    if targets.len() <= 4 {
        let mut next = e.ret(default_action);
        for &(nr, t) in targets.iter().rev() {
            let to = match t {
                Target::Ret(a) => e.ret(a),
                Target::Chain(l) => l,
            };
            next = e.jump(JMP_JEQ_K, nr, to, next);
        }
        return next;
    }
    let mid = targets.len() / 2;
    let right = emit_dispatch(e, &targets[mid..], default_action);
    let left = emit_dispatch(e, &targets[..mid], default_action);
    e.jump(JMP_JGE_K, targets[mid].0, right, left)
}

/// First match over `rules`; no match → the default action.
fn emit_chain(e: &mut Emitter, rules: &[Rule], default_action: u32, args64: bool) -> Label {
    let mut next = e.ret(default_action);
    for r in rules.iter().rev() {
        let mut ok = e.ret(r.action);
        for c in r.conds.iter().rev() {
            ok = emit_cond(e, c, ok, next, args64);
        }
        next = ok;
    }
    next
}

/// Test one condition: go to `t` if it holds, `f` if not. 64-bit arguments are compared high
/// half first; only when the high halves are equal does the low half decide.
fn emit_cond(e: &mut Emitter, c: &Cond, t: Label, f: Label, args64: bool) -> Label {
    let lo_off = OFF_ARGS + 8 * c.arg as u32;
    let hi_off = lo_off + 4;
    let (vh, vl) = ((c.value >> 32) as u32, c.value as u32);
    if let Op::MaskedEq { mask } = c.op {
        if args64 && (mask >> 32) == 0 && vh != 0 {
            // (hi & 0) == vh with vh != 0: can never hold.
            return f;
        }
    }
    // The low-half test, which decides when the high halves are equal (or on 32-bit ABIs).
    let lo = match c.op {
        Op::Eq => e.jump(JMP_JEQ_K, vl, t, f),
        Op::Ne => e.jump(JMP_JEQ_K, vl, f, t),
        Op::Gt => e.jump(JMP_JGT_K, vl, t, f),
        Op::Ge => e.jump(JMP_JGE_K, vl, t, f),
        Op::Lt => e.jump(JMP_JGE_K, vl, f, t),
        Op::Le => e.jump(JMP_JGT_K, vl, f, t),
        Op::MaskedEq { mask } => {
            let j = e.jump(JMP_JEQ_K, vl, t, f);
            e.stmt(ALU_AND_K, mask as u32, j)
        }
    };
    let lo = e.load(lo_off, lo);
    if !args64 {
        return lo;
    }
    // The high-half test: Some(label) where the comparison is already decided.
    let hi = match c.op {
        Op::Eq => e.jump(JMP_JEQ_K, vh, lo, f),
        Op::Ne => e.jump(JMP_JEQ_K, vh, lo, t),
        Op::Gt | Op::Ge => {
            let eq = e.jump(JMP_JEQ_K, vh, lo, f);
            e.jump(JMP_JGT_K, vh, t, eq)
        }
        Op::Lt | Op::Le => {
            let eq = e.jump(JMP_JEQ_K, vh, lo, t);
            e.jump(JMP_JGT_K, vh, f, eq)
        }
        Op::MaskedEq { mask } => {
            let mh = (mask >> 32) as u32;
            if mh == 0 {
                // (hi & 0) == 0 always holds (vh != 0 was handled above).
                return lo;
            }
            let j = e.jump(JMP_JEQ_K, vh, lo, f);
            e.stmt(ALU_AND_K, mh, j)
        }
    };
    e.load(hi_off, hi)
}

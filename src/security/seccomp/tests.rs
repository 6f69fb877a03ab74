//! compile() checked by running its output through a classic-BPF interpreter, plus real
//! installs in forked children.

use super::*;
use crate::error::Kind;
use crate::sys::seccomp::test_support as ts;
use compile::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};

/// The kernel's `struct seccomp_data`.
#[derive(Clone, Copy)]
struct Data {
    nr: u32,
    arch: u32,
    args: [u64; 6],
}

impl Data {
    fn word(&self, off: u32) -> u32 {
        match off {
            0 => self.nr,
            4 => self.arch,
            8 | 12 => 0, // instruction_pointer
            16..=63 if off % 4 == 0 => {
                let a = self.args[(off as usize - 16) / 8];
                if off % 8 == 0 {
                    a as u32
                } else {
                    (a >> 32) as u32
                }
            }
            _ => panic!("load from bad offset {off}"),
        }
    }
}

/// Run a classic BPF program (the opcodes compile emits) like the kernel's seccomp does.
fn run(prog: &[sock_filter], d: Data) -> u32 {
    let mut a: u32 = 0;
    let mut pc = 0usize;
    for _ in 0..prog.len() + 1 {
        let i = &prog[pc];
        pc += 1;
        let cond = |c: bool| if c { i.jt as usize } else { i.jf as usize };
        match i.code {
            0x20 => a = d.word(i.k),
            0x54 => a &= i.k,
            0x05 => pc += i.k as usize,
            0x15 => pc += cond(a == i.k),
            0x25 => pc += cond(a > i.k),
            0x35 => pc += cond(a >= i.k),
            0x45 => pc += cond(a & i.k != 0),
            0x06 => return i.k,
            c => panic!("unexpected opcode {c:#x}"),
        }
        assert!(pc < prog.len(), "jumped off the end of the program");
    }
    panic!("no return (backward jump?)")
}

fn profile(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).unwrap()
}

fn prog(json: &str) -> Vec<sock_filter> {
    compile(&profile(json)).unwrap().filter
}

const ALLOW: u32 = 0x7fff_0000;
const KILL_THREAD: u32 = 0;
const KILL_PROCESS: u32 = 0x8000_0000;
const TRAP: u32 = 0x0003_0000;
const LOG: u32 = 0x7ffc_0000;
const NOTIFY: u32 = 0x7fc0_0000;
fn errno(e: u32) -> u32 {
    0x0005_0000 | e
}
fn trace(e: u32) -> u32 {
    0x7ff0_0000 | e
}

fn nr64(name: &str) -> u32 {
    Abi::X86_64.resolve(name).unwrap()
}
fn call(name: &str, args: &[u64]) -> Data {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    Data { nr: nr64(name), arch: AUDIT_ARCH_X86_64, args: a }
}
fn i386(name: &str, args: &[u64]) -> Data {
    let mut d = call("getpid", args);
    d.nr = Abi::X86.resolve(name).unwrap();
    d.arch = AUDIT_ARCH_I386;
    d
}
fn x32(name: &str) -> Data {
    let mut d = call("getpid", &[]);
    d.nr = Abi::X32.resolve(name).unwrap();
    d
}

#[test]
fn tables_resolve() {
    assert_eq!(nr64("read"), 0);
    assert_eq!(nr64("getcwd"), 79);
    assert_eq!(Abi::X86.resolve("getcwd"), Some(183));
    assert_eq!(Abi::X86.resolve("socketcall"), Some(102));
    assert_eq!(Abi::X32.resolve("getcwd"), Some(X32_SYSCALL_BIT | 79));
    assert_eq!(Abi::X86_64.resolve("socketcall"), None);
    assert_eq!(Abi::X86_64.resolve("fchmodat2"), Some(452));
    for abi in [Abi::X86_64, Abi::X86, Abi::X32] {
        assert!(abi.table().windows(2).all(|w| w[0].0 < w[1].0), "{abi:?} table is not sorted");
    }
}

#[test]
fn every_action() {
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["getcwd"],"action":"SCMP_ACT_KILL"},
        {"names":["uname"],"action":"SCMP_ACT_KILL_THREAD"},
        {"names":["getpid"],"action":"SCMP_ACT_KILL_PROCESS"},
        {"names":["getppid"],"action":"SCMP_ACT_TRAP"},
        {"names":["gettid"],"action":"SCMP_ACT_ERRNO"},
        {"names":["getuid"],"action":"SCMP_ACT_ERRNO","errnoRet":38},
        {"names":["getgid"],"action":"SCMP_ACT_TRACE"},
        {"names":["geteuid"],"action":"SCMP_ACT_TRACE","errnoRet":7},
        {"names":["getegid"],"action":"SCMP_ACT_LOG"},
        {"names":["getpgrp"],"action":"SCMP_ACT_NOTIFY"}],"listenerPath":"/run/agent.sock"}"#,
    );
    let cases = [
        ("getcwd", KILL_THREAD),
        ("uname", KILL_THREAD),
        ("getpid", KILL_PROCESS),
        ("getppid", TRAP),
        ("gettid", errno(1)),
        ("getuid", errno(38)),
        ("getgid", trace(1)),
        ("geteuid", trace(7)),
        ("getegid", LOG),
        ("getpgrp", NOTIFY),
        ("read", ALLOW),
    ];
    for (name, want) in cases {
        assert_eq!(run(&p, call(name, &[])), want, "{name}");
    }
}

#[test]
fn default_actions_and_errno_ret() {
    let p = prog(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#);
    assert_eq!(run(&p, call("write", &[])), errno(1));
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert_eq!(run(&p, call("write", &[])), errno(38));
    assert_eq!(run(&p, call("read", &[])), ALLOW);
    let p = prog(r#"{"defaultAction":"SCMP_ACT_KILL_PROCESS"}"#);
    assert_eq!(run(&p, call("read", &[])), KILL_PROCESS);
}

/// One rule `names:[getcwd]` with `args`, default ALLOW, action ERRNO(99).
fn one_arg_rule(args: &str) -> Vec<sock_filter> {
    prog(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":99,"args":{args}}}]}}"#
    ))
}

fn matches(p: &[sock_filter], args: &[u64]) -> bool {
    match run(p, call("getcwd", args)) {
        x if x == errno(99) => true,
        ALLOW => false,
        x => panic!("unexpected action {x:#x}"),
    }
}

#[test]
fn every_operator_with_64bit_edges() {
    const HI: u64 = 1 << 32;
    // Values chosen so that the high halves differ while the low halves compare the other way.
    let v: u64 = HI + 5;
    let probes = [0, 4, 5, 6, HI, HI + 4, HI + 5, HI + 6, 2 * HI, 2 * HI + 1, u64::MAX, 5 | (7 << 32)];
    type Check = fn(u64, u64) -> bool;
    let ops: [(&str, Check); 6] = [
        ("SCMP_CMP_NE", |a, b| a != b),
        ("SCMP_CMP_LT", |a, b| a < b),
        ("SCMP_CMP_LE", |a, b| a <= b),
        ("SCMP_CMP_EQ", |a, b| a == b),
        ("SCMP_CMP_GE", |a, b| a >= b),
        ("SCMP_CMP_GT", |a, b| a > b),
    ];
    for value in [v, 5, 0, u64::MAX, HI] {
        for (op, f) in ops {
            let p = one_arg_rule(&format!(r#"[{{"index":2,"value":{value},"op":"{op}"}}]"#));
            for a in probes {
                assert_eq!(matches(&p, &[0, 0, a]), f(a, value), "arg {a:#x} {op} {value:#x}");
            }
        }
    }
    // MASKED_EQ: value is the mask, valueTwo the expected value.
    for (mask, want) in [(0xffu64, 0x05u64), (0x00ff_0000_00ff_u64, 0x0005_0000_0005_u64), (HI | 1, HI)] {
        let p = one_arg_rule(&format!(r#"[{{"index":5,"value":{mask},"valueTwo":{want},"op":"SCMP_CMP_MASKED_EQ"}}]"#));
        for a in probes.iter().chain(&[0x105, 0x05_1234_0005, HI | 2]) {
            assert_eq!(matches(&p, &[0, 0, 0, 0, 0, *a]), a & mask == want, "{a:#x} & {mask:#x} == {want:#x}");
        }
    }
    // A valueTwo with bits outside the mask can never match.
    let p = one_arg_rule(r#"[{"index":0,"value":255,"valueTwo":4294967296,"op":"SCMP_CMP_MASKED_EQ"}]"#);
    assert!(!matches(&p, &[0]) && !matches(&p, &[1 << 32]));
}

#[test]
fn args_and_rules_or() {
    // Several args in one rule: AND. Several rules for one syscall: OR.
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":99,
         "args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":1,"value":2,"op":"SCMP_CMP_EQ"}]},
        {"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":99,
         "args":[{"index":3,"value":7,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert!(matches(&p, &[1, 2]));
    assert!(!matches(&p, &[1, 3]));
    assert!(!matches(&p, &[0, 2]));
    assert!(matches(&p, &[0, 0, 0, 7]));
    assert!(matches(&p, &[1, 2, 0, 7]));
}

#[test]
fn same_arg_twice_splits_into_rules_like_runc() {
    // runc turns "arg0 == 1 && arg0 == 2" into two rules (OR).
    let p = one_arg_rule(r#"[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]"#);
    assert!(matches(&p, &[1]));
    assert!(matches(&p, &[2]));
    assert!(!matches(&p, &[3]));
}

#[test]
fn rule_order_is_libseccomps() {
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":2},
        {"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":3},
        {"names":["uname"],"action":"SCMP_ACT_ERRNO","errnoRet":4,"args":[{"index":0,"value":5,"op":"SCMP_CMP_EQ"}]},
        {"names":["uname"],"action":"SCMP_ACT_ALLOW"},
        {"names":["getpid"],"action":"SCMP_ACT_ERRNO","errnoRet":5,"args":[{"index":0,"value":3,"op":"SCMP_CMP_GT"}]},
        {"names":["getpid"],"action":"SCMP_ACT_ERRNO","errnoRet":6,"args":[{"index":0,"value":5,"op":"SCMP_CMP_EQ"}]},
        {"names":["getuid"],"action":"SCMP_ACT_ERRNO","errnoRet":5,"args":[{"index":0,"value":5,"op":"SCMP_CMP_EQ"}]},
        {"names":["getuid"],"action":"SCMP_ACT_ERRNO","errnoRet":6,"args":[{"index":1,"value":5,"op":"SCMP_CMP_EQ"}]},
        {"names":["getgid"],"action":"SCMP_ACT_ERRNO","errnoRet":5,
         "args":[{"index":0,"value":5,"op":"SCMP_CMP_EQ"},{"index":1,"value":1,"op":"SCMP_CMP_EQ"}]},
        {"names":["getgid"],"action":"SCMP_ACT_ERRNO","errnoRet":6,"args":[{"index":0,"value":3,"op":"SCMP_CMP_GT"}]},
        {"names":["gettid"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{"index":0,"value":5,"op":"SCMP_CMP_EQ"}]},
        {"names":["gettid"],"action":"SCMP_ACT_ERRNO","errnoRet":7,"args":[{"index":0,"value":5,"op":"SCMP_CMP_NE"}]}]}"#,
    );
    // Two unconditional rules: the first wins.
    assert_eq!(run(&p, call("getcwd", &[])), errno(2));
    // An unconditional rule beats conditional ones, even when added later.
    assert_eq!(run(&p, call("uname", &[5])), ALLOW);
    // EQ is tested before GT (operator class order), whatever the profile order.
    assert_eq!(run(&p, call("getpid", &[5])), errno(6));
    assert_eq!(run(&p, call("getpid", &[4])), errno(5));
    // Higher argument index first.
    assert_eq!(run(&p, call("getuid", &[5, 5])), errno(6));
    // A mismatch deep in one rule falls through to the next rule.
    assert_eq!(run(&p, call("getgid", &[5, 1])), errno(5));
    assert_eq!(run(&p, call("getgid", &[5, 2])), errno(6));
    assert_eq!(run(&p, call("getgid", &[2, 1])), errno(1));
    // A rule with the default action is dropped (runc), so the NE rule alone decides.
    assert_eq!(run(&p, call("gettid", &[5])), errno(1));
    assert_eq!(run(&p, call("gettid", &[6])), errno(7));
}

#[test]
fn conflicting_rules_are_refused_like_libseccomp() {
    let e = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["getcwd"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":5,"op":"SCMP_CMP_EQ"}]},
        {"names":["getcwd"],"action":"SCMP_ACT_KILL","args":[{"index":0,"value":5,"op":"SCMP_CMP_EQ"}]}]}"#,
    ))
    .unwrap_err();
    assert!(e.to_string().starts_with("linux.seccomp.syscalls[1]: conditions on getcwd repeat"), "{e}");
}

#[test]
fn architectures() {
    let both = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,
        "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_AARCH64"],
        "syscalls":[{"names":["getcwd","socketcall","socket"],"action":"SCMP_ACT_ALLOW"},
                    {"names":["uname"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":4294967297,"op":"SCMP_CMP_EQ"}]}]}"#;
    let p = prog(both);
    assert_eq!(run(&p, call("getcwd", &[])), ALLOW);
    assert_eq!(run(&p, i386("getcwd", &[])), ALLOW);
    assert_eq!(run(&p, i386("socketcall", &[])), ALLOW);
    assert_eq!(run(&p, i386("getpid", &[])), errno(38));
    // The i386 number of getcwd (183) is x86_64's getrusage-free slot: it must not match there.
    let mut d = call("getcwd", &[]);
    d.nr = 183;
    assert_eq!(run(&p, d), errno(38));
    // 32-bit ABIs compare only the low half of arguments (libseccomp).
    assert_eq!(run(&p, call("uname", &[(1 << 32) | 1])), ALLOW);
    assert_eq!(run(&p, call("uname", &[1])), errno(38));
    assert_eq!(run(&p, i386("uname", &[1])), ALLOW);
    // x32 not listed: an x32 call is killed, even one whose x86_64 twin is allowed.
    assert_eq!(run(&p, x32("getcwd")), KILL_THREAD);
    // -1 ("no syscall", ptrace) is not an x32 number.
    let mut d = call("getcwd", &[]);
    d.nr = u32::MAX;
    assert_eq!(run(&p, d), errno(38));
    // An arch that is not listed.
    assert_eq!(run(&p, Data { nr: 1, arch: 0xc000_00b7, args: [0; 6] }), KILL_THREAD);

    // x86 not listed: an int 0x80 call gets the bad-arch action.
    let p = prog(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_ERRNO"}]}"#);
    assert_eq!(run(&p, i386("getcwd", &[])), KILL_THREAD);
    assert_eq!(run(&p, call("getcwd", &[])), errno(1));

    // x32 listed: its numbers are matched against the x32 table.
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X32"],
        "syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert_eq!(run(&p, x32("getcwd")), ALLOW);
    assert_eq!(run(&p, x32("uname")), errno(1));
    assert_eq!(run(&p, call("getcwd", &[])), ALLOW);
    assert_eq!(run(&p, i386("getcwd", &[])), KILL_THREAD);
}

#[test]
fn native_arch_is_always_filtered() {
    // libseccomp's filter always holds the native ABI: listing only x86 and x32 (or only
    // foreign architectures) still applies the rules to x86_64 calls instead of killing them.
    for archs in [r#"["SCMP_ARCH_X86","SCMP_ARCH_X32"]"#, r#"["SCMP_ARCH_X86"]"#, r#"["SCMP_ARCH_AARCH64"]"#] {
        let p = prog(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","architectures":{archs},
            "syscalls":[{{"names":["uname"],"action":"SCMP_ACT_ERRNO","errnoRet":13}}]}}"#
        ));
        assert_eq!(run(&p, call("uname", &[])), errno(13), "{archs}");
        assert_eq!(run(&p, call("getpid", &[])), ALLOW, "{archs}");
        let x86 = archs.contains("X86\"");
        assert_eq!(run(&p, i386("uname", &[])), if x86 { errno(13) } else { KILL_THREAD }, "{archs}");
        let x32_listed = archs.contains("X32");
        assert_eq!(run(&p, x32("uname")), if x32_listed { errno(13) } else { KILL_THREAD }, "{archs}");
    }
    // runc's -ENOSYS stub covers only the listed ABIs: an unlisted native one gets the default
    // action above its largest named syscall.
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86"],
        "syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert_eq!(run(&p, call("getcwd", &[])), ALLOW);
    let mut d = call("getcwd", &[]);
    d.nr = 1000;
    assert_eq!(run(&p, d), errno(1));
    let mut d = i386("getcwd", &[]);
    d.nr = 1000;
    assert_eq!(run(&p, d), errno(38));
}

#[test]
fn enosys_stub_like_runc() {
    // Listed architectures and a non-permissive default: syscalls above the largest one named
    // get ENOSYS, so that newer syscalls make programs fall back.
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
        "syscalls":[{"names":["getcwd","uname"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let mut d = call("getcwd", &[]);
    d.nr = 80; // > getcwd (79), uname is 63
    assert_eq!(run(&p, d), errno(libc::ENOSYS as u32));
    d.nr = 78;
    assert_eq!(run(&p, d), errno(1));
    let mut d = x32("getcwd");
    d.nr += 1;
    assert_eq!(run(&p, d), errno(libc::ENOSYS as u32));
    let mut d = i386("getcwd", &[]);
    d.nr = 184; // getcwd is 183 on i386, uname 122
    assert_eq!(run(&p, d), errno(libc::ENOSYS as u32));
    // No stub without listed architectures, with an allow default, or a default errno of ENOSYS.
    for json in [
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_ALLOW"}]}"#,
        r#"{"defaultAction":"SCMP_ACT_LOG","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_ERRNO"}]}"#,
    ] {
        let p = prog(json);
        let mut d = call("getcwd", &[]);
        d.nr = 300;
        assert_ne!(run(&p, d), errno(libc::ENOSYS as u32), "{json}");
    }
}

#[test]
fn unknown_syscall_names_are_skipped() {
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["no_such_syscall","getcwd","socketcall"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert_eq!(run(&p, call("getcwd", &[])), ALLOW);
    assert_eq!(run(&p, call("uname", &[])), errno(1));
}

fn refused(json: &str) -> String {
    let e = compile(&profile(json)).unwrap_err();
    assert_eq!(e.kind(), Kind::InvalidSpec);
    e.to_string()
}

#[test]
fn bad_profiles_name_the_rule() {
    assert_eq!(
        refused(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO"},
            {"names":["getcwd"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#
        ),
        "linux.seccomp.syscalls[1].args[0]: index 6 is out of range, a syscall has 6 arguments (0-5)"
    );
    assert_eq!(
        refused(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","errnoRet":1}]}"#
        ),
        "linux.seccomp.syscalls[0]: errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_ALLOW"
    );
    assert_eq!(
        refused(r#"{"defaultAction":"SCMP_ACT_KILL","defaultErrnoRet":1}"#),
        "linux.seccomp.defaultAction: defaultErrnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_KILL"
    );
    assert!(refused(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#).contains("cannot be the default action"));
    assert!(refused(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["write"],"action":"SCMP_ACT_NOTIFY"}]}"#
    )
    .starts_with("linux.seccomp.syscalls[0]: SCMP_ACT_NOTIFY cannot be used for write"));
    assert!(refused(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO"}]}"#
    )
    .starts_with("linux.seccomp.flags[0]:"));
    assert!(refused(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[""],"action":"SCMP_ACT_ERRNO"}]}"#)
        .starts_with("linux.seccomp.syscalls[0].names[0]: empty syscall name"));
}

#[test]
fn unknown_action_or_operator_in_json() {
    let e = parse_json(&serde_json::json!({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["read"],"action":"SCMP_ACT_ALLOW"},
        {"names":["read"],"action":"SCMP_ACT_BOGUS"}]}))
    .unwrap_err();
    assert_eq!(e.to_string(), "linux.seccomp.syscalls[1].action: unknown action \"SCMP_ACT_BOGUS\"");
    let e = parse_json(&serde_json::json!({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_FOO"}]}]}))
    .unwrap_err();
    assert_eq!(e.to_string(), "linux.seccomp.syscalls[0].args[0].op: unknown operator \"SCMP_CMP_FOO\"");
    let e = parse_json(&serde_json::json!({"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_Z80"]}))
        .unwrap_err();
    assert_eq!(e.to_string(), "linux.seccomp.architectures[0]: unknown architecture \"SCMP_ARCH_Z80\"");
    let e = parse_json(&serde_json::json!({"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_NOPE"]}))
        .unwrap_err();
    assert_eq!(e.to_string(), "linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_NOPE\"");
    assert!(parse_json(&serde_json::json!({"defaultAction":"SCMP_ACT_ALLOW"})).is_ok());
}

#[test]
fn flags() {
    let p = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_TSYNC"]}"#,
    ))
    .unwrap();
    assert_eq!(
        p.flags(),
        libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW | libc::SECCOMP_FILTER_FLAG_TSYNC
    );
    let p = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock","flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    ))
    .unwrap();
    assert!(p.uses_notify());
    assert_eq!(
        p.flags(),
        libc::SECCOMP_FILTER_FLAG_TSYNC
            | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH
            | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
            | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
    );
    p.check_kernel_support().unwrap();
}

#[test]
fn long_programs_use_trampolines() {
    // Many conditional rules: chains far beyond a conditional jump's 255-instruction reach.
    let mut rules = Vec::new();
    for (i, (name, _)) in Abi::X86_64.table().iter().enumerate().take(300) {
        rules.push(format!(
            r#"{{"names":["{name}"],"action":"SCMP_ACT_ERRNO","errnoRet":{},"args":[{{"index":1,"value":{i},"op":"SCMP_CMP_EQ"}}]}}"#,
            i + 1
        ));
    }
    let json = format!(r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{}]}}"#, rules.join(","));
    let p = prog(&json);
    assert!(p.len() > 1000);
    for (i, (name, _)) in Abi::X86_64.table().iter().enumerate().take(300) {
        assert_eq!(run(&p, call(name, &[0, i as u64])), errno(i as u32 + 1), "{name}");
        assert_eq!(run(&p, call(name, &[0, i as u64 + 1000])), ALLOW, "{name}");
    }
}

#[test]
fn podman_default_profile() {
    let json = include_str!("../../../runtime-tools-tests/data/seccomp-podman-default.json");
    let p = prog(json);
    assert!(p.len() < BPF_LEN_BUDGET, "{} instructions", p.len());
    assert_eq!(run(&p, call("read", &[])), ALLOW);
    assert_eq!(run(&p, call("getcwd", &[])), ALLOW);
    // Named with ERRNO(EPERM): EPERM; not named at all: the default, ENOSYS (38).
    assert_eq!(run(&p, call("kexec_load", &[])), errno(1));
    assert_eq!(run(&p, call("sethostname", &[])), errno(1));
    let mut d = call("read", &[]);
    d.nr = 1000;
    assert_eq!(run(&p, d), errno(38));
    // personality: only a few personas are allowed.
    assert_eq!(run(&p, call("personality", &[0])), ALLOW);
    assert_eq!(run(&p, call("personality", &[0xffff_ffff])), ALLOW);
    assert_eq!(run(&p, call("personality", &[0x0800_0000])), errno(38));
    // socket(AF_NETLINK, *, NETLINK_AUDIT) is EINVAL without CAP_AUDIT_WRITE; others are fine.
    assert_eq!(run(&p, call("socket", &[16, 3, 9])), errno(22));
    assert_eq!(run(&p, call("socket", &[16, 3, 0])), ALLOW);
    assert_eq!(run(&p, call("socket", &[2, 1, 9])), ALLOW);
    // The 32-bit ABI gets the same policy through its own numbers.
    assert_eq!(run(&p, i386("getcwd", &[])), ALLOW);
    assert_eq!(run(&p, i386("kexec_load", &[])), errno(1));
    assert_eq!(run(&p, x32("getcwd")), ALLOW);
}
const BPF_LEN_BUDGET: usize = 4096;

/// Fork; in the child run `f` and exit with its return value; return the child's wait status.
fn in_child(f: impl FnOnce() -> i32) -> nix::sys::wait::WaitStatus {
    let child = spawn(f);
    nix::sys::wait::waitpid(child, None).unwrap()
}

fn errno_of(r: nix::Result<impl Sized>) -> i32 {
    match r {
        Ok(_) => 0,
        Err(e) => e as i32,
    }
}

#[test]
fn installs_and_filters_in_a_child() {
    let p = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{"index":1,"value":64,"op":"SCMP_CMP_GE"}]},
        {"names":["uname"],"action":"SCMP_ACT_ERRNO","errnoRet":38},
        {"names":["sethostname"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#,
    ))
    .unwrap();
    let status = in_child(|| {
        nix::sys::prctl::set_no_new_privs().unwrap();
        if p.install().unwrap().is_some() {
            return 2;
        }
        // getcwd(buf, 64) is refused (size >= 64), getcwd(buf, 63) is not.
        let mut buf = [0u8; 128];
        let big = nix::errno::Errno::result(ts::getcwd(&mut buf[..64]));
        let small = nix::errno::Errno::result(ts::getcwd(&mut buf[..63]));
        let un = nix::sys::utsname::uname();
        if errno_of(big) != libc::EPERM || errno_of(small) != 0 || errno_of(un) != libc::ENOSYS {
            return 3;
        }
        let _ = nix::unistd::sethostname("x");
        4 // not reached: KILL_PROCESS
    });
    assert_eq!(status, nix::sys::wait::WaitStatus::Signaled(status.pid().unwrap(), nix::sys::signal::SIGSYS, false));
}

#[test]
fn installs_without_no_new_privs_as_root() {
    // Without no_new_privs the kernel requires CAP_SYS_ADMIN, which the test runner (root) has.
    let p = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
    ))
    .unwrap();
    let status = in_child(|| {
        if let Err(e) = p.install() {
            eprintln!("{e}");
            return 2;
        }
        match nix::errno::Errno::result(ts::getppid()) {
            Err(nix::errno::Errno::EACCES) => 0,
            _ => 3,
        }
    });
    assert_eq!(status, nix::sys::wait::WaitStatus::Exited(status.pid().unwrap(), 0));
}

#[test]
fn notify_listener_is_sent_and_answered() {
    use std::io::IoSliceMut;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixListener;

    let dir = std::env::temp_dir().join(format!("husk-seccomp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("agent.sock");
    let _ = std::fs::remove_file(&path);
    let agent = UnixListener::bind(&path).unwrap();

    let p = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x","listenerMetadata":"meta",
        "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    ))
    .unwrap();
    let child_path = path.clone();
    let pid = spawn(move || {
        nix::sys::prctl::set_no_new_privs().unwrap();
        let Ok(Some(listener)) = p.install() else { return 2 };
        let mut state = oci_spec::runtime::State::default();
        state.set_id("c1".into());
        state.set_version("1.2.0".into());
        if send_listener(listener.as_fd(), &child_path, std::process::id() as i32, Some("meta"), &state).is_err() {
            return 3;
        }
        drop(listener);
        // The agent answers getppid with 4242.
        if ts::getppid() != 4242 {
            return 4;
        }
        0
    });

    let (conn, _) = agent.accept().unwrap();
    let mut buf = [0u8; 4096];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = nix::sys::socket::recvmsg::<()>(
        std::os::fd::AsRawFd::as_raw_fd(&conn),
        &mut iov,
        Some(&mut cmsg),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    let mut fd = None;
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            fd = fds.first().copied();
        }
    }
    let n = msg.bytes;
    let json: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(json["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(json["metadata"], "meta");
    assert_eq!(json["pid"], pid.as_raw());
    assert_eq!(json["state"]["id"], "c1");
    assert_eq!(json["ociVersion"], "1.2.0");
    let listener = ts::own(fd.expect("no fd with the message"));
    let n = crate::sys::seccomp::notif_recv(listener.as_fd()).unwrap();
    assert_eq!(n.nr, libc::SYS_getppid as i32);
    assert_eq!(n.pid, pid.as_raw() as u32);
    crate::sys::seccomp::notif_send(listener.as_fd(), n.id, 4242, 0, false).unwrap();
    let status = nix::sys::wait::waitpid(pid, None).unwrap();
    assert_eq!(status, nix::sys::wait::WaitStatus::Exited(pid, 0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Fork a child running `f` (its return value is the exit code); return its pid.
fn spawn(f: impl FnOnce() -> i32) -> nix::unistd::Pid {
    match ts::fork() {
        nix::unistd::ForkResult::Child => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
            std::process::exit(code)
        }
        nix::unistd::ForkResult::Parent { child } => child,
    }
}

#[test]
fn compile_is_deterministic() {
    // Keep the compile output deterministic: the same profile gives the same program.
    let json = include_str!("../../../runtime-tools-tests/data/seccomp-podman-default.json");
    assert_eq!(prog(json), prog(json));
}

#[test]
fn x86_socketcall_and_ipc_multiplexing_like_libseccomp() {
    let p = prog(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
        "syscalls":[{"names":["bind","accept","msgget"],"action":"SCMP_ACT_ALLOW"},
                    {"names":["connect"],"action":"SCMP_ACT_ALLOW","args":[{"index":2,"value":16,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let socketcall = |call: u64| {
        let mut d = i386("socketcall", &[call]);
        d.nr = Abi::X86.resolve("socketcall").unwrap();
        d
    };
    // bind: direct and through socketcall(SYS_BIND = 2); accept exists only through socketcall.
    assert_eq!(run(&p, i386("bind", &[])), ALLOW);
    assert_eq!(run(&p, socketcall(2)), ALLOW);
    assert_eq!(run(&p, socketcall(5)), ALLOW);
    assert_eq!(run(&p, socketcall(1)), errno(1));
    // A rule with argument conditions: on socketcall, arg0 selects the call and the other
    // conditions test socketcall's own arguments (libseccomp does exactly this).
    assert_eq!(run(&p, i386("connect", &[0, 0, 16])), ALLOW);
    assert_eq!(run(&p, socketcall(3)), errno(1));
    let mut d = socketcall(3);
    d.args[2] = 16;
    assert_eq!(run(&p, d), ALLOW);
    // msgget through ipc(MSGGET = 13).
    let mut d = i386("msgget", &[13]);
    d.nr = Abi::X86.resolve("ipc").unwrap();
    assert_eq!(run(&p, d), ALLOW);
    // x86_64 has no multiplexers: nothing changes there.
    assert_eq!(run(&p, call("bind", &[])), ALLOW);
}

#[test]
fn features_match_what_compile_accepts() {
    let f = features();
    assert_eq!(f.actions().as_ref().unwrap().len(), 9);
    assert_eq!(f.operators().as_ref().unwrap().len(), 7);
    assert_eq!(f.known_flags().as_ref().unwrap().len(), 4);
    // Every listed flag is known; this kernel (6.18) supports all four.
    assert_eq!(f.supported_flags(), f.known_flags());
    // Every action and operator listed compiles.
    for a in f.actions().as_ref().unwrap() {
        let a = serde_json::to_string(a).unwrap();
        for op in f.operators().as_ref().unwrap() {
            let json = format!(
                r#"{{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/a","syscalls":[{{"names":["getcwd"],"action":{a},"args":[{{"index":0,"value":1,"op":"{op}"}}]}}]}}"#
            );
            compile(&profile(&json)).unwrap();
        }
    }
}

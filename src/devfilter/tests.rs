//! The generated programs run through a small eBPF interpreter (only the opcodes the generator
//! emits; anything else fails the test) and compared with the expected decisions.

use std::os::fd::{AsFd, AsRawFd};

use oci_spec::runtime::{LinuxBuilder, LinuxDeviceBuilder, LinuxDeviceCgroupBuilder, LinuxResourcesBuilder};

use super::*;

const CTX: u64 = 0xc7c7_0000_0000;

/// Run `prog` on `bpf_cgroup_dev_ctx { access_type, major, minor }` like the kernel would,
/// with the checks its verifier would make on these opcodes.
fn run(prog: &[Insn], dev_type: u8, major: u32, minor: u32, access: u8) -> bool {
    let ctx = [u32::from(dev_type) | (u32::from(access) << 16), major, minor];
    let mut regs = [None::<u64>; 11];
    regs[1] = Some(CTX);
    let mut pc = 0usize;
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps <= prog.len(), "no forward progress");
        let i = *prog.get(pc).unwrap_or_else(|| panic!("fell off the end at {pc}"));
        let (d, s) = (i.dst(), i.src());
        assert!(d < 10 && s < 11, "bad register in {i:?}");
        let get = |r: usize| regs[r].unwrap_or_else(|| panic!("r{r} read before written at {pc}"));
        let jump = |cond: bool| {
            assert!(i.off >= 0, "backward jump at {pc}");
            let t = pc + 1 + if cond { i.off as usize } else { 0 };
            assert!(t < prog.len(), "jump out of the program at {pc}");
            t
        };
        pc = match i.code {
            LDX_MEM_W => {
                assert_eq!(get(s), CTX, "load through a non-context pointer at {pc}");
                assert!(i.off >= 0 && i.off % 4 == 0 && i.off <= 8, "bad context offset {}", i.off);
                regs[d] = Some(u64::from(ctx[i.off as usize / 4]));
                pc + 1
            }
            c if c == ALU32_K | ALU_AND => {
                regs[d] = Some(u64::from(get(d) as u32 & i.imm as u32));
                pc + 1
            }
            c if c == ALU32_K | ALU_RSH => {
                assert!((0..32).contains(&i.imm));
                regs[d] = Some(u64::from((get(d) as u32) >> i.imm));
                pc + 1
            }
            ALU32_MOV_K => {
                regs[d] = Some(u64::from(i.imm as u32));
                pc + 1
            }
            ALU32_MOV_X => {
                regs[d] = Some(u64::from(get(s) as u32));
                pc + 1
            }
            JMP_JNE_K => jump(get(d) != i.imm as i64 as u64),
            JMP_JNE_X => jump(get(d) != get(s)),
            JMP_EXIT => {
                let r0 = get(0);
                assert!(r0 <= 1, "device programs return 0 or 1");
                return r0 == 1;
            }
            c => panic!("opcode {c:#x} is not one the generator emits"),
        };
    }
}

/// "allow c 1:3 rw", "deny a", "allow b *:* m".
fn rule(text: &str) -> Rule {
    let w: Vec<&str> = text.split(' ').collect();
    let allow = w[0] == "allow";
    let kind = match w[1] {
        "a" => Kind::All,
        "b" => Kind::Block,
        _ => Kind::Char,
    };
    if kind == Kind::All {
        return Rule { allow, kind, major: None, minor: None, access: ACC_ALL };
    }
    let (ma, mi) = w[2].split_once(':').unwrap();
    let num = |s: &str| if s == "*" { None } else { Some(s.parse().unwrap()) };
    Rule { allow, kind, major: num(ma), minor: num(mi), access: acc(w[3]) }
}

fn acc(s: &str) -> u8 {
    s.chars()
        .map(|c| match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => panic!("{c}"),
        })
        .fold(0, |a, b| a | b)
}

/// The straightforward reading of the rules: the last rule matching the request decides
/// (`a` matches everything; otherwise type, major, minor, and all requested access in the
/// rule's), nothing matching denies.
fn last_match(rules: &[Rule], t: u8, major: u32, minor: u32, access: u8) -> bool {
    rules
        .iter()
        .rev()
        .find(|r| {
            r.kind == Kind::All
                || (kind_code(r.kind) == u32::from(t)
                    && r.major.is_none_or(|m| m == major)
                    && r.minor.is_none_or(|m| m == minor)
                    && access & !r.access == 0)
        })
        .is_some_and(|r| r.allow)
}

const C: u8 = DEV_CHAR;
const B: u8 = DEV_BLOCK;

/// (rules, [(type, major, minor, access, allowed)], whether last-match gives the same answers)
type Case = (&'static [&'static str], &'static [(u8, u32, u32, &'static str, bool)], bool);

const CASES: &[Case] = &[
    // Nothing: deny all.
    (&[], &[(C, 1, 3, "r", false), (B, 8, 0, "m", false), (C, 1, 3, "rwm", false)], true),
    (&["allow a"], &[(C, 1, 3, "rw", true), (B, 8, 0, "m", true), (C, 0, 0, "r", true)], true),
    (&["deny a"], &[(C, 1, 3, "r", false)], true),
    (
        &["deny a", "allow c 1:3 rwm"],
        &[
            (C, 1, 3, "r", true),
            (C, 1, 3, "w", true),
            (C, 1, 3, "m", true),
            (C, 1, 3, "rw", true),
            (C, 1, 5, "r", false),
            (B, 1, 3, "r", false),
            (C, 3, 1, "r", false),
        ],
        true,
    ),
    // Wildcards.
    (
        &["deny a", "allow c 1:* rw"],
        &[
            (C, 1, 3, "r", true),
            (C, 1, 99, "w", true),
            (C, 1, 3, "rw", true),
            (C, 1, 3, "m", false),
            (C, 2, 3, "r", false),
        ],
        true,
    ),
    (&["deny a", "allow c *:3 r"], &[(C, 7, 3, "r", true), (C, 7, 3, "w", false), (C, 7, 4, "r", false)], true),
    (
        &["deny a", "allow b *:* m"],
        &[(B, 8, 0, "m", true), (B, 8, 0, "r", false), (C, 1, 1, "m", false), (B, 259, 7, "m", true)],
        true,
    ),
    // Access: everything requested must be granted.
    (&["deny a", "allow c 1:3 r"], &[(C, 1, 3, "r", true), (C, 1, 3, "rw", false), (C, 1, 3, "w", false)], true),
    // Default allow with exceptions; the last rule wins.
    (
        &["allow a", "deny c 1:3 rwm"],
        &[(C, 1, 3, "r", false), (C, 1, 3, "m", false), (C, 1, 5, "r", true), (B, 1, 3, "r", true)],
        true,
    ),
    (&["allow c 1:3 rwm", "deny a"], &[(C, 1, 3, "r", false), (C, 1, 5, "r", false)], true),
    (&["deny c 1:3 rwm", "allow a"], &[(C, 1, 3, "r", true)], true),
    (&["deny a", "allow c 1:3 rwm", "deny c 1:3 rwm"], &[(C, 1, 3, "r", false)], true),
    (
        &["deny a", "allow c 1:3 rwm", "deny c 1:3 rwm", "allow c 1:3 r"],
        &[(C, 1, 3, "r", true), (C, 1, 3, "w", false)],
        true,
    ),
    (
        &["deny a", "allow c 1:3 rwm", "deny c 1:3 w"],
        &[(C, 1, 3, "r", true), (C, 1, 3, "w", false), (C, 1, 3, "m", true)],
        true,
    ),
    // Where runc's (cgroup v1's) reduction differs from "last match": a deny of part of the access
    // also denies a request that includes it, and access granted in pieces adds up.
    (&["deny a", "allow c 1:3 rwm", "deny c 1:3 w"], &[(C, 1, 3, "rw", false)], false),
    (&["deny a", "allow c 1:3 r", "allow c 1:3 w"], &[(C, 1, 3, "rw", true), (C, 1, 3, "m", false)], false),
    // ... and a deny of a range leaves exceptions for single devices in it (v1 removes only the
    // exact entry).
    (&["deny a", "allow c 1:3 rwm", "deny c 1:* rwm"], &[(C, 1, 3, "r", true), (C, 1, 4, "r", false)], false),
    // Devices with big numbers.
    (&["deny a", "allow c 4095:1048575 rw"], &[(C, 4095, 1048575, "rw", true), (C, 4095, 1048574, "rw", false)], true),
];

#[test]
fn programs_decide_like_the_rules() {
    for (rules, requests, plain) in CASES {
        let rules: Vec<Rule> = rules.iter().map(|r| rule(r)).collect();
        let policy = Policy::new(&rules).unwrap();
        let prog = policy.program();
        for &(t, ma, mi, a, want) in requests.iter() {
            let a = acc(a);
            assert_eq!(run(&prog, t, ma, mi, a), want, "{rules:?} on {t} {ma}:{mi} {a}");
            assert_eq!(policy.allows(t, ma, mi, a), want, "{rules:?} on {t} {ma}:{mi} {a}");
            if *plain {
                assert_eq!(last_match(&rules, t, ma, mi, a), want, "last match: {rules:?} on {t} {ma}:{mi} {a}");
            }
        }
    }
}

#[test]
fn holes_in_wildcard_rules_are_refused() {
    for rules in [
        &["allow a", "deny c 1:* rwm", "allow c 1:3 rwm"][..],
        &["deny a", "allow c 1:* rwm", "deny c 1:3 r"],
        &["deny a", "allow c *:* m", "deny c 1:3 m"],
        &["deny a", "allow c *:3 rw", "deny c 1:3 w"],
    ] {
        let rules: Vec<Rule> = rules.iter().map(|r| rule(r)).collect();
        let e = Policy::new(&rules).unwrap_err();
        assert!(e.contains("cannot take access away"), "{e}");
    }
    // No overlap in access: fine (runc's default "c *:* m" and a deny of c 1:3 rw).
    let rules: Vec<Rule> = ["deny a", "allow c *:* m", "allow c 1:3 rwm", "deny c 1:3 rw"].map(rule).to_vec();
    let p = Policy::new(&rules).unwrap();
    assert!(!run(&p.program(), C, 1, 3, acc("r")));
    assert!(run(&p.program(), C, 1, 3, acc("m")));
}

/// A pseudo-random rule list over a small domain, so that requests hit its rules.
fn random_rules(seed: &mut u64) -> Vec<Rule> {
    let mut next = |n: u64| {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (*seed >> 33) % n
    };
    let len = next(8);
    (0..len)
        .map(|_| {
            let kind = [Kind::All, Kind::Block, Kind::Char, Kind::Char][next(4) as usize];
            let major = [None, Some(1), Some(2)][next(3) as usize];
            let minor = [None, Some(3), Some(5)][next(3) as usize];
            Rule { allow: next(2) == 1, kind, major, minor, access: 1 + next(7) as u8 }
        })
        .collect()
}

#[test]
fn random_rule_lists_program_equals_policy() {
    let mut seed = 42;
    let mut checked = 0;
    for _ in 0..3000 {
        let rules = random_rules(&mut seed);
        let Ok(policy) = Policy::new(&rules) else { continue };
        let prog = policy.program();
        for t in [B, C] {
            for ma in [1, 2, 7] {
                for mi in [3, 5, 9] {
                    for a in 1..=7 {
                        assert_eq!(run(&prog, t, ma, mi, a), policy.allows(t, ma, mi, a), "{rules:?}");
                        checked += 1;
                    }
                }
            }
        }
        // With only full-access rules, none overlapping an earlier one of the opposite action,
        // the reduction is "last match wins".
        if rules.iter().all(|r| r.access == ACC_ALL) && !overlaps_earlier(&rules) {
            for t in [B, C] {
                for (ma, mi) in [(1, 3), (2, 5), (7, 9), (1, 9)] {
                    assert_eq!(
                        policy.allows(t, ma, mi, ACC_READ),
                        last_match(&rules, t, ma, mi, ACC_READ),
                        "{rules:?} on {t} {ma}:{mi}"
                    );
                }
            }
        }
    }
    assert!(checked > 100_000, "{checked}");
}

/// Whether a rule overlaps, with the opposite action, a different earlier rule (the v1
/// reduction only removes the exact entry, or refuses).
fn overlaps_earlier(rules: &[Rule]) -> bool {
    let meet = |a: Option<u32>, b: Option<u32>| a.is_none() || b.is_none() || a == b;
    rules.iter().enumerate().any(|(i, r)| {
        r.kind != Kind::All
            && rules[..i].iter().any(|e| {
                e.kind == r.kind
                    && e.allow != r.allow
                    && (e.major, e.minor) != (r.major, r.minor)
                    && meet(e.major, r.major)
                    && meet(e.minor, r.minor)
            })
    })
}

#[test]
fn default_rules_like_runc() {
    let rules = rules_for(None).unwrap();
    let p = Policy::new(&rules).unwrap();
    let prog = p.program();
    for (t, ma, mi, a, want) in [
        (C, 1, 3, "rw", true),    // null
        (C, 1, 5, "rw", true),    // zero
        (C, 1, 7, "rw", true),    // full
        (C, 1, 8, "rw", true),    // random
        (C, 1, 9, "rw", true),    // urandom
        (C, 5, 0, "rw", true),    // tty
        (C, 5, 2, "rw", true),    // ptmx
        (C, 136, 4, "rw", true),  // a pty
        (C, 10, 200, "rw", true), // tun
        (C, 1, 1, "r", false),    // mem
        (C, 1, 1, "m", true),     // mknod of anything
        (B, 8, 0, "m", true),
        (B, 8, 0, "r", false),
        (C, 5, 1, "rw", false), // console (a pty is bind-mounted there)
        (C, 4, 1, "rw", false), // tty1
    ] {
        assert_eq!(run(&prog, t, ma, mi, acc(a)), want, "{t} {ma}:{mi} {a}");
    }
}

/// allow, type, major, minor, access
type UserRule<'a> = (bool, Option<LinuxDeviceType>, Option<i64>, Option<i64>, &'a str);

fn linux(user: &[UserRule], listed: &[&str]) -> Linux {
    let user = user
        .iter()
        .map(|&(allow, typ, major, minor, access)| {
            let mut b = LinuxDeviceCgroupBuilder::default().allow(allow).access(access);
            if let Some(t) = typ {
                b = b.typ(t);
            }
            if let Some(m) = major {
                b = b.major(m);
            }
            if let Some(m) = minor {
                b = b.minor(m);
            }
            b.build().unwrap()
        })
        .collect::<Vec<_>>();
    let devices = listed
        .iter()
        .map(|p| LinuxDeviceBuilder::default().path(*p).typ(LinuxDeviceType::C).major(1).minor(3).build().unwrap())
        .collect::<Vec<_>>();
    LinuxBuilder::default()
        .resources(LinuxResourcesBuilder::default().devices(user).build().unwrap())
        .devices(devices)
        .build()
        .unwrap()
}

#[test]
fn config_rules_come_first_and_listed_devices_drop_their_default() {
    let deny_null = [(false, None, None, None, "rwm"), (false, Some(LinuxDeviceType::C), Some(1), Some(3), "rwm")];
    // Like runc: the default rules come after the config's, so /dev/null is allowed again...
    let p = Policy::new(&rules_for(Some(&linux(&deny_null, &[]))).unwrap()).unwrap();
    assert!(run(&p.program(), C, 1, 3, ACC_READ));
    // ... unless linux.devices has /dev/null.
    let p = Policy::new(&rules_for(Some(&linux(&deny_null, &["/dev/null"]))).unwrap()).unwrap();
    assert!(!run(&p.program(), C, 1, 3, ACC_READ));
    assert!(run(&p.program(), C, 1, 5, ACC_READ | ACC_WRITE));
    // An explicit allow of everything stays allow-all (the defaults add nothing).
    let p = Policy::new(&rules_for(Some(&linux(&[(true, None, None, None, "rwm")], &[]))).unwrap()).unwrap();
    assert!(p.default_allow && p.exceptions.is_empty());
    // Negative numbers are wildcards.
    let r = rules_for(Some(&linux(&[(true, Some(LinuxDeviceType::C), Some(-1), Some(3), "r")], &[]))).unwrap();
    assert_eq!(r[0], rule("allow c *:3 r"));
}

#[test]
fn bad_rules_are_named() {
    for (user, want) in [
        ((true, Some(LinuxDeviceType::U), None, None, "rwm"), "invalid cgroup device type \"u\""),
        ((true, Some(LinuxDeviceType::C), None, None, ""), "device access cannot be empty"),
        ((true, Some(LinuxDeviceType::C), None, None, "rx"), "unknown device access 'x'"),
        ((true, Some(LinuxDeviceType::C), Some(1 << 32), None, "r"), "invalid major 4294967296"),
    ] {
        let e = rules_for(Some(&linux(&[user], &[]))).unwrap_err().to_string();
        assert!(e.starts_with("linux.resources.devices[0]: ") && e.contains(want), "{e}");
    }
}

#[test]
fn encoding_is_struct_bpf_insn() {
    // r3 = *(u32 *)(r1 + 8): code 0x61, dst 3 | src 1 << 4, off 8, imm 0.
    assert_eq!(Insn::ldx_w(3, 1, 8).to_bytes(), [0x61, 0x13, 8, 0, 0, 0, 0, 0]);
    assert_eq!(Insn::jne_k(4, 136).to_bytes(), [0x55, 0x04, 0, 0, 136, 0, 0, 0]);
    assert_eq!(Insn::mov32_k(0, -1).to_bytes(), [0xb4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    // Every program ends in exit and stays far below the verifier's limit.
    let p = Policy::new(&rules_for(None).unwrap()).unwrap().program();
    assert_eq!(p.last().unwrap().code, JMP_EXIT);
    assert!(p.len() < 200, "{}", p.len());
}

/// Load, attach and replace for real, on a directory of our own in a cgroup2 hierarchy (this
/// hybrid host's /sys/fs/cgroup/unified, or the root of a v2 host); no process ever joins it.
#[test]
fn root_install_attaches_one_program_and_replaces_others() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let Some(mount) = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"].into_iter().find(|m| {
        nix::sys::statfs::statfs(*m).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
    }) else {
        eprintln!("skipped: no cgroup2 hierarchy");
        return;
    };
    struct Dir(std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let dir = Dir(Path::new(mount).join(format!("husk-test-devfilter-{}", std::process::id())));
    std::fs::create_dir(&dir.0).unwrap();
    let ids = || {
        let f = std::fs::File::open(&dir.0).unwrap();
        bpf::prog_query(f.as_fd(), bpf::ATTACH_CGROUP_DEVICE).unwrap()
    };
    let rules = rules_for(None).unwrap();
    install(&dir.0, &rules).unwrap();
    let first = ids();
    assert_eq!(first.len(), 1);
    // Again: replaced in place.
    install(&dir.0, &rules).unwrap();
    let second = ids();
    assert!(second.len() == 1 && second != first, "{first:?} {second:?}");
    // Two more programs of someone else's: all three give way to ours.
    let deny: Vec<u8> = [Insn::mov32_k(0, 0), Insn::exit()].into_iter().flat_map(Insn::to_bytes).collect();
    let f = std::fs::File::open(&dir.0).unwrap();
    for _ in 0..2 {
        let p = bpf::prog_load(bpf::PROG_TYPE_CGROUP_DEVICE, &deny, "Apache", "other").unwrap();
        bpf::prog_attach(f.as_fd(), p.as_fd(), bpf::ATTACH_CGROUP_DEVICE, bpf::F_ALLOW_MULTI, None).unwrap();
    }
    assert_eq!(ids().len(), 3);
    install(&dir.0, &rules).unwrap();
    let last = ids();
    assert!(last.len() == 1 && !second.contains(&last[0]), "{second:?} {last:?}");
    // The program fd is close-on-exec.
    let p = bpf::prog_load(bpf::PROG_TYPE_CGROUP_DEVICE, &deny, "Apache", "cloexec").unwrap();
    let flags = nix::fcntl::fcntl(p.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFD).unwrap();
    assert!(flags & libc::FD_CLOEXEC != 0);
    // A program the verifier refuses: the error names the object and quotes the verifier.
    let bad: Vec<u8> = [Insn::exit()].into_iter().flat_map(Insn::to_bytes).collect();
    let (e, log) = bpf::prog_load(bpf::PROG_TYPE_CGROUP_DEVICE, &bad, "Apache", "bad").unwrap_err();
    assert_eq!(e, Errno::EACCES, "{log}");
    assert!(log.contains("R0 !read_ok"), "{log}");
    // Detach ours so the directory can go.
    let id = ids()[0];
    let ours = bpf::prog_get_fd_by_id(id).unwrap();
    bpf::prog_detach(f.as_fd(), ours.as_fd(), bpf::ATTACH_CGROUP_DEVICE).unwrap();
    assert!(ids().is_empty());
}

#[test]
fn verifier_log_tail_is_one_line() {
    let log = "0: (95) exit\nR0 !read_ok\n\nprocessed 1 insns (limit 1000000)\n";
    assert_eq!(log_tail(log), "0: (95) exit; R0 !read_ok; processed 1 insns (limit 1000000)");
    assert_eq!(log_tail(""), "");
}

#[test]
fn birth_rules_let_the_init_make_listed_nodes_only() {
    let deny_null = [(false, None, None, None, "rwm"), (false, Some(LinuxDeviceType::C), Some(1), Some(3), "rwm")];
    let l = linux(&deny_null, &["/dev/null"]);
    let rules = rules_for(Some(&l)).unwrap();
    let final_p = Policy::new(&rules).unwrap();
    assert!(!run(&final_p.program(), C, 1, 3, ACC_READ | ACC_WRITE), "the final rules deny c 1:3");
    let birth = Policy::new(&birth_rules(&rules, Some(&l))).unwrap();
    assert!(run(&birth.program(), C, 1, 3, ACC_MKNOD | ACC_READ | ACC_WRITE), "the init may make and use it");
    assert!(!run(&birth.program(), C, 1, 4, ACC_READ), "nothing else is opened up");
    assert!(!run(&birth.program(), B, 8, 0, ACC_READ));
}

//! Root integration tests of the facade: real cgroups under /husk-test/<unique>, removed by a drop
//! guard.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxHugepageLimitBuilder,
    LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
};

use super::files::{open_cgroup_dir, remove_tree, write_file};
use super::mounts::is_cgroup2_root;
use super::*;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn skip() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return true;
    }
    if is_cgroup2_root().unwrap_or(true) {
        eprintln!("skipped: these checks read v1 files (this host is hybrid v1)");
        return true;
    }
    false
}

/// Owns a test cgroup and its children: kills and removes everything on drop, pass or fail.
struct Guard {
    cg: Cgroup,
    rel: String,
    children: Vec<Child>,
}

impl Guard {
    fn new(name: &str) -> Guard {
        let rel = format!("/husk-test/{name}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let cfg = CgroupConfig::resolve(Some(Path::new(&rel)), "ignored", false, false).unwrap();
        Guard { cg: Cgroup::open(&cfg).unwrap(), rel, children: Vec::new() }
    }
    fn dir(&self, ctrl: &str) -> PathBuf {
        under(&Path::new(CGROUP_ROOT).join(ctrl), &self.rel)
    }
    fn sleeper(&mut self) -> Pid {
        let c = Command::new("sleep").arg("1000").spawn().expect("spawning sleep");
        let pid = Pid::from_raw(c.id() as i32);
        self.children.push(c);
        pid
    }
    fn reap(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }
    fn leftovers(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> =
            ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd", "unified"]
                .iter()
                .map(|c| self.dir(c))
                .collect();
        dirs.retain(|d| d.exists());
        dirs
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.cg.thaw();
        self.reap();
        let _ = self.cg.destroy();
        for d in self.leftovers() {
            let _ = remove_tree(&d);
        }
        // The parent /husk-test is left alone: other suites on this machine use it too, and
        // removing it while one of them is between its mkdirs would break that suite.
    }
}

fn read(p: PathBuf) -> String {
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display())).trim().to_string()
}

#[test]
fn root_lifecycle_with_limits() {
    if skip() {
        return;
    }
    let mut g = Guard::new("life");
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 << 20)
                .reservation(32 << 20)
                .swap(96 << 20)
                .kernel_tcp(16 << 20)
                .disable_oom_killer(true)
                .swappiness(10u64)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(50_000i64)
                .period(100_000u64)
                .cpus("0")
                .mems("0")
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(32).build().unwrap())
        .devices(vec![
            LinuxDeviceCgroupBuilder::default().allow(false).access("rwm").build().unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1i64)
                .minor(3i64)
                .access("rwm")
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap();
    g.cg.create(Some(&r)).unwrap();
    assert_eq!(read(g.dir("memory").join("memory.limit_in_bytes")), (64u64 << 20).to_string());
    assert_eq!(read(g.dir("memory").join("memory.soft_limit_in_bytes")), (32u64 << 20).to_string());
    assert_eq!(read(g.dir("memory").join("memory.swappiness")), "10");
    assert_eq!(read(g.dir("memory").join("memory.memsw.limit_in_bytes")), (96u64 << 20).to_string());
    assert_eq!(read(g.dir("memory").join("memory.kmem.tcp.limit_in_bytes")), (16u64 << 20).to_string());
    assert!(read(g.dir("memory").join("memory.oom_control")).contains("oom_kill_disable 1"));
    let devices = read(g.dir("devices").join("devices.list"));
    assert!(devices.lines().any(|l| l == "c 1:3 rwm"), "{devices}");
    assert!(!devices.lines().any(|l| l == "a *:* rwm"), "{devices}");
    assert_eq!(read(g.dir("cpu").join("cpu.shares")), "512");
    assert_eq!(read(g.dir("cpu").join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read(g.dir("cpu").join("cpu.cfs_period_us")), "100000");
    assert_eq!(read(g.dir("cpuset").join("cpuset.cpus")), "0");
    assert_eq!(read(g.dir("pids").join("pids.max")), "32");
    for d in ["systemd", "unified", "freezer", "devices", "blkio", "cpuacct"] {
        assert!(g.dir(d).is_dir(), "{d} cgroup missing");
    }

    let pid = g.sleeper();
    g.cg.add_task(pid).unwrap();
    assert_eq!(g.cg.pids().unwrap(), [pid]);
    for d in ["memory", "cpu", "pids", "freezer", "unified", "systemd"] {
        assert_eq!(read(g.dir(d).join(CGROUP_PROCS)), pid.to_string(), "{d}");
    }

    g.cg.freeze().unwrap();
    assert_eq!(read(g.dir("freezer").join("freezer.state")), "FROZEN");
    assert!(g.cg.is_frozen().unwrap());
    assert!(is_frozen(g.cg.config()));
    g.cg.thaw().unwrap();
    assert_eq!(read(g.dir("freezer").join("freezer.state")), "THAWED");
    assert!(!g.cg.is_frozen().unwrap());
    assert!(!is_frozen(g.cg.config()));

    let up = LinuxResourcesBuilder::default()
        .memory(LinuxMemoryBuilder::default().limit(128 << 20).swap(256 << 20).build().unwrap())
        .pids(LinuxPidsBuilder::default().limit(64).build().unwrap())
        .build()
        .unwrap();
    g.cg.update(&up).unwrap();
    assert_eq!(read(g.dir("memory").join("memory.limit_in_bytes")), (128u64 << 20).to_string());
    assert_eq!(read(g.dir("pids").join("pids.max")), "64");

    let st = g.cg.stats().unwrap();
    assert_eq!(st["memory"]["usage"]["limit"], 128u64 << 20);
    assert_eq!(st["pids"]["current"], 1);
    assert_eq!(st["pids"]["limit"], 64);
    assert!(st["cpu"]["usage"]["total"].as_u64().is_some());

    g.cg.kill_all(Signal::SIGKILL).unwrap();
    let status = g.children[0].wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
    g.children.clear();
    g.cg.destroy().unwrap();
    assert_eq!(g.leftovers(), Vec::<PathBuf>::new());
    g.cg.destroy().unwrap(); // already gone is fine
}

#[test]
fn root_oom_kill_is_counted() {
    if skip() {
        return;
    }
    let mut g = Guard::new("oom");
    let r = LinuxResourcesBuilder::default()
        .memory(LinuxMemoryBuilder::default().limit(8 << 20).swap(8 << 20).build().unwrap())
        .build()
        .unwrap();
    g.cg.create(Some(&r)).unwrap();
    assert_eq!(g.cg.oom_kills().unwrap(), 0);
    // Joins while waiting on stdin, then grows without bound.
    let mut c = Command::new("sh")
        .args(["-c", "read x; exec tail /dev/zero"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = c.stdin.take().unwrap();
    let pid = Pid::from_raw(c.id() as i32);
    g.children.push(c); // killed by the guard if anything below fails
    g.cg.add_task(pid).unwrap();
    { stdin }.write_all(b"go\n").unwrap();
    let st = g.children[0].wait().unwrap();
    g.children.clear();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(libc::SIGKILL));
    assert_eq!(g.cg.oom_kills().unwrap(), 1);
}

#[test]
fn root_kill_all_keeps_a_paused_container_paused() {
    if skip() {
        return;
    }
    let mut g = Guard::new("pause");
    g.cg.create(None).unwrap();
    let pid = g.sleeper();
    g.cg.add_task(pid).unwrap();
    g.cg.freeze().unwrap();
    g.cg.kill_all(Signal::SIGTERM).unwrap();
    assert!(g.cg.is_frozen().unwrap());
    g.cg.thaw().unwrap();
    let status = g.children[0].wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGTERM));
    g.children.clear();
}

#[test]
fn root_destroy_kills_remaining_processes_and_sub_cgroups() {
    if skip() {
        return;
    }
    let mut g = Guard::new("busy");
    g.cg.create(None).unwrap();
    let a = g.sleeper();
    g.cg.add_task(a).unwrap();
    // A process in a sub-cgroup of the memory hierarchy, as a container with cgroupns could make.
    let sub = g.dir("memory").join("inner");
    fs::create_dir(&sub).unwrap();
    let b = g.sleeper();
    write_file(&sub.join(CGROUP_PROCS), &b.to_string()).unwrap();
    assert_eq!(g.cg.pids().unwrap().len(), 1, "devices hierarchy holds only a");
    g.cg.destroy().unwrap();
    assert_eq!(g.leftovers(), Vec::<PathBuf>::new());
    for c in &mut g.children {
        let st = c.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(libc::SIGKILL));
    }
    g.children.clear();
}

#[test]
fn root_unsupported_resources_fail_clearly_and_leave_nothing() {
    if skip() {
        return;
    }
    let g = Guard::new("hugetlb");
    let hp = LinuxHugepageLimitBuilder::default().page_size("2MB").limit(1 << 21).build().unwrap();
    let r = LinuxResourcesBuilder::default().hugepage_limits(vec![hp]).build().unwrap();
    let root_has = read(PathBuf::from("/sys/fs/cgroup/unified/cgroup.subtree_control"));
    match g.cg.create(Some(&r)) {
        Err(e) => {
            let s = e.to_string();
            assert!(s.starts_with(&format!("creating cgroup {}: setting hugepage limits", g.rel)), "{s}");
            assert!(s.contains("hugetlb"), "{s}");
            assert_eq!(g.leftovers(), Vec::<PathBuf>::new());
        }
        Ok(()) => assert!(root_has.contains("hugetlb"), "applied without hugetlb delegated"),
    }
    assert_eq!(read(PathBuf::from("/sys/fs/cgroup/unified/cgroup.subtree_control")), root_has);

    let g = Guard::new("blkio");
    let r = LinuxResourcesBuilder::default()
        .block_io(LinuxBlockIoBuilder::default().weight(500u16).build().unwrap())
        .build()
        .unwrap();
    // This kernel has BFQ's blkio.bfq.weight (not CFQ's blkio.weight) in non-root cgroups.
    match g.cg.create(Some(&r)) {
        Ok(()) => assert_eq!(read(g.dir("blkio").join("blkio.bfq.weight")), "500"),
        Err(e) => {
            assert!(e.to_string().contains("blkio weight"), "{e}");
            assert_eq!(g.leftovers(), Vec::<PathBuf>::new());
        }
    }
    g.cg.destroy().unwrap();
    let r = LinuxResourcesBuilder::default()
        .block_io(LinuxBlockIoBuilder::default().leaf_weight(500u16).build().unwrap())
        .build()
        .unwrap();
    if !g.dir("blkio").join("blkio.leaf_weight").exists() {
        let e = g.cg.create(Some(&r)).unwrap_err();
        assert!(e.to_string().contains("leafWeight"), "{e}");
        assert_eq!(g.leftovers(), Vec::<PathBuf>::new());
    }
}

#[test]
fn root_failed_create_spares_an_existing_cgroup() {
    if skip() {
        return;
    }
    let mut g = Guard::new("shared");
    g.cg.create(None).unwrap();
    let pid = g.sleeper();
    g.cg.add_task(pid).unwrap();
    let bad = LinuxResourcesBuilder::default()
        .memory(LinuxMemoryBuilder::default().swappiness(1000u64).build().unwrap())
        .build()
        .unwrap();
    let e = g.cg.create(Some(&bad)).unwrap_err();
    assert!(e.to_string().contains("swappiness"), "{e}");
    assert!(g.dir("memory").is_dir());
    assert_eq!(g.cg.pids().unwrap(), [pid]);
    assert!(g.children[0].try_wait().unwrap().is_none(), "the process must survive");
}

/// The v2 code path, run in this host's cgroup2 hierarchy below a directory of our own (which
/// has no controllers delegated: the root's cgroup.subtree_control is never changed).
#[test]
fn root_v2_freeze_kill_destroy() {
    if skip() {
        return;
    }
    let base = PathBuf::from(format!(
        "/sys/fs/cgroup/unified/husk-test-v2-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir(&base).unwrap();
    struct Base(PathBuf);
    impl Drop for Base {
        fn drop(&mut self) {
            let _ = fs::write(self.0.join("c/cgroup.kill"), "1");
            sleep(Duration::from_millis(20));
            let _ = remove_tree(&self.0);
        }
    }
    let base = Base(base);
    let cfg = CgroupConfig::resolve(Some(Path::new("/c")), "x", false, false).unwrap();
    let cg = Cgroup::open_v2_at(&base.0, &cfg).unwrap();
    let dir = base.0.join("c");

    // A limit whose controller is not delegated fails, and the new leaf goes away.
    let r =
        LinuxResourcesBuilder::default().pids(LinuxPidsBuilder::default().limit(10).build().unwrap()).build().unwrap();
    let e = cg.create(Some(&r)).unwrap_err();
    assert!(e.to_string().starts_with("creating cgroup /c: applying resources"), "{e}");
    assert!(!dir.exists());

    cg.create(None).unwrap();
    assert!(dir.is_dir());
    let mut a = Command::new("sleep").arg("1000").spawn().unwrap();
    let pid = Pid::from_raw(a.id() as i32);
    cg.add_task(pid).unwrap();
    assert_eq!(cg.pids().unwrap(), [pid]);
    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    assert_eq!(read(dir.join("cgroup.freeze")), "1");
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());
    cg.kill_all(Signal::SIGTERM).unwrap();
    let st = a.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(libc::SIGTERM));

    let mut b = Command::new("sleep").arg("1000").spawn().unwrap();
    cg.add_task(Pid::from_raw(b.id() as i32)).unwrap();
    cg.kill_all(Signal::SIGKILL).unwrap(); // cgroup.kill
    let st = b.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(libc::SIGKILL));
    cg.destroy().unwrap();
    assert!(!dir.exists());
    cg.destroy().unwrap();
}

/// clone3(CLONE_INTO_CGROUP) through `birth_dir`, in this host's cgroup2 hierarchy below a
/// directory of our own: the child is listed in the cgroup although nobody wrote its
/// cgroup.procs. A v1 directory is never offered (clone3 would refuse it).
#[test]
fn root_v2_child_born_in_birth_dir() {
    use crate::sys::process::{fork_into_cgroup, Forked};
    use std::os::fd::AsFd;
    if skip() {
        return;
    }
    assert!(open_cgroup_dir(Path::new("/sys/fs/cgroup/pids")).is_none());
    let name = format!("husk-test-clone3-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
    let base = PathBuf::from("/sys/fs/cgroup/unified").join(&name);
    fs::create_dir(&base).unwrap();
    struct Base(PathBuf);
    impl Drop for Base {
        fn drop(&mut self) {
            let _ = remove_tree(&self.0);
        }
    }
    let base = Base(base);
    let cfg = CgroupConfig::resolve(Some(Path::new("/c")), "x", false, false).unwrap();
    let cg = Cgroup::open_v2_at(&base.0, &cfg).unwrap();
    cg.create(None).unwrap();
    let dir = cg.birth_dir().expect("the v2 directory, opened");
    // The child only waits (no allocation: the test harness has other threads).
    let pid = match fork_into_cgroup(0, dir.as_fd()).expect("clone3 into the cgroup") {
        Forked::Child => loop {
            nix::unistd::pause();
        },
        Forked::Parent(pid) => pid,
    };
    let procs = read(base.0.join("c/cgroup.procs"));
    let proc_cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
    assert_eq!(procs, pid.to_string());
    assert!(proc_cgroup.lines().any(|l| l == format!("0::/{name}/c")), "{proc_cgroup}");
}

/// Time create(None) + add_task + destroy: the per-container cost of an empty config.
#[test]
fn root_timing_empty_config() {
    if skip() {
        return;
    }
    const N: u32 = 20;
    let (mut t_open, mut t_create, mut t_add, mut t_destroy) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for _ in 0..N {
        let t = Instant::now();
        let mut g = Guard::new("time");
        t_open += t.elapsed();
        let pid = g.sleeper();
        let t = Instant::now();
        g.cg.create(None).unwrap();
        t_create += t.elapsed();
        let t = Instant::now();
        g.cg.add_task(pid).unwrap();
        t_add += t.elapsed();
        g.reap();
        let t = Instant::now();
        g.cg.destroy().unwrap();
        t_destroy += t.elapsed();
        assert_eq!(g.leftovers(), Vec::<PathBuf>::new());
    }
    eprintln!(
        "empty config, mean of {N}: open {:?} create {:?} add_task {:?} destroy {:?}",
        t_open / N,
        t_create / N,
        t_add / N,
        t_destroy / N
    );

    // With limits: libcgroups' v1 manager is built (24 procfs parses) and devices programmed.
    let r = LinuxResourcesBuilder::default()
        .memory(LinuxMemoryBuilder::default().limit(64 << 20).build().unwrap())
        .pids(LinuxPidsBuilder::default().limit(100).build().unwrap())
        .cpu(LinuxCpuBuilder::default().shares(512u64).build().unwrap())
        .devices(vec![LinuxDeviceCgroupBuilder::default().allow(false).access("rwm").build().unwrap()])
        .build()
        .unwrap();
    let mut t_limits = Duration::ZERO;
    for _ in 0..N {
        let g = Guard::new("time");
        let t = Instant::now();
        g.cg.create(Some(&r)).unwrap();
        t_limits += t.elapsed();
    }
    eprintln!("memory+pids+cpu+devices config, mean of {N}: create {:?}", t_limits / N);
    let t = Instant::now();
    for _ in 0..N {
        libcgroups::v1::manager::Manager::new(Path::new("/husk-test/x")).unwrap();
    }
    eprintln!("of which libcgroups v1 Manager::new: {:?}", t.elapsed() / N);
}

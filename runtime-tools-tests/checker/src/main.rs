//! checker: runs as the container process and prints what it sees as one JSON object.
//!
//! `checker report [PROBE...]` prints the facts the conformance suite asserts on: ids, groups,
//! umask, cwd, capability sets, NoNewPrivs, rlimits, oom_score_adj, hostname/domainname,
//! namespaces (inode of every /proc/self/ns/* link), open fds, mountinfo, env, session keyring,
//! isatty of fds 0-2, and the results of
//! the probes named on the command line:
//!   --stat PATH     lstat (and the symlink target) of PATH
//!   --read PATH     contents of a file (up to 64 KiB, lossy UTF-8) or the entries of a directory
//!   --open-w PATH   open PATH for writing (no data written); "ok" or the errno name
//!   --open-r PATH   open PATH for reading and read one byte; "ok" or the errno name
//!   --create DIR    create then remove DIR/.checker-probe; "ok" or the errno name
//!   --ptmx          open /dev/ptmx and unlock a pty; "ok:/dev/pts/N" or the errno name
//! Assertions live in the pytest cases; the checker only observes. Exit status 0 unless its own
//! arguments are wrong.
//!
//! `checker sleep` blocks until a signal arrives (used as a long-running workload).
//! `checker notify MSG` sends MSG as one datagram to $NOTIFY_SOCKET (sd_notify).
//! `checker exe-probe SECS` tries for SECS seconds to open /proc/N/exe of every other process
//! for writing and prints the outcomes (errno name or "ok") with counts.

use serde_json::{json, Map, Value};
use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::EBADF => "EBADF",
        libc::EACCES => "EACCES",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ENXIO => "ENXIO",
        libc::ENODEV => "ENODEV",
        libc::ELOOP => "ELOOP",
        libc::ETXTBSY => "ETXTBSY",
        _ => return format!("errno{}", e),
    };
    name.to_string()
}

fn io_err(e: &std::io::Error) -> String {
    e.raw_os_error().map(errno_name).unwrap_or_else(|| e.to_string())
}

fn last_errno() -> String {
    io_err(&std::io::Error::last_os_error())
}

/// Fields of /proc/self/status that the suite needs, verbatim.
fn proc_status() -> Value {
    let mut m = Map::new();
    if let Ok(s) = fs::read_to_string("/proc/self/status") {
        for line in s.lines() {
            if let Some((k, v)) = line.split_once(':') {
                let keep = [
                    "Uid",
                    "Gid",
                    "Groups",
                    "Umask",
                    "CapInh",
                    "CapPrm",
                    "CapEff",
                    "CapBnd",
                    "CapAmb",
                    "NoNewPrivs",
                    "Seccomp",
                    "NSpid",
                ];
                if keep.contains(&k) {
                    m.insert(k.to_string(), json!(v.trim()));
                }
            }
        }
    }
    Value::Object(m)
}

fn rlimits() -> Value {
    let names: [(&str, u32); 16] = [
        ("RLIMIT_CPU", libc::RLIMIT_CPU),
        ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
        ("RLIMIT_DATA", libc::RLIMIT_DATA),
        ("RLIMIT_STACK", libc::RLIMIT_STACK),
        ("RLIMIT_CORE", libc::RLIMIT_CORE),
        ("RLIMIT_RSS", libc::RLIMIT_RSS),
        ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
        ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
        ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
        ("RLIMIT_AS", libc::RLIMIT_AS),
        ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
        ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
        ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
        ("RLIMIT_NICE", libc::RLIMIT_NICE),
        ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
        ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
    ];
    let mut m = Map::new();
    for (name, res) in names {
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes into the rlimit we own.
        let rc = unsafe { libc::getrlimit(res, &mut r) };
        if rc == 0 {
            let conv = |v: libc::rlim_t| {
                if v == libc::RLIM_INFINITY {
                    json!("unlimited")
                } else {
                    json!(v)
                }
            };
            m.insert(name.to_string(), json!({"soft": conv(r.rlim_cur), "hard": conv(r.rlim_max)}));
        }
    }
    Value::Object(m)
}

fn uname() -> Value {
    // SAFETY: utsname is plain old data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return json!({"error": last_errno()});
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    json!({"nodename": field(&u.nodename), "domainname": field(&u.domainname)})
}

fn namespaces() -> Value {
    let mut m = Map::new();
    if let Ok(rd) = fs::read_dir("/proc/self/ns") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            match fs::read_link(e.path()) {
                Ok(t) => m.insert(name, json!(t.to_string_lossy())),
                Err(err) => m.insert(name, json!({"error": io_err(&err)})),
            };
        }
    }
    Value::Object(m)
}

/// Open fds, except the one used to list the directory.
fn fds() -> Value {
    let mut m = Map::new();
    // SAFETY: opening a directory by a static C string.
    let dirfd = unsafe { libc::open(c"/proc/self/fd".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if dirfd < 0 {
        return json!({"error": last_errno()});
    }
    // SAFETY: dirfd is an open directory fd we own; fdopendir takes ownership.
    let dir = unsafe { libc::fdopendir(dirfd) };
    if dir.is_null() {
        return json!({"error": last_errno()});
    }
    loop {
        // SAFETY: dir is a valid DIR*.
        let ent = unsafe { libc::readdir(dir) };
        if ent.is_null() {
            break;
        }
        // SAFETY: d_name is a NUL-terminated array inside the dirent.
        let name = unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) }.to_string_lossy().into_owned();
        if name == "." || name == ".." {
            continue;
        }
        let n: i32 = match name.parse() {
            Ok(n) => n,
            Err(_) => continue,
        };
        if n == dirfd {
            continue;
        }
        let target = fs::read_link(format!("/proc/self/fd/{}", n))
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_else(|e| format!("?{}", io_err(&e)));
        m.insert(name, json!(target));
    }
    // SAFETY: dir is valid and closed once.
    unsafe { libc::closedir(dir) };
    Value::Object(m)
}

/// /proc/self/mountinfo, one object per line.
fn mountinfo() -> Value {
    let s = match fs::read_to_string("/proc/self/mountinfo") {
        Ok(s) => s,
        Err(e) => return json!({"error": io_err(&e)}),
    };
    let unescape =
        |s: &str| s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\");
    let mut v = Vec::new();
    for line in s.lines() {
        let (pre, post) = match line.split_once(" - ") {
            Some(x) => x,
            None => continue,
        };
        let f: Vec<&str> = pre.split(' ').collect();
        let g: Vec<&str> = post.split(' ').collect();
        if f.len() < 6 || g.len() < 3 {
            continue;
        }
        v.push(json!({
            "id": f[0].parse::<u64>().unwrap_or(0),
            "parent": f[1].parse::<u64>().unwrap_or(0),
            "dev": f[2],
            "root": unescape(f[3]),
            "mountpoint": unescape(f[4]),
            "options": f[5].split(',').collect::<Vec<_>>(),
            "optional": f[6..].to_vec(),
            "fstype": g[0],
            "source": unescape(g[1]),
            "super_options": g[2].split(',').collect::<Vec<_>>(),
        }));
    }
    Value::Array(v)
}

fn stat_path(p: &str) -> Value {
    match fs::symlink_metadata(p) {
        Err(e) => json!({"error": io_err(&e)}),
        Ok(md) => {
            let ft = md.file_type();
            let kind = if ft.is_symlink() {
                "symlink"
            } else if ft.is_dir() {
                "dir"
            } else if ft.is_file() {
                "file"
            } else if ft.is_char_device() {
                "char"
            } else if ft.is_block_device() {
                "block"
            } else if ft.is_fifo() {
                "fifo"
            } else if ft.is_socket() {
                "socket"
            } else {
                "other"
            };
            let rdev = md.rdev();
            let mut o = json!({
                "type": kind,
                "mode": md.mode(),
                "perm": format!("{:o}", md.mode() & 0o7777),
                "uid": md.uid(),
                "gid": md.gid(),
                "size": md.size(),
                "dev": md.dev(),
                "ino": md.ino(),
                "major": libc::major(rdev),
                "minor": libc::minor(rdev),
            });
            if ft.is_symlink() {
                if let Ok(t) = fs::read_link(p) {
                    o["target"] = json!(t.to_string_lossy());
                }
            }
            o
        }
    }
}

fn read_path(p: &str) -> Value {
    match fs::metadata(p) {
        Ok(md) if md.is_dir() => match fs::read_dir(p) {
            Ok(rd) => {
                let mut names: Vec<String> =
                    rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
                names.sort();
                json!({"entries": names})
            }
            Err(e) => json!({"error": io_err(&e)}),
        },
        _ => {
            use std::io::Read;
            match fs::File::open(p) {
                Err(e) => json!({"error": io_err(&e)}),
                Ok(f) => {
                    let mut buf = Vec::new();
                    match f.take(65536).read_to_end(&mut buf) {
                        Ok(_) => json!({"content": String::from_utf8_lossy(&buf)}),
                        Err(e) => json!({"error": io_err(&e)}),
                    }
                }
            }
        }
    }
}

fn open_probe(p: &str, flags: i32, read_one: bool) -> Value {
    let c = match CString::new(p) {
        Ok(c) => c,
        Err(_) => return json!("EINVAL"),
    };
    // SAFETY: c is a valid C string; the fd is closed below.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOCTTY) };
    if fd < 0 {
        return json!(last_errno());
    }
    let mut res = json!("ok");
    if read_one {
        let mut b = [0u8; 1];
        // SAFETY: reading into a 1-byte buffer we own from an fd we own.
        let n = unsafe { libc::read(fd, b.as_mut_ptr() as *mut libc::c_void, 1) };
        if n < 0 {
            res = json!(last_errno());
        }
    }
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    res
}

fn create_probe(dir: &str) -> Value {
    let p = format!("{}/.checker-probe", dir.trim_end_matches('/'));
    match fs::File::create(&p) {
        Ok(_) => {
            let _ = fs::remove_file(&p);
            json!("ok")
        }
        Err(e) => json!(io_err(&e)),
    }
}

fn ptmx_probe() -> Value {
    // SAFETY: posix_openpt returns a new fd or -1.
    let fd = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if fd < 0 {
        return json!(last_errno());
    }
    // SAFETY: fd is a pty master we own.
    let res = if unsafe { libc::grantpt(fd) } != 0 || unsafe { libc::unlockpt(fd) } != 0 {
        json!(last_errno())
    } else {
        let mut buf = [0 as libc::c_char; 128];
        // SAFETY: buf is large enough and owned.
        if unsafe { libc::ptsname_r(fd, buf.as_mut_ptr(), buf.len()) } != 0 {
            json!(last_errno())
        } else {
            // SAFETY: ptsname_r NUL-terminates on success.
            let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
            json!(format!("ok:{}", name.to_string_lossy()))
        }
    };
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    res
}

/// Serial of the session keyring, or -errno when there is none (keyctl(2), create = 0).
fn session_keyring() -> i64 {
    const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
    const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
    // SAFETY: keyctl(KEYCTL_GET_KEYRING_ID, ...) only reads; no pointers are passed.
    let r =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0 as libc::c_long) };
    if r < 0 {
        -(std::io::Error::last_os_error().raw_os_error().unwrap_or(0) as i64)
    } else {
        r as i64
    }
}

fn report(args: &[String]) -> Result<Value, String> {
    let mut stat = Map::new();
    let mut read = Map::new();
    let mut open_w = Map::new();
    let mut open_r = Map::new();
    let mut create = Map::new();
    let mut ptmx = Value::Null;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{} needs a value", a));
        match a.as_str() {
            "--stat" => {
                let p = val()?;
                stat.insert(p.clone(), stat_path(&p));
            }
            "--read" => {
                let p = val()?;
                read.insert(p.clone(), read_path(&p));
            }
            "--open-w" => {
                let p = val()?;
                open_w.insert(p.clone(), open_probe(&p, libc::O_WRONLY, false));
            }
            "--open-r" => {
                let p = val()?;
                open_r.insert(p.clone(), open_probe(&p, libc::O_RDONLY, true));
            }
            "--create" => {
                let p = val()?;
                create.insert(p.clone(), create_probe(&p));
            }
            "--ptmx" => ptmx = ptmx_probe(),
            other => return Err(format!("unknown probe {}", other)),
        }
    }
    // Collect fds first so nothing the checker opens shows up.
    let fds = fds();
    let cwd = match std::env::current_dir() {
        Ok(p) => json!(p.to_string_lossy()),
        Err(e) => json!({"error": io_err(&e)}),
    };
    let mut groups = vec![0 as libc::gid_t; 256];
    // SAFETY: groups has room for 256 entries.
    let n = unsafe { libc::getgroups(groups.len() as i32, groups.as_mut_ptr()) };
    groups.truncate(n.max(0) as usize);
    let env: Map<String, Value> =
        std::env::vars_os().map(|(k, v)| (k.to_string_lossy().into_owned(), json!(v.to_string_lossy()))).collect();
    let oom = fs::read_to_string("/proc/self/oom_score_adj")
        .map(|s| json!(s.trim().parse::<i64>().unwrap_or(i64::MIN)))
        .unwrap_or_else(|e| json!({"error": io_err(&e)}));
    // SAFETY: these id getters cannot fail.
    let (pid, ppid, uid, gid, euid, egid) =
        unsafe { (libc::getpid(), libc::getppid(), libc::getuid(), libc::getgid(), libc::geteuid(), libc::getegid()) };
    let mut mask = 0;
    // SAFETY: umask only changes our own mask, restored immediately.
    unsafe {
        mask = libc::umask(mask);
        libc::umask(mask);
    }
    let isatty: Vec<bool> = (0..3).map(unsafe_isatty).collect();
    Ok(json!({
        "pid": pid,
        "ppid": ppid,
        "uid": uid,
        "gid": gid,
        "euid": euid,
        "egid": egid,
        "groups": groups,
        "umask": format!("{:04o}", mask),
        "cwd": cwd,
        "status": proc_status(),
        "rlimits": rlimits(),
        "oom_score_adj": oom,
        "uts": uname(),
        "ns": namespaces(),
        "fds": fds,
        "env": env,
        "mountinfo": mountinfo(),
        "uid_map": fs::read_to_string("/proc/self/uid_map").unwrap_or_default(),
        "gid_map": fs::read_to_string("/proc/self/gid_map").unwrap_or_default(),
        "cgroup": fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
        "session_keyring": session_keyring(),
        "isatty": isatty,
        "stat": stat,
        "read": read,
        "open_w": open_w,
        "open_r": open_r,
        "create": create,
        "ptmx": ptmx,
    }))
}

fn unsafe_isatty(fd: i32) -> bool {
    // SAFETY: isatty only inspects the fd.
    unsafe { libc::isatty(fd) == 1 }
}

/// The CVE-2019-5736 attacker (security tests): until STOPFILE exists, open /proc/PID/exe of
/// every other process it can see (O_PATH) whose binary path contains NAME, try to open it for
/// writing at once, and keep retrying writes through /proc/self/fd/N (they succeed once no
/// process executes the binary any more). Prints one JSON line: how many binaries it grabbed,
/// how many writes got through, and the errno of the last failed attempts.
fn grab_exe(stop: &str, only: &str) -> Value {
    use std::os::unix::fs::MetadataExt;
    let me = fs::metadata("/proc/self/exe").map(|m| (m.dev(), m.ino())).unwrap_or((0, 0));
    let self_pid = std::process::id().to_string();
    let mut grabbed: Vec<(i32, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut written = Vec::new();
    let (mut open_err, mut write_err) = (String::new(), String::new());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut finishing = 0;
    loop {
        if std::path::Path::new(stop).exists() || std::time::Instant::now() > deadline {
            // A few last rounds of writes once the runtime has surely exited.
            finishing += 1;
            if finishing > 20 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if let Ok(rd) = fs::read_dir("/proc") {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.bytes().all(|b| b.is_ascii_digit()) || name == self_pid {
                    continue;
                }
                let path = CString::new(format!("/proc/{}/exe", name)).unwrap();
                // SAFETY: path is a valid C string.
                let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
                if fd < 0 {
                    open_err = errno_name(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
                    continue;
                }
                // SAFETY: st is written by fstat on success.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                let ok = unsafe { libc::fstat(fd, &mut st) } == 0;
                if !ok || (st.st_dev, st.st_ino) == me || !seen.insert((st.st_dev, st.st_ino)) {
                    // SAFETY: fd is ours.
                    unsafe { libc::close(fd) };
                    continue;
                }
                let target = fs::read_link(format!("/proc/self/fd/{}", fd)).unwrap_or_default();
                if !target.to_string_lossy().contains(only) {
                    // SAFETY: fd is ours.
                    unsafe { libc::close(fd) };
                    seen.remove(&(st.st_dev, st.st_ino));
                    continue;
                }
                grabbed.push((fd, format!("pid {} {}", name, target.display())));
            }
        }
        for (fd, what) in &grabbed {
            if written.contains(what) {
                continue;
            }
            let p = CString::new(format!("/proc/self/fd/{}", fd)).unwrap();
            // SAFETY: p is a valid C string.
            let w = unsafe { libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_APPEND | libc::O_CLOEXEC) };
            if w < 0 {
                write_err = errno_name(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
                continue;
            }
            let msg = b"#!/bin/sh\necho escaped\n";
            // SAFETY: msg is valid for its length; w is ours.
            let n = unsafe { libc::write(w, msg.as_ptr() as *const libc::c_void, msg.len()) };
            unsafe { libc::close(w) };
            if n > 0 {
                written.push(what.clone());
            }
        }
    }
    json!({
        "grabbed": grabbed.iter().map(|(_, w)| w.clone()).collect::<Vec<_>>(),
        "written": written,
        "open_error": open_err,
        "write_error": write_err,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(|s| s.as_str()) {
        Some("report") => match report(&args[2..]) {
            Ok(v) => println!("{}", v),
            Err(e) => {
                eprintln!("checker: {}", e);
                std::process::exit(2);
            }
        },
        Some("grab-exe") => match (args.get(2), args.get(3)) {
            (Some(stop), Some(only)) => println!("{}", grab_exe(stop, only)),
            _ => {
                eprintln!("usage: checker grab-exe STOPFILE NAME");
                std::process::exit(2);
            }
        },
        Some("notify") => {
            // checker notify MSG: send MSG as one datagram to $NOTIFY_SOCKET (sd_notify).
            let path = std::env::var("NOTIFY_SOCKET").unwrap_or_default();
            let msg = args.get(2).cloned().unwrap_or_default();
            let sock = std::os::unix::net::UnixDatagram::unbound().expect("socket");
            match sock.send_to(msg.as_bytes(), &path) {
                Ok(_) => println!("notify-sent"),
                Err(e) => {
                    eprintln!("checker: notify {:?}: {}", path, e);
                    std::process::exit(1);
                }
            }
        }
        Some("exe-probe") => {
            // checker exe-probe SECS: for SECS seconds, try to open /proc/N/exe for writing for
            // every other process; print one JSON object: outcome (errno name or "ok") -> count,
            // and the exe link targets of the processes that were opened.
            let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
            let me = std::process::id().to_string();
            let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
            let mut counts = Map::new();
            let mut opened = Vec::new();
            while std::time::Instant::now() < end {
                let Ok(rd) = fs::read_dir("/proc") else { break };
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if !name.bytes().all(|b| b.is_ascii_digit()) || name == me || name == "1" {
                        continue;
                    }
                    let p = format!("/proc/{}/exe", name);
                    let key = match fs::OpenOptions::new().write(true).open(&p) {
                        Ok(_) => {
                            opened.push(json!(fs::read_link(&p).map(|l| l.display().to_string()).unwrap_or_default()));
                            "ok".to_string()
                        }
                        Err(e) => io_err(&e),
                    };
                    let n = counts.get(&key).and_then(|v| v.as_u64()).unwrap_or(0);
                    counts.insert(key, json!(n + 1));
                }
            }
            println!("{}", json!({"counts": counts, "opened": opened}));
        }
        Some("sleep") => loop {
            // SAFETY: pause just waits for a signal.
            unsafe { libc::pause() };
        },
        _ => {
            eprintln!("usage: checker report [--stat P] [--read P] [--open-w P] [--open-r P] [--create DIR] [--ptmx] | checker sleep | checker grab-exe STOPFILE NAME");
            std::process::exit(2);
        }
    }
}

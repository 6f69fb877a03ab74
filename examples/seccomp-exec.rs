//! Run a command under an OCI seccomp profile compiled and loaded by husk, without a
//! container: for the probe tests and the differential checks against runc.
//!
//! seccomp-exec [--no-nnp] PROFILE.json COMMAND [ARG...]
//!
//! PROFILE is a `linux.seccomp` object, or a whole config.json (its linux.seccomp is used).
//! The filter is loaded last, right before execve, as the container init does; with
//! --no-nnp no_new_privs is left unset (needs CAP_SYS_ADMIN). A profile using
//! SCMP_ACT_NOTIFY is refused here: nobody would answer.

use std::ffi::CString;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let nnp = if args.first().map(String::as_str) == Some("--no-nnp") {
        args.remove(0);
        false
    } else {
        true
    };
    if args.len() < 2 {
        eprintln!("usage: seccomp-exec [--no-nnp] PROFILE.json COMMAND [ARG...]");
        std::process::exit(125);
    }
    let text = std::fs::read_to_string(&args[0]).unwrap_or_else(|e| die(&format!("reading {}: {e}", args[0])));
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| die(&format!("{e}")));
    if let Some(s) = v.pointer("/linux/seccomp") {
        v = s.clone();
    }
    let spec = husk::security::seccomp::parse_json(&v).unwrap_or_else(|e| die(&e.to_string()));
    let prog = husk::security::seccomp::compile(&spec).unwrap_or_else(|e| die(&e.to_string()));
    if prog.uses_notify() {
        die("profiles with SCMP_ACT_NOTIFY need a runtime and an agent");
    }
    prog.check_kernel_support().unwrap_or_else(|e| die(&e.to_string()));
    let argv: Vec<CString> = args[1..].iter().map(|a| CString::new(a.as_str()).unwrap()).collect();
    if nnp {
        nix::sys::prctl::set_no_new_privs().unwrap_or_else(|e| die(&format!("setting no_new_privs: {e}")));
    }
    // Last step before execve: from here on every syscall is filtered.
    prog.install().unwrap_or_else(|e| die(&e.to_string()));
    let e = nix::unistd::execvp(&argv[0], &argv).unwrap_err();
    die(&format!("executing {}: {e}", args[1]));
}

fn die(msg: &str) -> ! {
    eprintln!("seccomp-exec: {msg}");
    std::process::exit(125)
}

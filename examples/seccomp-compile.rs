//! Compile an OCI `linux.seccomp` JSON profile with husk and report how long it takes, or dump
//! the program.
//!
//! cargo run --release --example seccomp-compile -- [PROFILE.json] [--iterations N]
//! cargo run --release --example seccomp-compile -- PROFILE.json --dump > prog.bpf
//!
//! PROFILE defaults to runtime-tools-tests/data/seccomp-podman-default.json. `--dump` writes the
//! raw `struct sock_filter` array (what seccomp_export_bpf writes) to stdout.

use std::io::Write;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxSeccomp;

fn main() {
    let mut path = String::from("runtime-tools-tests/data/seccomp-podman-default.json");
    let mut iterations = 2000usize;
    let mut dump = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dump" => dump = true,
            "--iterations" => iterations = args.next().and_then(|n| n.parse().ok()).expect("--iterations N"),
            _ => path = a,
        }
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let spec: LinuxSeccomp = serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"));
    if dump {
        let p = husk::security::seccomp::compile(&spec).unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::with_capacity(p.instructions().len() * 8);
        for i in p.instructions() {
            out.extend_from_slice(&i.code.to_ne_bytes());
            out.extend_from_slice(&[i.jt, i.jf]);
            out.extend_from_slice(&i.k.to_ne_bytes());
        }
        std::io::stdout().write_all(&out).unwrap();
        return;
    }
    let mut times: Vec<Duration> = Vec::with_capacity(iterations);
    let mut len = 0;
    for _ in 0..iterations {
        let t = Instant::now();
        let p = husk::security::seccomp::compile(&spec).unwrap_or_else(|e| panic!("{e}"));
        times.push(t.elapsed());
        len = p.instructions().len();
    }
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{path}: {len} BPF instructions; compile over {iterations} runs: min {:.1} us, median {:.1} us, p99 {:.1} us",
        us(times[0]),
        us(times[iterations / 2]),
        us(times[iterations * 99 / 100])
    );
    // Name resolution alone.
    let names: Vec<String> = spec.syscalls().iter().flatten().flat_map(|s| s.names().clone()).collect();
    let t = Instant::now();
    let mut found = 0;
    for _ in 0..200 {
        for n in &names {
            for abi in [
                husk::security::seccomp::Abi::X86_64,
                husk::security::seccomp::Abi::X86,
                husk::security::seccomp::Abi::X32,
            ] {
                found += abi.resolve(n).is_some() as usize;
            }
        }
    }
    println!("(resolving {} names x 3 ABIs: {:.1} us, {found})", names.len(), us(t.elapsed()) / 200.0);
    // The two stages separately.
    let t = Instant::now();
    for _ in 0..200 {
        husk::security::seccomp::plan(&spec).unwrap();
    }
    let plan_us = us(t.elapsed()) / 200.0;
    let plan = husk::security::seccomp::plan(&spec).unwrap();
    let t = Instant::now();
    for _ in 0..200 {
        husk::security::seccomp::emit(&plan).unwrap();
    }
    println!("(plan: {plan_us:.1} us, emit: {:.1} us)", us(t.elapsed()) / 200.0);
    // Through the on-disk cache: the first call compiles and stores, the others read.
    let dir = std::env::temp_dir().join(format!("husk-seccomp-bench-{}", std::process::id()));
    husk::security::seccomp::compile_cached(&spec, &dir).unwrap();
    let t = Instant::now();
    for _ in 0..200 {
        husk::security::seccomp::compile_cached(&spec, &dir).unwrap();
    }
    println!("(cache hit: {:.1} us)", us(t.elapsed()) / 200.0);
    let _ = std::fs::remove_dir_all(&dir);
    // Parsing the JSON is the caller's (config.json is parsed once anyway), but report it too.
    let t = Instant::now();
    for _ in 0..100 {
        let _: LinuxSeccomp = serde_json::from_str(&text).unwrap();
    }
    println!("(parsing the profile JSON: {:.1} us per parse)", us(t.elapsed()) / 100.0);
}

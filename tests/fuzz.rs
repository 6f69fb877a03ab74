//! A deterministic, libFuzzer-free mutation fuzzer over husk's input handling (config.json
//! parsing + validation + the pure planning steps, and the seccomp compiler), for stable
//! toolchains and CI. cargo-fuzz targets over the same entry points (fuzz/entry_points.rs) live in fuzz/.
//!
//! Seeds: fuzz/corpus/{config,seccomp}/*.json; every file in fuzz/regressions/ (inputs that once
//! crashed) is replayed first. Knobs: HUSK_FUZZ_ITERS (per target, default 1500),
//! HUSK_FUZZ_SECS (run for a time instead), HUSK_FUZZ_SEED. A panicking input is written to
//! target/fuzz-crashes/ and fails the test. hack/fuzz.sh runs longer campaigns.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

// The entry points the cargo-fuzz targets run too.
#[path = "../fuzz/entry_points.rs"]
mod entry_points;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    paths.sort();
    paths.iter().filter(|p| p.is_file()).filter_map(|p| std::fs::read(p).ok()).collect()
}

const INTERESTING: &[&str] = &[
    "0",
    "-1",
    "-2",
    "1",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "-9223372036854775808",
    "9223372036854775807",
    "1e308",
    "-0",
    "0.5",
    "null",
    "true",
    "\"\"",
    "\"/\"",
    "\"..\"",
    "\"../..\"",
    "\"/a/../..\"",
    "\"\\u0000\"",
    "\"rel/path\"",
    "[]",
    "{}",
    "[[]]",
    "\"SCMP_ACT_NOTIFY\"",
    "\"SCMP_ARCH_X86\"",
    "\"RLIMIT_NOFILE\"",
    "\"bind\"",
    "\"rbind\"",
    "\"ro\"",
    "\"mode=0777\"",
    "\"size=-1\"",
    "\"user\"",
    "\"pid\"",
    "\"time\"",
    "\"SCMP_CMP_MASKED_EQ\"",
    "\"SCMP_ACT_ERRNO\"",
    "\"slice:prefix:name\"",
    "\"::\"",
];

fn random_value(r: &mut Rng, depth: u32) -> Value {
    match r.below(if depth > 3 { 3 } else { 6 }) {
        0 => serde_json::from_str(INTERESTING[r.below(INTERESTING.len())]).unwrap_or(Value::Null),
        1 => Value::from(r.next() as i64 >> r.below(64)),
        2 => Value::from("x".repeat(r.below(300))),
        3 => Value::Array((0..r.below(4)).map(|_| random_value(r, depth + 1)).collect()),
        4 => {
            let keys = ["type", "path", "names", "action", "args", "index", "value", "op", "destination", "options"];
            Value::Object(
                (0..r.below(4)).map(|_| (keys[r.below(keys.len())].to_string(), random_value(r, depth + 1))).collect(),
            )
        }
        _ => Value::from(r.below(70_000) as u64),
    }
}

/// Visit a random node of the tree and change it.
fn mutate_value(v: &mut Value, r: &mut Rng, donors: &[Value]) {
    // Choose a path first (immutably), then walk it mutably.
    let mut path = Vec::new();
    {
        let mut cur = &*v;
        for _ in 0..r.below(8) {
            let step = match cur {
                Value::Object(m) if !m.is_empty() => r.below(m.len()),
                Value::Array(a) if !a.is_empty() => r.below(a.len()),
                _ => break,
            };
            cur = match cur {
                Value::Object(m) => m.values().nth(step).unwrap(),
                Value::Array(a) => &a[step],
                _ => unreachable!(),
            };
            path.push(step);
        }
    }
    let mut cur = v;
    for step in path {
        cur = match cur {
            Value::Object(m) => m.values_mut().nth(step).unwrap(),
            Value::Array(a) => &mut a[step],
            _ => unreachable!(),
        };
    }
    match (r.below(7), &mut *cur) {
        (0, Value::Object(m)) if !m.is_empty() => {
            let k = m.keys().nth(r.below(m.len())).cloned().unwrap();
            m.remove(&k);
        }
        (1, Value::Array(a)) if !a.is_empty() => {
            let i = r.below(a.len());
            let dup = a[i].clone();
            for _ in 0..1 + r.below(3) {
                a.push(dup.clone());
            }
        }
        (2, Value::Array(a)) if !a.is_empty() => {
            a.remove(r.below(a.len()));
        }
        (3, Value::Object(m)) => {
            let donor = &donors[r.below(donors.len())];
            if let Value::Object(d) = donor {
                if let Some((k, dv)) = d.iter().nth(r.below(d.len().max(1))) {
                    m.insert(k.clone(), dv.clone());
                }
            }
        }
        _ => *cur = random_value(r, 0),
    }
}

fn mutate_bytes(data: &mut Vec<u8>, r: &mut Rng) {
    for _ in 0..1 + r.below(4) {
        let len = data.len();
        match r.below(5) {
            0 if len > 0 => {
                let i = r.below(len);
                data[i] ^= 1 << r.below(8);
            }
            1 if len > 0 => {
                let i = r.below(len);
                data.truncate(i);
            }
            2 => {
                let i = r.below(len + 1);
                const BYTES: &[u8] = b"{}[]\",:-0123456789e.\\u\n";
                let b = BYTES[r.below(BYTES.len())];
                data.insert(i, b);
            }
            3 if len > 1 => {
                let a = r.below(len);
                let b = (a + r.below(64)).min(len);
                data.drain(a..b);
            }
            _ if len > 0 => {
                let a = r.below(len);
                let b = (a + r.below(32)).min(len);
                let chunk = data[a..b].to_vec();
                let at = r.below(len + 1);
                data.splice(at..at, chunk);
            }
            _ => {}
        }
    }
}

fn run(name: &str, target: fn(&[u8])) -> (u64, Vec<PathBuf>) {
    let corpus = files(&repo().join("fuzz/corpus").join(name));
    assert!(!corpus.is_empty(), "no corpus in fuzz/corpus/{name}");
    let donors: Vec<Value> = corpus.iter().filter_map(|c| serde_json::from_slice(c).ok()).collect();
    let seed: u64 = std::env::var("HUSK_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_0010);
    let iters: u64 = std::env::var("HUSK_FUZZ_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(1500);
    let secs: Option<u64> = std::env::var("HUSK_FUZZ_SECS").ok().and_then(|s| s.parse().ok());
    let deadline = secs.map(|s| Instant::now() + Duration::from_secs(s));
    let mut r = Rng(seed ^ name.len() as u64 ^ 0x9e37_79b9_7f4a_7c15);
    let mut crashes = Vec::new();
    let out = repo().join("target/fuzz-crashes").join(name);
    let try_one = |input: &[u8], crashes: &mut Vec<PathBuf>| {
        if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
            let _ = std::fs::create_dir_all(&out);
            let h = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01b3));
            let p = out.join(format!("{h:016x}.json"));
            let _ = std::fs::write(&p, input);
            crashes.push(p);
        }
    };
    let mut n = 0u64;
    for input in files(&repo().join("fuzz/regressions").join(name)).iter().chain(corpus.iter()) {
        try_one(input, &mut crashes);
        n += 1;
    }
    loop {
        match deadline {
            Some(d) if Instant::now() >= d => break,
            None if n >= iters => break,
            _ => {}
        }
        let base = &corpus[r.below(corpus.len())];
        let input = if r.below(4) == 0 {
            let mut b = base.clone();
            mutate_bytes(&mut b, &mut r);
            b
        } else {
            let mut v: Value = serde_json::from_slice(base).unwrap_or(Value::Null);
            for _ in 0..1 + r.below(3) {
                mutate_value(&mut v, &mut r, &donors);
            }
            serde_json::to_vec(&v).unwrap()
        };
        try_one(&input, &mut crashes);
        n += 1;
    }
    (n, crashes)
}

#[test]
fn fuzz_config_parsing_and_validation() {
    let (n, crashes) = run("config", entry_points::config);
    eprintln!("fuzz config: {n} inputs, {} crashes", crashes.len());
    assert!(crashes.is_empty(), "inputs that panic (keep them in fuzz/regressions/config/): {crashes:?}");
}

#[test]
fn fuzz_seccomp_compiler() {
    let (n, crashes) = run("seccomp", entry_points::seccomp);
    eprintln!("fuzz seccomp: {n} inputs, {} crashes", crashes.len());
    assert!(crashes.is_empty(), "inputs that panic (keep them in fuzz/regressions/seccomp/): {crashes:?}");
}

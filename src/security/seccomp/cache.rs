//! A cache of compiled programs, so repeated containers with the same profile skip compiling.
//!
//! Runs in the runtime parent, before fork. Files live in a directory of the caller's choice
//! (e.g. `<state root>/seccomp-cache/`), one per profile: `<fnv64 of the profile>.bpf`. Each file
//! holds the profile's canonical JSON, which a lookup compares in full, so a hash collision or a
//! stale file can only cost a recompile. Writes go to a temp file renamed into place. The cache
//! is best effort: a directory that cannot be read or written just means compiling.

use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;
use seccompiler::sock_filter;

use super::{compile, Program};
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"HUSKSECC";
/// Bump whenever compile() can give a different program for the same profile.
const FORMAT: u32 = 1;
/// At most this many entries: storing one more removes the oldest (by mtime). Hosts run few
/// distinct profiles; this only bounds the directory when something generates many.
const MAX_ENTRIES: usize = 128;

/// [`compile`], through the cache in `dir`.
pub fn compile_cached(spec: &LinuxSeccomp, dir: &Path) -> Result<Program> {
    let key = serde_json::to_string(spec)
        .map_err(|e| Error::invalid_spec(format!("linux.seccomp: encoding the profile: {e}")))?;
    let path = cache_path(dir, &key);
    if let Some(p) = std::fs::read(&path).ok().and_then(|b| decode(&b, &key)) {
        return Ok(p);
    }
    let prog = compile(spec)?;
    if store(dir, &path, &encode(&prog, &key)).is_ok() {
        prune(dir, MAX_ENTRIES);
    }
    Ok(prog)
}

fn cache_path(dir: &Path, key: &str) -> PathBuf {
    // FNV-1a, 64 bits: stable across builds (unlike std's hasher), and a collision is harmless.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in env!("CARGO_PKG_VERSION").bytes().chain(FORMAT.to_le_bytes()).chain(key.bytes()) {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    dir.join(format!("{h:016x}.bpf"))
}

fn store(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Remove the oldest `.bpf` entries beyond `max`.
fn prune(dir: &Path, max: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = rd
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "bpf"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if entries.len() <= max {
        return;
    }
    entries.sort();
    for (_, p) in &entries[..entries.len() - max] {
        let _ = std::fs::remove_file(p);
    }
}

fn encode(p: &Program, key: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(64 + key.len() + 8 * p.filter.len());
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&FORMAT.to_le_bytes());
    #[allow(clippy::unnecessary_cast)] // c_ulong is u64 only on 64-bit targets
    b.extend_from_slice(&(p.flags as u64).to_le_bytes());
    b.push(p.notify as u8);
    b.extend_from_slice(&(p.actions.len() as u32).to_le_bytes());
    for a in &p.actions {
        b.extend_from_slice(&a.to_le_bytes());
    }
    b.extend_from_slice(&(key.len() as u32).to_le_bytes());
    b.extend_from_slice(key.as_bytes());
    b.extend_from_slice(&(p.filter.len() as u32).to_le_bytes());
    for i in &p.filter {
        b.extend_from_slice(&i.code.to_le_bytes());
        b.extend_from_slice(&[i.jt, i.jf]);
        b.extend_from_slice(&i.k.to_le_bytes());
    }
    b
}

/// Reads a cache file; None if it is not a valid entry for exactly `key`.
fn decode(b: &[u8], key: &str) -> Option<Program> {
    let mut r = Reader(b);
    if r.take(8)? != MAGIC || r.u32()? != FORMAT {
        return None;
    }
    let flags = r.u64()? as libc::c_ulong;
    let notify = r.take(1)?[0] != 0;
    let n = r.u32()? as usize;
    let actions = (0..n).map(|_| r.u32()).collect::<Option<Vec<_>>>()?;
    let klen = r.u32()? as usize;
    if r.take(klen)? != key.as_bytes() {
        return None;
    }
    let n = r.u32()? as usize;
    if n == 0 || n > compile::BPF_MAX_LEN {
        return None;
    }
    let mut filter = Vec::with_capacity(n);
    for _ in 0..n {
        let i = r.take(8)?;
        filter.push(sock_filter {
            code: u16::from_le_bytes([i[0], i[1]]),
            jt: i[2],
            jf: i[3],
            k: u32::from_le_bytes([i[4], i[5], i[6], i[7]]),
        });
    }
    if !r.0.is_empty() {
        return None;
    }
    Some(Program { filter, flags, notify, actions })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_invalidation() {
        let dir = std::env::temp_dir().join(format!("husk-seccomp-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let json = include_str!("../../../runtime-tools-tests/data/seccomp-podman-default.json");
        let spec: LinuxSeccomp = serde_json::from_str(json).unwrap();
        let fresh = compile(&spec).unwrap();
        assert_eq!(compile_cached(&spec, &dir).unwrap(), fresh); // miss: compiles and stores
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(files.len(), 1);
        let path = files[0].as_ref().unwrap().path();
        assert_eq!(compile_cached(&spec, &dir).unwrap(), fresh); // hit
        let key = serde_json::to_string(&spec).unwrap();
        assert_eq!(decode(&std::fs::read(&path).unwrap(), &key).unwrap(), fresh);
        // Another profile never decodes from this entry.
        assert!(decode(&std::fs::read(&path).unwrap(), "{}").is_none());
        // A damaged entry is ignored and rewritten.
        let mut b = std::fs::read(&path).unwrap();
        b.truncate(b.len() - 3);
        std::fs::write(&path, &b).unwrap();
        assert_eq!(compile_cached(&spec, &dir).unwrap(), fresh);
        assert_eq!(decode(&std::fs::read(&path).unwrap(), &key).unwrap(), fresh);
        // The directory is bounded: the oldest entries go.
        for i in 0..5 {
            std::fs::write(dir.join(format!("{i:016x}.bpf")), b"old").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::fs::remove_file(&path).unwrap();
        assert_eq!(compile_cached(&spec, &dir).unwrap(), fresh); // miss: stores, prunes to 128
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 6);
        prune(&dir, 3);
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(left.len(), 3);
        assert!(left.contains(&path), "the newest entry stays");
        assert!(!left.contains(&dir.join("0000000000000000.bpf")), "the oldest goes");
        // An unwritable cache directory just means compiling.
        assert_eq!(compile_cached(&spec, Path::new("/proc/husk-no-such-dir")).unwrap(), fresh);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

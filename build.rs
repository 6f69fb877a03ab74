//! Build-time facts for `husk --version` (and `features`' annotations): the git commit husk is
//! built from and the compiler's version. A build outside a git checkout (a release tarball, a
//! package build) takes the commit from the HUSK_COMMIT environment variable, or says honestly
//! that it does not know it.
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=HUSK_COMMIT");
    let commit = match std::env::var("HUSK_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => git_commit().unwrap_or_else(|| "unknown (not built from a git checkout; set HUSK_COMMIT)".into()),
    };
    println!("cargo:rustc-env=HUSK_COMMIT={commit}");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = output(Command::new(rustc).arg("--version"))
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HUSK_RUSTC_VERSION={version}");
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok().filter(|o| o.status.success())?;
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}

/// `git rev-parse HEAD`, with runc's "-dirty" suffix when tracked files differ from it. The
/// build script reruns when HEAD moves (HEAD, its ref, packed-refs), the index changes or a
/// source file changes (which recompiles the crate anyway), so the answer stays current.
fn git_commit() -> Option<String> {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let git = |args: &[&str]| output(Command::new("git").arg("-C").arg(&manifest).args(args));
    let head = git(&["rev-parse", "HEAD"])?;
    let rerun = |p: &Path| {
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    };
    let abs = |p: String| Path::new(&manifest).join(p);
    if let Some(dir) = git(&["rev-parse", "--git-dir"]).map(abs) {
        rerun(&dir.join("HEAD"));
        rerun(&dir.join("index"));
    }
    if let Some(common) = git(&["rev-parse", "--git-common-dir"]).map(abs) {
        rerun(&common.join("packed-refs"));
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            rerun(&common.join(r));
        }
    }
    for p in ["src", "Cargo.toml", "Cargo.lock", "build.rs"] {
        rerun(&Path::new(&manifest).join(p));
    }
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}

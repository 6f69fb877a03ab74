//! Entry points shared by the cargo-fuzz targets (fuzz/fuzz_targets/) and the libFuzzer-free
//! mutation fuzzer (tests/fuzz.rs), which both include this file as a module: bytes in, no panic
//! out. Only husk's public API and pure code are reached: parsing, validation, the cgroup path
//! rules and the seccomp compiler; nothing touches the system. Not part of the husk library, so
//! the runtime's module list is only the runtime.

use oci_spec::runtime::LinuxSeccomp;

/// config.json bytes → parse → validate → mount options, cgroupsPath, seccomp compile.
pub(crate) fn config(data: &[u8]) {
    let Ok(spec) = husk::spec::parse(data) else { return };
    if husk::spec::validate(&spec).is_err() {
        return;
    }
    for m in spec.mounts().as_deref().unwrap_or_default() {
        let opts = husk::rootfs::options::parse(m.options().as_deref().unwrap_or_default());
        let _ = opts.data_string();
    }
    if let Some(linux) = spec.linux() {
        // Relative paths read /proc/self/cgroup only; systemd form is parsed, never contacted.
        let _ = husk::cgroups::CgroupConfig::resolve(linux.cgroups_path().as_deref(), "fuzz", false, false);
        let _ = husk::cgroups::CgroupConfig::resolve(linux.cgroups_path().as_deref(), "fuzz", true, false);
        if let Some(s) = linux.seccomp() {
            let _ = husk::security::seccomp::compile(s);
        }
    }
}

/// A `linux.seccomp` object's bytes → compile.
pub(crate) fn seccomp(data: &[u8]) {
    if let Ok(s) = serde_json::from_slice::<LinuxSeccomp>(data) {
        let _ = husk::security::seccomp::compile(&s);
    }
}

//! Entry points shared by the cargo-fuzz targets (fuzz/) and the libFuzzer-free mutation
//! fuzzer (tests/fuzz.rs): bytes in, no panic out. Only pure code is reached: parsing,
//! validation, the cgroup path rules and the seccomp compiler; nothing touches the system.

use oci_spec::runtime::LinuxSeccomp;

/// config.json bytes → parse → validate → mount options, cgroupsPath, seccomp compile.
pub fn config(data: &[u8]) {
    let Ok(spec) = crate::spec::parse(data) else { return };
    if crate::spec::validate(&spec).is_err() {
        return;
    }
    for m in spec.mounts().as_deref().unwrap_or_default() {
        let opts = crate::rootfs::options::parse(m.options().as_deref().unwrap_or_default());
        let _ = opts.data_string();
    }
    if let Some(linux) = spec.linux() {
        // Relative paths read /proc/self/cgroup only; systemd form is parsed, never contacted.
        let _ = crate::cgroups::CgroupConfig::resolve(linux.cgroups_path().as_deref(), "fuzz", false);
        let _ = crate::cgroups::CgroupConfig::resolve(linux.cgroups_path().as_deref(), "fuzz", true);
        if let Some(s) = linux.seccomp() {
            let _ = crate::security::seccomp::compile(s);
        }
    }
}

/// A `linux.seccomp` object's bytes → compile.
pub fn seccomp(data: &[u8]) {
    if let Ok(s) = serde_json::from_slice::<LinuxSeccomp>(data) {
        let _ = crate::security::seccomp::compile(&s);
    }
}

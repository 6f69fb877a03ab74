//! `husk features`: what this build of husk supports, as the runtime-spec features.md JSON
//! (containerd ≥ 1.7 and podman 5 read it to decide what to ask for). Every claim is true of
//! this build: each list comes from the code that implements it, and the conformance suite
//! checks the claims against behaviour (runtime-tools-tests/test_ops.py).

use serde_json::{json, Value};

use crate::error::{Error, Kind, Result};

/// The hooks husk runs (create, start, delete).
pub const HOOKS: [&str; 6] =
    ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

/// The namespaces husk creates and joins (src/namespaces.rs `flag_of` handles every
/// `LinuxNamespaceType`).
pub const NAMESPACES: [&str; 8] = ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"];

pub fn features_json() -> Value {
    let mut caps: Vec<caps::Capability> = caps::all().into_iter().collect();
    caps.sort_by_key(|c| c.index());
    let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
    let seccomp = serde_json::to_value(crate::security::seccomp::features()).unwrap_or(Value::Null);
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::OCI_SPEC_VERSION,
        "hooks": HOOKS,
        "mountOptions": crate::rootfs::options::KNOWN_OPTIONS,
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": caps,
            // v1 and hybrid hierarchies (ours), v2 and the systemd driver (libcgroups), the latter
            // rootless through the user's own systemd manager (docs/rootless.md); no rdma
            // controller support.
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": true, "rdma": false},
            "seccomp": seccomp,
            // Support in this build (features.md: "unrelated to whether the host supports"
            // it); whether this host has the LSM is in the run.husk.*.host annotations.
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            // Implemented (src/resctrl.rs), but only usable where resctrl is mounted.
            "intelRdt": {"enabled": crate::resctrl::available(), "schemata": crate::resctrl::available(), "monitoring": false},
            "mountExtensions": {"idmap": {"enabled": true}},
            "netDevices": {"enabled": true},
            "memoryPolicy": {
                "modes": ["MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED",
                    "MPOL_PREFERRED_MANY", "MPOL_LOCAL"],
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]
            },
        },
        "annotations": {
            "run.husk.version": env!("CARGO_PKG_VERSION"),
            "run.husk.commit": option_env!("HUSK_COMMIT").unwrap_or("unknown"),
            "run.husk.seccomp.compiler": "husk (pure Rust, no libseccomp)",
            "run.husk.cgroups.library": "libcgroups 0.7",
            "run.husk.checkpoint.enabled": "true",
            "run.husk.rootless.enabled": "true",
            // runtime-spec 1.2/1.3 process attributes features.md has no section for
            "run.husk.process.scheduler": "true",
            "run.husk.process.ioPriority": "true",
            "run.husk.process.execCPUAffinity": "true",
            "run.husk.linux.personality": "LINUX,LINUX32",
            "run.husk.linux.timeNamespace": "true",
            "run.husk.apparmor.host": crate::security::lsm::apparmor_enabled().to_string(),
            "run.husk.selinux.host": crate::security::lsm::selinux_enabled().to_string(),
        },
    })
}

pub fn features() -> Result<()> {
    let text = serde_json::to_string_pretty(&features_json())
        .map_err(|e| Error::new(Kind::System, format!("encoding features: {e}")))?;
    crate::logging::stdout(&(text + "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_of_features_md() {
        let f = features_json();
        assert_eq!(f["ociVersionMin"], "1.0.0");
        assert_eq!(f["ociVersionMax"], crate::OCI_SPEC_VERSION);
        // It parses as the spec's Features type.
        let typed: oci_spec::runtime::Features = serde_json::from_value(f.clone()).unwrap();
        let linux = typed.linux().as_ref().unwrap();
        assert_eq!(linux.namespaces().as_ref().unwrap().len(), 8);
        assert_eq!(linux.cgroup().as_ref().unwrap().rdma(), &Some(false));
        assert!(linux.seccomp().as_ref().unwrap().enabled().unwrap());
        let caps = f["linux"]["capabilities"].as_array().unwrap();
        assert_eq!(caps[0], "CAP_CHOWN");
        assert!(caps.contains(&json!("CAP_CHECKPOINT_RESTORE")));
        assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], true);
        let opts = f["mountOptions"].as_array().unwrap();
        assert!(opts.iter().any(|o| o == "idmap") && opts.iter().any(|o| o == "ridmap"));
        for k in f["annotations"].as_object().unwrap().keys() {
            assert!(k.starts_with("run.husk."), "{k}");
        }
    }

    #[test]
    fn every_namespace_type_is_listed() {
        use oci_spec::runtime::LinuxNamespaceType as T;
        for t in [T::Cgroup, T::Ipc, T::Mount, T::Network, T::Pid, T::Time, T::User, T::Uts] {
            let name = serde_json::to_value(t).unwrap();
            assert!(NAMESPACES.contains(&name.as_str().unwrap()), "{name}");
            crate::namespaces::flag_of(t);
        }
    }
}

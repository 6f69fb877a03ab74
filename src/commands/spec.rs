//! `husk spec`: write runc's default config.json (or the rootless variant) into a bundle.

use std::path::Path;

use serde_json::{json, Value};

use crate::cli::SpecArgs;
use crate::error::{Error, Kind, Result};

/// The default configuration, as runc 1.1 writes it (with our hostname).
pub fn default_config() -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "husk",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// runc's rootless changes: a user namespace mapping the caller, no network namespace,
/// /sys bound from the host, no resources, devpts without gid=5 (the cgroup mount stays, as in
/// runc's).
pub fn rootless_config(uid: u32, gid: u32) -> Value {
    let mut c = default_config();
    let linux = &mut c["linux"];
    linux.as_object_mut().map(|l| l.remove("resources"));
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    let ns: Vec<Value> = linux["namespaces"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n["type"] != "network")
        .chain(std::iter::once(json!({"type": "user"})))
        .collect();
    linux["namespaces"] = Value::Array(ns);
    let mounts: Vec<Value> = c["mounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut m| {
            if m["type"] == "sysfs" {
                m = json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            }
            if m["type"] == "devpts" {
                m["options"] = json!(["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]);
            }
            m
        })
        .collect();
    c["mounts"] = Value::Array(mounts);
    c
}

pub fn spec(a: &SpecArgs) -> Result<()> {
    let path = Path::new(&a.bundle).join("config.json");
    if path.exists() {
        return Err(Error::new(Kind::Exists, "File config.json exists. Remove it first"));
    }
    let mut c = if a.rootless {
        rootless_config(nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw())
    } else {
        default_config()
    };
    // As runc's spec: a cgroup namespace on a cgroup v2 host.
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        if let Some(ns) = c["linux"]["namespaces"].as_array_mut() {
            ns.push(json!({"type": "cgroup"}));
        }
    }
    let text = serde_json::to_string_pretty(&c).map_err(|e| Error::new(Kind::System, format!("encoding spec: {e}")))?;
    std::fs::write(&path, text + "\n").map_err(|e| Error::io(e, format!("writing {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_rootless_configs_parse_and_validate() {
        for c in [default_config(), rootless_config(1000, 1000)] {
            let spec: oci_spec::runtime::Spec = serde_json::from_value(c).unwrap();
            crate::spec::validate(&spec).unwrap();
        }
        let r = rootless_config(1000, 1001);
        assert_eq!(r["linux"]["gidMappings"][0]["hostID"], 1001);
        assert!(r["linux"]["namespaces"].as_array().unwrap().iter().any(|n| n["type"] == "user"));
        assert!(!r["linux"]["namespaces"].as_array().unwrap().iter().any(|n| n["type"] == "network"));
    }
}

//! config.json → a validated `Spec`. Parse errors name the JSON path of the bad field;
//! validation errors name the field and what is wrong with it.

use std::collections::HashSet;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

/// Read and validate `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let text = std::fs::read(&path).map_err(|e| Error::io(e, format!("reading {}", path.display())))?;
    let spec = parse(&text).map_err(|e| e.context(format!("parsing {}", path.display())))?;
    validate(&spec).map_err(|e| e.context(format!("invalid {}", path.display())))?;
    Ok(spec)
}

/// oci-spec 0.10 names two scheduler flags differently from the runtime-spec
/// (`SCHED_RESET_ON_FORK`, `SCHED_FLAG_D_L_OVERRUN`): accept the spec's names.
pub fn normalize(text: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    const FIXES: [(&str, &str); 2] = [
        ("\"SCHED_FLAG_RESET_ON_FORK\"", "\"SCHED_RESET_ON_FORK\""),
        ("\"SCHED_FLAG_DL_OVERRUN\"", "\"SCHED_FLAG_D_L_OVERRUN\""),
    ];
    let s = String::from_utf8_lossy(text);
    if !FIXES.iter().any(|(from, _)| s.contains(from)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = s.into_owned();
    for (from, to) in FIXES {
        out = out.replace(from, to);
    }
    std::borrow::Cow::Owned(out.into_bytes())
}

/// The warning runc 1.1.5 gives (and husk, in the same words) for capability names it ignores.
pub fn warn_ignored_caps(names: &[String]) {
    if !names.is_empty() {
        let mut names = names.to_vec();
        names.sort();
        names.dedup();
        crate::logging::warn(&format!("ignoring unknown or unavailable capabilities: [{}]", names.join(" ")));
    }
}

/// Capability names oci-spec cannot represent (`CAP_UNKNOWN`, one newer than it) make the
/// typed parse fail; runc ignores them with a warning. Remove them from the five sets of the
/// capabilities object at `path` (`["process", "capabilities"]` in a config,
/// `["capabilities"]` in a process file) and return the text without them and their names;
/// `None` if the text is not JSON or no name was removed (the parse error stands).
pub fn strip_unknown_caps(text: &[u8], path: &[&str]) -> Option<(Vec<u8>, Vec<String>)> {
    let mut v: serde_json::Value = serde_json::from_slice(text).ok()?;
    let mut caps = &mut v;
    for key in path {
        caps = caps.get_mut(*key)?;
    }
    let mut removed = Vec::new();
    for set in ["bounding", "effective", "inheritable", "permitted", "ambient"] {
        let Some(list) = caps.get_mut(set).and_then(|l| l.as_array_mut()) else { continue };
        list.retain(|c| {
            let ok = serde_json::from_value::<oci_spec::runtime::Capability>(c.clone()).is_ok();
            if !ok {
                removed.push(c.as_str().map(str::to_string).unwrap_or_else(|| c.to_string()));
            }
            ok
        });
    }
    if removed.is_empty() {
        return None;
    }
    Some((serde_json::to_vec_pretty(&v).ok()?, removed))
}

/// Parse config.json text; on failure, say where (JSON path, line and column) and why.
/// Unknown capability names are dropped with a warning (see [`strip_unknown_caps`]).
pub fn parse(text: &[u8]) -> Result<Spec> {
    let text = &*normalize(text);
    let first = match serde_json::from_slice::<Spec>(text) {
        Ok(spec) => return Ok(spec),
        Err(e) => e,
    };
    // Without the unknown names: their warning and the spec, or the error that remains (its
    // line and column are then those of the re-serialized text; its JSON path is right).
    let (text, e) = match strip_unknown_caps(text, &["process", "capabilities"]) {
        Some((fixed, removed)) => match serde_json::from_slice::<Spec>(&fixed) {
            Ok(spec) => {
                warn_ignored_caps(&removed);
                return Ok(spec);
            }
            Err(e) => (std::borrow::Cow::Owned(fixed), e),
        },
        None => (std::borrow::Cow::Borrowed(text), first),
    };
    let text = &*text;
    Err({
        let at = json_path_at(text, e.line(), e.column());
        let mut why = e.to_string();
        // serde_json appends " at line L column C": we print our own position.
        if let Some(i) = why.rfind(" at line ") {
            why.truncate(i);
        }
        // A missing field is reported at the end of its object, where the path names the
        // object's last key: name the object and the missing field instead.
        let at = match why.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
            Some(field) => {
                let obj = match at.rfind('.') {
                    _ if at.ends_with(']') => at.as_str(),
                    Some(i) => &at[..i],
                    None => "",
                };
                if obj.is_empty() {
                    field.to_string()
                } else {
                    format!("{obj}.{field}")
                }
            }
            None => at,
        };
        let loc = if at.is_empty() { String::from("(top level)") } else { at };
        Error::invalid_spec(format!("{loc}: {why} (line {}, column {})", e.line(), e.column()))
    })
}

/// The JSON path (`process.user.uid`, `mounts[2].type`) of the value being read at a
/// 1-based line/column of `text`, as reported by serde_json.
pub fn json_path_at(text: &[u8], line: usize, column: usize) -> String {
    enum Frame {
        Obj { key: Option<String>, want_key: bool },
        Arr(usize),
    }
    // Byte offset of the position.
    let mut off = 0;
    let mut cur_line = 1;
    while off < text.len() && cur_line < line {
        if text[off] == b'\n' {
            cur_line += 1;
        }
        off += 1;
    }
    let end = (off + column.saturating_sub(1)).min(text.len());
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        match text[i] {
            b'{' => stack.push(Frame::Obj { key: None, want_key: true }),
            b'[' => stack.push(Frame::Arr(0)),
            b'}' | b']' => {
                stack.pop();
            }
            b':' => {
                if let Some(Frame::Obj { want_key, .. }) = stack.last_mut() {
                    *want_key = false;
                }
            }
            b',' => match stack.last_mut() {
                Some(Frame::Obj { want_key, .. }) => *want_key = true,
                Some(Frame::Arr(n)) => *n += 1,
                None => {}
            },
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < text.len() && text[i] != b'"' {
                    if text[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if let Some(Frame::Obj { key, want_key: true }) = stack.last_mut() {
                    *key = Some(String::from_utf8_lossy(&text[start..i.min(text.len())]).into_owned());
                }
            }
            _ => {}
        }
        i += 1;
    }
    let mut out = String::new();
    for f in &stack {
        match f {
            Frame::Obj { key: Some(k), .. } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Frame::Obj { key: None, .. } => {}
            Frame::Arr(n) => out.push_str(&format!("[{n}]")),
        }
    }
    out
}

/// Semantic checks that serde cannot express.
pub fn validate(spec: &Spec) -> Result<()> {
    let bad = |field: &str, why: &str| Err(Error::invalid_spec(format!("{field}: {why}")));
    let version = spec.version();
    match version.split('.').next().map(str::parse::<u32>) {
        Some(Ok(1)) => {}
        _ => return bad("ociVersion", &format!("unsupported version {version:?} (husk supports 1.x)")),
    }
    match spec.root() {
        None => return bad("root", "missing"),
        Some(r) if r.path().as_os_str().is_empty() => return bad("root.path", "must not be empty"),
        _ => {}
    }
    let Some(process) = spec.process() else {
        return bad("process", "missing");
    };
    match process.args() {
        Some(a) if !a.is_empty() && !a[0].is_empty() => {}
        _ => return bad("process.args", "must contain at least the program to run"),
    }
    if !process.cwd().is_absolute() {
        return bad("process.cwd", &format!("{:?} is not an absolute path", process.cwd()));
    }
    if let Some(adj) = process.oom_score_adj() {
        if !(-1000..=1000).contains(&adj) {
            return bad("process.oomScoreAdj", &format!("{adj} is outside -1000..1000"));
        }
    }
    if let Some(rl) = process.rlimits() {
        let mut seen = HashSet::new();
        for (i, r) in rl.iter().enumerate() {
            if !seen.insert(format!("{:?}", r.typ())) {
                return bad(&format!("process.rlimits[{i}]"), &format!("duplicate {:?}", r.typ()));
            }
            if r.soft() > r.hard() {
                return bad(&format!("process.rlimits[{i}]"), "soft limit exceeds hard limit");
            }
        }
    }
    let Some(linux) = spec.linux() else {
        return bad("linux", "missing");
    };
    let mut kinds = HashSet::new();
    let namespaces = linux.namespaces().as_deref().unwrap_or_default();
    for (i, ns) in namespaces.iter().enumerate() {
        if !kinds.insert(ns.typ()) {
            return bad(&format!("linux.namespaces[{i}]"), &format!("duplicate {} namespace", ns.typ()));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return bad(&format!("linux.namespaces[{i}].path"), "must be an absolute path");
            }
        }
    }
    let new_ns = |t: LinuxNamespaceType| namespaces.iter().any(|n| n.typ() == t && n.path().is_none());
    let has_ns = |t: LinuxNamespaceType| namespaces.iter().any(|n| n.typ() == t);
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new_ns(LinuxNamespaceType::User) {
        if linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
            return bad("linux.uidMappings", "a new user namespace needs uid mappings");
        }
        if linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
            return bad("linux.gidMappings", "a new user namespace needs gid mappings");
        }
    } else if has_maps {
        return bad("linux.uidMappings", "mappings given but no new user namespace is requested");
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has_ns(LinuxNamespaceType::Uts) {
        return bad("hostname", "setting the hostname needs a UTS namespace");
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !has_ns(LinuxNamespaceType::Uts) {
        return bad("domainname", "setting the domainname needs a UTS namespace");
    }
    if linux.time_offsets().is_some() && !new_ns(LinuxNamespaceType::Time) {
        return bad("linux.timeOffsets", "time offsets need a new time namespace");
    }
    if let Some(mounts) = spec.mounts() {
        let max = mount_max();
        if mounts.len() as u64 > max {
            return bad(
                "mounts",
                &format!("{} entries, more than this kernel allows in a namespace ({max}, fs.mount-max)", mounts.len()),
            );
        }
        for (i, m) in mounts.iter().enumerate() {
            if m.destination().as_os_str().is_empty() {
                return bad(&format!("mounts[{i}].destination"), "must not be empty");
            }
        }
    }
    if let Some(hooks) = spec.hooks() {
        let lists = [
            ("prestart", hooks.prestart()),
            ("createRuntime", hooks.create_runtime()),
            ("createContainer", hooks.create_container()),
            ("startContainer", hooks.start_container()),
            ("poststart", hooks.poststart()),
            ("poststop", hooks.poststop()),
        ];
        for (name, list) in lists {
            for (i, h) in list.as_deref().unwrap_or_default().iter().enumerate() {
                if !h.path().is_absolute() {
                    return bad(&format!("hooks.{name}[{i}].path"), &format!("{:?} is not an absolute path", h.path()));
                }
            }
        }
    }
    if let Some(r) = linux.resources() {
        validate_resources(r)?;
    }
    if let Some(sysctl) = linux.sysctl() {
        for key in sysctl.keys() {
            if key.is_empty() || key.contains("..") || key.starts_with('/') || key.contains('\0') {
                return bad(&format!("linux.sysctl[{key:?}]"), "invalid key");
            }
        }
    }
    Ok(())
}

/// The kernel's limit on mounts in one namespace (fs.mount-max, 100000 by default).
fn mount_max() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/mount-max").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(100_000)
}

/// Limits that no kernel accepts, named by field (the kernel would only say EINVAL, late).
fn validate_resources(r: &oci_spec::runtime::LinuxResources) -> Result<()> {
    let bad = |field: &str, why: String| Err(Error::invalid_spec(format!("linux.resources.{field}: {why}")));
    if let Some(m) = r.memory() {
        let limits = [
            ("memory.limit", m.limit()),
            ("memory.reservation", m.reservation()),
            ("memory.swap", m.swap()),
            ("memory.kernel", m.kernel()),
            ("memory.kernelTCP", m.kernel_tcp()),
        ];
        for (field, v) in limits {
            if let Some(v) = v {
                if v < -1 {
                    return bad(field, format!("{v} is neither -1 (unlimited) nor a byte count"));
                }
            }
        }
        if let (Some(l), Some(s)) = (m.limit(), m.swap()) {
            if l > 0 && s > 0 && s < l {
                return bad(
                    "memory.swap",
                    format!("{s} is below memory.limit {l} (swap is the memory+swap limit, at least the memory limit)"),
                );
            }
        }
        if let Some(s) = m.swappiness() {
            if s > 100 {
                return bad("memory.swappiness", format!("{s} is above 100"));
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares() {
            // The kernel's cpu.shares range (MIN_SHARES..MAX_SHARES); 0 means unset as in runc.
            if s != 0 && !(2..=262_144).contains(&s) {
                return bad("cpu.shares", format!("{s} is outside 2..262144"));
            }
        }
        if let Some(p) = c.period() {
            if p != 0 && !(1000..=1_000_000).contains(&p) {
                return bad("cpu.period", format!("{p} µs is outside 1000..1000000"));
            }
        }
        if let Some(q) = c.quota() {
            if q != 0 && q != -1 && q < 1000 {
                return bad("cpu.quota", format!("{q} µs is neither -1 (unlimited) nor at least 1000"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
        })
    }

    #[test]
    fn json_path_names_nested_field() {
        let text = br#"{
  "ociVersion": "1.0.2",
  "process": {
    "user": {"uid": "zero", "gid": 0},
    "args": ["sh"]
  }
}"#;
        let e = parse(text).unwrap_err().to_string();
        assert!(e.starts_with("process.user.uid: invalid type: string \"zero\""), "{e}");
        assert!(e.contains("line 4"), "{e}");
    }

    #[test]
    fn json_path_names_array_index() {
        let text = br#"{"ociVersion": "1.0.2", "mounts": [{"destination": "/a"}, {"destination": 5}]}"#;
        let e = parse(text).unwrap_err().to_string();
        assert!(e.starts_with("mounts[1].destination:"), "{e}");
    }

    #[test]
    fn runtime_spec_scheduler_flag_names_parse() {
        let mut v = minimal();
        v["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN"]});
        let spec = parse(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(spec.process().as_ref().unwrap().scheduler().as_ref().unwrap().flags().as_ref().unwrap().len(), 2);
    }

    #[test]
    fn malformed_json_is_reported() {
        let e = parse(b"{\"ociVersion\": ").unwrap_err().to_string();
        assert!(e.contains("EOF"), "{e}");
    }

    #[test]
    fn minimal_config_validates() {
        let spec: Spec = serde_json::from_value(minimal()).unwrap();
        validate(&spec).unwrap();
    }

    fn invalid(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v = minimal();
        edit(&mut v);
        let spec: Spec = serde_json::from_value(v).unwrap();
        validate(&spec).unwrap_err().to_string()
    }

    #[test]
    fn validation_names_the_field() {
        assert!(invalid(|v| v["ociVersion"] = "2.0.0".into()).starts_with("ociVersion: unsupported"));
        assert!(invalid(|v| v["process"]["args"] = serde_json::json!([])).starts_with("process.args"));
        assert!(invalid(|v| v["process"]["cwd"] = "rel".into()).starts_with("process.cwd"));
        assert!(invalid(|v| v["hostname"] = "h".into()).starts_with("hostname"));
        assert!(invalid(|v| {
            v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}, {"type": "pid"}]);
        })
        .starts_with("linux.namespaces[1]"));
        assert!(invalid(|v| {
            v["linux"]["namespaces"] = serde_json::json!([{"type": "user"}]);
        })
        .starts_with("linux.uidMappings"));
        assert!(invalid(|v| v.as_object_mut().unwrap().remove("process").map(|_| ()).unwrap())
            .starts_with("process: missing"));
        assert!(invalid(|v| v["process"]["oomScoreAdj"] = 5000.into()).starts_with("process.oomScoreAdj"));
        assert!(invalid(|v| v["hooks"] = serde_json::json!({"poststop": [{"path": "x"}]}))
            .starts_with("hooks.poststop[0].path"));
        assert!(invalid(|v| v["linux"]["resources"] = serde_json::json!({"memory": {"limit": -5}}))
            .starts_with("linux.resources.memory.limit"));
        assert!(invalid(|v| v["linux"]["resources"] = serde_json::json!({"memory": {"limit": 100, "swap": 50}}))
            .starts_with("linux.resources.memory.swap"));
        assert!(invalid(|v| v["linux"]["resources"] = serde_json::json!({"cpu": {"shares": 1u64 << 40}}))
            .starts_with("linux.resources.cpu.shares"));
        let many: Vec<_> = (0..200_001).map(|_| serde_json::json!({"destination": "/x"})).collect();
        assert!(invalid(|v| v["mounts"] = many.into()).starts_with("mounts: 200001 entries"));
    }

    #[test]
    fn missing_field_names_the_object() {
        let e = parse(br#"{"ociVersion": "1.0.2", "process": {"args": ["sh"], "user": {"uid": 0, "gid": 0}}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("process.cwd: missing field"), "{e}");
        let e = parse(br#"{"ociVersion": "1.0.2", "mounts": [{"destination": "/a", "bogus": 1}, {"source": "x"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("mounts[1].destination: missing field"), "{e}");
    }

    #[test]
    fn unknown_capability_names_are_dropped() {
        let mut v = minimal();
        v["process"]["capabilities"] = serde_json::json!({
            "bounding": ["CAP_KILL", "CAP_UNKNOWN"], "effective": ["CAP_NOPE", "CAP_KILL"], "ambient": []
        });
        let spec = parse(&serde_json::to_vec(&v).unwrap()).unwrap();
        let caps = spec.process().as_ref().unwrap().capabilities().clone().unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
        assert_eq!(caps.effective().as_ref().unwrap().len(), 1);
        let (_, removed) = strip_unknown_caps(&serde_json::to_vec(&v).unwrap(), &["process", "capabilities"]).unwrap();
        assert_eq!(removed, ["CAP_UNKNOWN", "CAP_NOPE"]);
        // Nothing unknown: nothing to strip, and other errors stay errors.
        assert!(strip_unknown_caps(&serde_json::to_vec(&minimal()).unwrap(), &["process", "capabilities"]).is_none());
        v["process"]["user"]["uid"] = serde_json::json!("zero");
        assert!(parse(&serde_json::to_vec(&v).unwrap()).unwrap_err().to_string().starts_with("process.user.uid:"));
    }
}

//! `husk update [--resources FILE|-] [--memory N ...] ID`: change a live container's limits.
//!
//! The new values are written to the container's cgroup (only what the update sets) and merged
//! into linux.resources of the container's recorded config, under the container's lock and
//! saved atomically, so `state`, `events` and later updates see them.
//!
//! runc's semantics are kept: with `--resources` the flags are ignored; a 0 (or "") value means
//! "unchanged"; device rules are not updated; a stopped container cannot be updated.

use std::io::Read;
use std::path::Path;

use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};

use crate::cgroups::Cgroup;
use crate::cli::{Cli, UpdateArgs};
use crate::error::{Context, Error, Kind, Result};
use crate::state::{StateDir, Status};

pub fn update(cli: &Cli, a: &UpdateArgs) -> Result<()> {
    let id = a.id.as_str();
    let input = match &a.resources {
        Some(p) => read_resources(p)?,
        None => resources_from_flags(a)?,
    };
    let delta = normalize(input);
    let dir = StateDir::open(&cli.root, id)?;
    let mut st = dir.load()?;
    if st.status(dir.path()) == Status::Stopped {
        return Err(Error::bad_state(format!("container {id} is not running")));
    }
    let mut linux = st.config.linux().clone().unwrap_or_default();
    let current = serde_json::to_value(linux.resources().clone().unwrap_or_default()).unwrap_or_default();
    let live = to_resources(&keep_oom_setting(&delta, &current))?;
    Cgroup::open(&st.cgroup).and_then(|cg| cg.update(&live)).with_context(|| format!("updating container {id}"))?;
    let merged = to_resources(&merge(current, &delta))?;
    linux.set_resources(Some(merged));
    st.config.set_linux(Some(linux));
    dir.save(&st).with_context(|| format!("saving the new resources of container {id}"))
}

/// The LinuxResources JSON of `--resources FILE` or `--resources -` (stdin).
fn read_resources(path: &Path) -> Result<Value> {
    let (text, name) = if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map_err(|e| Error::io(e, "reading resources from stdin"))?;
        (buf, "stdin".to_string())
    } else {
        let t = std::fs::read(path).map_err(|e| Error::io(e, format!("reading resources file {}", path.display())))?;
        (t, path.display().to_string())
    };
    // Typed first, so that an error names the field (line and column of the original text).
    serde_json::from_slice::<LinuxResources>(&text).map_err(|e| {
        let at = crate::spec::json_path_at(&text, e.line(), e.column());
        Error::invalid_spec(format!("decoding resources from {name}: {at}: {e}"))
    })?;
    let v: Value = serde_json::from_slice(&text)
        .map_err(|e| Error::invalid_spec(format!("decoding resources from {name}: {e}")))?;
    Ok(v)
}

/// runc's update flags as a LinuxResources JSON object.
fn resources_from_flags(a: &UpdateArgs) -> Result<Value> {
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        return Err(Error::invalid_arg(
            "updating Intel RDT schemata: husk has no Intel RDT support (--l3-cache-schema, --mem-bw-schema)",
        ));
    }
    let mut r = json!({});
    let mut put = |section: &str, key: &str, v: Value| {
        r.as_object_mut().expect("object").entry(section).or_insert_with(|| json!({}))[key] = v;
    };
    let mem = |name: &str, v: &Option<String>| -> Result<Option<i64>> {
        v.as_deref()
            .map(|s| parse_memory(s).map_err(|e| Error::invalid_arg(format!("invalid value for {name}: {e}"))))
            .transpose()
    };
    if let Some(v) = mem("memory", &a.memory)? {
        put("memory", "limit", json!(v));
    }
    if let Some(v) = mem("memory-reservation", &a.memory_reservation)? {
        put("memory", "reservation", json!(v));
    }
    if let Some(v) = mem("memory-swap", &a.memory_swap)? {
        put("memory", "swap", json!(v));
    }
    for (name, key, v) in [
        ("cpu-period", "period", &a.cpu_period),
        ("cpu-share", "shares", &a.cpu_share),
        ("cpu-rt-period", "realtimePeriod", &a.cpu_rt_period),
    ] {
        if let Some(s) = v {
            put("cpu", key, json!(parse_num::<u64>(name, s)?));
        }
    }
    for (name, key, v) in
        [("cpu-quota", "quota", &a.cpu_quota), ("cpu-rt-runtime", "realtimeRuntime", &a.cpu_rt_runtime)]
    {
        if let Some(s) = v {
            put("cpu", key, json!(parse_num::<i64>(name, s)?));
        }
    }
    if let Some(s) = &a.cpuset_cpus {
        put("cpu", "cpus", json!(s));
    }
    if let Some(s) = &a.cpuset_mems {
        put("cpu", "mems", json!(s));
    }
    if let Some(s) = &a.pids_limit {
        put("pids", "limit", json!(parse_num::<i64>("pids-limit", s)?));
    }
    if let Some(s) = &a.blkio_weight {
        put("blockIO", "weight", json!(parse_num::<u16>("blkio-weight", s)?));
    }
    Ok(r)
}

fn parse_num<T: std::str::FromStr>(name: &str, s: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    s.trim().parse().map_err(|e| Error::invalid_arg(format!("invalid value for {name}: {s:?}: {e}")))
}

/// docker/go-units `RAMInBytes` as runc uses it: "1024", "50m", "1.5GiB", "2 kb" (binary
/// multiples); "-1" means unlimited.
fn parse_memory(s: &str) -> std::result::Result<i64, String> {
    if s == "-1" {
        return Ok(-1);
    }
    let bad = || format!("invalid size: '{s}'");
    let num_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(num_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(bad());
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let mut chars = unit.chars().peekable();
    let shift = match chars.peek() {
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        Some('t') => 40,
        Some('p') => 50,
        _ => 0,
    };
    if shift > 0 {
        chars.next();
    }
    let rest: String = chars.collect();
    if !matches!(rest.as_str(), "" | "b" | "i" | "ib") || (shift == 0 && rest.starts_with('i')) {
        return Err(bad());
    }
    let v = n * (1u64 << shift) as f64;
    if v > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as i64)
}

/// runc's reading of an update: 0 and "" mean "leave as is", device rules are not updated.
/// Emptied sections are dropped.
fn normalize(mut v: Value) -> Value {
    let Some(obj) = v.as_object_mut() else {
        return json!({});
    };
    obj.remove("devices");
    let zero_means_unset: [(&str, &[&str]); 4] = [
        ("memory", &["limit", "reservation", "swap"]),
        ("cpu", &["shares", "quota", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems"]),
        ("pids", &["limit"]),
        ("blockIO", &["weight"]),
    ];
    for (section, keys) in zero_means_unset {
        let Some(Value::Object(s)) = obj.get_mut(section) else {
            continue;
        };
        for k in keys {
            if matches!(s.get(*k), Some(x) if x == &json!(0) || x == &json!("") || x.is_null()) {
                s.remove(*k);
            }
        }
    }
    obj.retain(|_, x| !x.is_null() && x.as_object().is_none_or(|o| !o.is_empty()));
    v
}

/// The resources to write to the cgroup: the update, with the recorded disableOOMKiller carried
/// along when memory is written (libcgroups rewrites memory.oom_control on every memory apply).
fn keep_oom_setting(delta: &Value, current: &Value) -> Value {
    let mut live = delta.clone();
    if let Some(Value::Object(m)) = live.get_mut("memory") {
        if !m.contains_key("disableOOMKiller") {
            if let Some(d) = current.pointer("/memory/disableOOMKiller") {
                m.insert("disableOOMKiller".into(), d.clone());
            }
        }
    }
    live
}

/// `update` laid over `base`: objects merge key by key, anything else (numbers, strings,
/// arrays such as hugepageLimits) is replaced.
fn merge(mut base: Value, update: &Value) -> Value {
    match (base.as_object_mut(), update.as_object()) {
        (Some(b), Some(u)) => {
            for (k, v) in u {
                let cur = b.remove(k).unwrap_or(Value::Object(Map::new()));
                let merged = if v.is_object() && cur.is_object() { merge(cur, v) } else { v.clone() };
                b.insert(k.clone(), merged);
            }
            base
        }
        _ => update.clone(),
    }
}

fn to_resources(v: &Value) -> Result<LinuxResources> {
    serde_json::from_value(v.clone()).map_err(|e| Error::new(Kind::InvalidSpec, format!("decoding resources: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(f: impl FnOnce(&mut UpdateArgs)) -> UpdateArgs {
        let mut a = UpdateArgs { id: "c".into(), ..Default::default() };
        f(&mut a);
        a
    }

    #[test]
    fn memory_sizes_like_go_units() {
        assert_eq!(parse_memory("1024"), Ok(1024));
        assert_eq!(parse_memory("50m"), Ok(50 << 20));
        assert_eq!(parse_memory("50M"), Ok(50 << 20));
        assert_eq!(parse_memory("2 kb"), Ok(2048));
        assert_eq!(parse_memory("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_memory("-1"), Ok(-1));
        for bad in ["abc", "", "10x", "m", "1.", "-2", "10i"] {
            assert_eq!(parse_memory(bad), Err(format!("invalid size: '{bad}'")), "{bad}");
        }
    }

    #[test]
    fn flags_map_to_linux_resources() {
        let a = args(|a| {
            a.memory = Some("50m".into());
            a.memory_reservation = Some("20m".into());
            a.memory_swap = Some("-1".into());
            a.cpu_share = Some("512".into());
            a.cpu_quota = Some("-1".into());
            a.cpu_period = Some("100000".into());
            a.cpu_rt_period = Some("1000000".into());
            a.cpu_rt_runtime = Some("950000".into());
            a.cpuset_cpus = Some("0-1".into());
            a.cpuset_mems = Some("0".into());
            a.pids_limit = Some("40".into());
            a.blkio_weight = Some("500".into());
        });
        let v = resources_from_flags(&a).unwrap();
        let r = to_resources(&normalize(v)).unwrap();
        let m = r.memory().unwrap();
        assert_eq!((m.limit(), m.reservation(), m.swap()), (Some(50 << 20), Some(20 << 20), Some(-1)));
        let c = r.cpu().as_ref().unwrap();
        assert_eq!((c.shares(), c.quota(), c.period()), (Some(512), Some(-1), Some(100000)));
        assert_eq!((c.realtime_period(), c.realtime_runtime()), (Some(1000000), Some(950000)));
        assert_eq!((c.cpus().as_deref(), c.mems().as_deref()), (Some("0-1"), Some("0")));
        assert_eq!(r.pids().unwrap().limit(), 40);
        assert_eq!(r.block_io().as_ref().unwrap().weight(), Some(500));
        assert!(r.devices().is_none());
    }

    #[test]
    fn bad_flags_name_the_flag() {
        let e = resources_from_flags(&args(|a| a.memory = Some("abc".into()))).unwrap_err();
        assert_eq!(e.to_string(), "invalid value for memory: invalid size: 'abc'");
        let e = resources_from_flags(&args(|a| a.pids_limit = Some("x".into()))).unwrap_err();
        assert!(e.to_string().starts_with("invalid value for pids-limit"), "{e}");
        let e = resources_from_flags(&args(|a| a.cpu_share = Some("-5".into()))).unwrap_err();
        assert!(e.to_string().starts_with("invalid value for cpu-share"), "{e}");
        let e = resources_from_flags(&args(|a| a.l3_cache_schema = Some("L3:0=f".into()))).unwrap_err();
        assert!(e.to_string().contains("Intel RDT"), "{e}");
        assert_eq!(resources_from_flags(&args(|_| ())).unwrap(), json!({}));
    }

    #[test]
    fn zeros_mean_unchanged_and_devices_are_ignored() {
        let v = json!({"memory": {"limit": 0, "reservation": 0, "swap": 0}, "cpu": {"shares": 0, "cpus": "", "quota": 5},
            "pids": {"limit": 0}, "blockIO": {"weight": 0}, "devices": [{"allow": true, "access": "rwm"}]});
        assert_eq!(normalize(v), json!({"cpu": {"quota": 5}}));
        assert_eq!(normalize(json!(null)), json!({}));
    }

    #[test]
    fn merge_keeps_what_the_update_leaves_out() {
        let cur = json!({"devices": [{"allow": false, "access": "rwm"}], "memory": {"limit": 100, "disableOOMKiller": true},
            "pids": {"limit": 10}, "hugepageLimits": [{"pageSize": "2MB", "limit": 1}]});
        let up = json!({"memory": {"limit": 200}, "cpu": {"shares": 3}, "hugepageLimits": []});
        let m = merge(cur.clone(), &up);
        assert_eq!(
            m,
            json!({"devices": [{"allow": false, "access": "rwm"}], "memory": {"limit": 200, "disableOOMKiller": true},
            "pids": {"limit": 10}, "cpu": {"shares": 3}, "hugepageLimits": []})
        );
        to_resources(&m).unwrap();
        assert_eq!(keep_oom_setting(&up, &cur)["memory"], json!({"limit": 200, "disableOOMKiller": true}));
        assert_eq!(keep_oom_setting(&json!({"pids": {"limit": 1}}), &cur), json!({"pids": {"limit": 1}}));
    }
}

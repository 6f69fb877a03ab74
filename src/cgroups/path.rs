//! Where a container's cgroup lives: linux.cgroupsPath resolved per driver (cgroupfs: absolute,
//! or relative to the caller's own cgroups per hierarchy; systemd: `slice:prefix:name`). Runs in
//! `create`/`run` (the resolved config is stored in the container's state for later commands).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Kind, Result};

/// Where a container's cgroup lives, resolved from linux.cgroupsPath like runc does.
///
/// Meant to be stored in the container's state so that later commands (run from other cgroups)
/// address the same cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupConfig {
    /// The resolved absolute cgroup path (`/a/b`), or `slice:prefix:name` with the systemd driver.
    pub path: String,
    pub systemd: bool,
    /// cgroup v1 only: hierarchies whose path differs from `path`. That happens with a relative
    /// (or empty) cgroupsPath when the caller sits in different cgroups in different hierarchies
    /// (on this machine: memory under /process_api/..., everything else at /). Keys are the
    /// hierarchy's controllers as in /proc/self/cgroup, sorted and comma-joined ("memory",
    /// "cpu,cpuacct", "name=systemd"; "" for the cgroup2 hierarchy of a hybrid host).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_hierarchy: BTreeMap<String, String>,
    /// Rootless without a cgroup: the caller may not create one (v1, or v2 without a delegated
    /// subtree) and linux.cgroupsPath was not given, so the container runs in the caller's
    /// cgroups, as runc's rootless cgroup manager leaves it. The value is the init's host pid
    /// (0 until it is known): the container's processes are then found through its pid
    /// namespace instead of a cgroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootless_none: Option<i32>,
    /// systemd driver, rootless (as runc's `Rootless` cgroup config): the scope belongs to the
    /// user's own systemd manager, reached over the session bus (see `userbus`), below that
    /// manager's cgroup; the default slice is then `user.slice`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub user: bool,
    /// systemd driver with the user's manager: the scope's cgroup. Until the init is placed, the
    /// one systemd's layout gives (`/user.slice/user-UID.slice/user@UID.service` + slice +
    /// unit); then the one the kernel shows in the init's /proc/PID/cgroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl CgroupConfig {
    /// The cgroup's path below a hierarchy root: the path itself, or for the systemd driver
    /// the scope systemd makes for `slice:prefix:name` (`/system.slice/prefix-name.scope`).
    pub fn fs_path(&self) -> String {
        if let Some(scope) = &self.scope {
            scope.clone()
        } else if self.systemd {
            systemd_cgroup_path(&self.path, self.user).unwrap_or_else(|_| self.path.clone())
        } else {
            self.path.clone()
        }
    }

    /// runc's interpretation of linux.cgroupsPath:
    /// - cgroupfs driver: an absolute path is used as is (cleaned); a relative one is nested under
    ///   the caller's own cgroup (per hierarchy on v1; under the *parent* of the caller's cgroup on
    ///   a pure v2 host, where the caller's own cgroup has processes and so cannot delegate
    ///   controllers); an empty/absent path means the container id, relative, so nested the same
    ///   way (runc 1.1: `c.Name = id`, `innerPath = Parent/Name`, relative → `GetOwnCgroupPath`).
    /// - systemd driver: `slice:prefix:name`, default `system.slice:husk:<id>`; `rootless`: the
    ///   user's systemd manager (runc's rootless systemd driver), default `user.slice:husk:<id>`.
    pub fn resolve(cgroups_path: Option<&Path>, id: &str, systemd: bool, rootless: bool) -> Result<Self> {
        let raw = match cgroups_path {
            Some(p) => {
                p.to_str().ok_or_else(|| Error::invalid_spec(format!("linux.cgroupsPath: {p:?} is not valid UTF-8")))?
            }
            None => "",
        };
        if systemd && rootless {
            let uid = super::userbus::owner_uid().map_err(super::userbus::connect_failed)?;
            return resolve_systemd_user(raw, id, uid);
        }
        if systemd {
            return resolve_systemd(raw, id);
        }
        let inner = match clean_path(raw) {
            p if p.is_empty() => clean_path(id),
            p => p,
        };
        if inner.is_empty() {
            return Err(Error::invalid_arg("resolving cgroup path: empty container id"));
        }
        let cfg = if inner.starts_with('/') {
            CgroupConfig { path: inner, ..Default::default() }
        } else {
            let own = fs::read_to_string("/proc/self/cgroup")
                .map_err(|e| Error::io(e, "reading /proc/self/cgroup"))
                .with_context(|| format!("resolving relative cgroup path {inner}"))?;
            resolve_relative(&inner, &own).with_context(|| format!("resolving relative cgroup path {inner}"))?
        };
        // The root cgroup holds every process of the host: a container there would have
        // `delete` and `kill --all` signal all of them and try to remove the hierarchy.
        if cfg.path == "/" || cfg.per_hierarchy.values().any(|p| p == "/") {
            return Err(Error::invalid_spec(format!(
                "linux.cgroupsPath: {raw:?} resolves to the root cgroup, which a container cannot own"
            )));
        }
        Ok(cfg)
    }
}

pub(super) fn resolve_systemd(raw: &str, id: &str) -> Result<CgroupConfig> {
    let path = if raw.is_empty() {
        format!("system.slice:husk:{id}")
    } else {
        let parts: Vec<&str> = raw.split(':').collect();
        if parts.len() != 3 || parts[1].is_empty() || parts[2].is_empty() {
            return Err(Error::invalid_spec(format!(
                "linux.cgroupsPath: expected \"slice:prefix:name\" for the systemd cgroup driver, got {raw:?}"
            )));
        }
        raw.to_string()
    };
    Ok(CgroupConfig { path, systemd: true, ..Default::default() })
}

/// [`resolve_systemd`] for the user's manager (owned by `uid`): runc's default slice is then
/// `user.slice`, below the manager's own cgroup (systemd's `user@UID.service` in
/// `user-UID.slice`, which [`Cgroup::add_task`](super::Cgroup::add_task)'s caller replaces with
/// the cgroup systemd actually gives the scope).
pub(super) fn resolve_systemd_user(raw: &str, id: &str, uid: u32) -> Result<CgroupConfig> {
    let raw = if raw.is_empty() { format!("user.slice:husk:{id}") } else { raw.to_string() };
    let mut cfg = resolve_systemd(&raw, id)?;
    cfg.user = true;
    cfg.scope = Some(format!("/user.slice/user-{uid}.slice/user@{uid}.service{}", systemd_cgroup_path(&raw, true)?));
    Ok(cfg)
}

/// One line of /proc/self/cgroup: the hierarchy key (sorted controllers) and the path.
pub(super) fn parse_proc_cgroup(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let mut it = line.splitn(3, ':');
            let _id = it.next()?;
            let ctrls = it.next()?;
            let path = it.next()?;
            Some((hierarchy_key(ctrls.split(',').filter(|c| !c.is_empty())), path.to_string()))
        })
        .collect()
}

pub(super) fn hierarchy_key<'a>(ctrls: impl Iterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = ctrls.collect();
    v.sort_unstable();
    v.join(",")
}

/// Resolve a relative (already cleaned) path against the caller's cgroups (the text of
/// /proc/self/cgroup).
pub(super) fn resolve_relative(inner: &str, proc_self_cgroup: &str) -> Result<CgroupConfig> {
    let entries = parse_proc_cgroup(proc_self_cgroup);
    if entries.is_empty() {
        return Err(Error::new(Kind::System, "parsing /proc/self/cgroup: no cgroup listed"));
    }
    // Pure v2: one "0::/path" line. runc (fs2 defaultDirPath) nests under the parent of the
    // caller's cgroup.
    if entries.len() == 1 && entries[0].0.is_empty() {
        let own = Path::new(&entries[0].1).parent().unwrap_or(Path::new("/"));
        let path = clean_path(&format!("{}/{inner}", own.display()));
        return Ok(CgroupConfig { path, ..Default::default() });
    }
    // v1 / hybrid: per v1 hierarchy, under the caller's own cgroup there (runc fs subsysPath).
    // The cgroup2 hierarchy of a hybrid host is not nested: runc puts the container at the
    // path itself there (its `paths[""]` is the mount point joined with the inner path).
    let resolved: Vec<(String, String)> = entries
        .into_iter()
        .map(|(k, own)| {
            let p = if k == super::UNIFIED_KEY { format!("/{inner}") } else { format!("{own}/{inner}") };
            (k, clean_path(&p))
        })
        .collect();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, p) in &resolved {
        *count.entry(p).or_default() += 1;
    }
    // The most common resolution becomes `path` (ties: the lexically smallest, for determinism).
    let mut best: Option<(&str, usize)> = None;
    for (p, n) in &count {
        if best.is_none_or(|(_, bn)| *n > bn) {
            best = Some((p, *n));
        }
    }
    let path = best.map(|(p, _)| p.to_string()).unwrap_or_default();
    let per_hierarchy = resolved.iter().filter(|(_, p)| *p != path).cloned().collect();
    Ok(CgroupConfig { path, per_hierarchy, ..Default::default() })
}

/// runc's `CleanPath`: lexical cleaning; a relative path cannot climb above its start.
pub(super) fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return String::new();
    }
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    if abs {
        format!("/{joined}")
    } else {
        joined
    }
}

/// `slice:prefix:name` → the cgroup path systemd gives the scope below its manager's cgroup
/// (`a-b.slice:p:n` → `/a.slice/a-b.slice/p-n.scope`); an empty slice is `system.slice`, or
/// `user.slice` for the user's manager (`user`), as runc's default parent.
pub(super) fn systemd_cgroup_path(path: &str, user: bool) -> Result<String> {
    let parts: Vec<&str> = path.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return Err(Error::invalid_spec(format!("expected \"slice:prefix:name\", got {path:?}")));
    };
    let slice = match slice {
        "" if user => "user.slice",
        "" => "system.slice",
        s => s,
    };
    let mut out = String::new();
    if slice != "-.slice" {
        let stem = slice.strip_suffix(".slice").unwrap_or(slice);
        let mut acc = String::new();
        for part in stem.split('-') {
            if !acc.is_empty() {
                acc.push('-');
            }
            acc.push_str(part);
            out.push('/');
            out.push_str(&acc);
            out.push_str(".slice");
        }
    }
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    Ok(format!("{out}/{unit}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_SELF: &str = "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n\
        4:memory:/process_api/211896d7\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n";

    #[test]
    fn clean_path_like_runc() {
        assert_eq!(clean_path(""), "");
        assert_eq!(clean_path("/a/../b//c/."), "/b/c");
        assert_eq!(clean_path("/../.."), "/");
        assert_eq!(clean_path("../../x/y"), "x/y");
        assert_eq!(clean_path("a/./b/../c"), "a/c");
    }

    #[test]
    fn root_cgroup_is_refused() {
        for p in ["/", "/..", "/husk-test/../..", "//", "/./"] {
            let e = CgroupConfig::resolve(Some(Path::new(p)), "id", false, false).unwrap_err();
            assert_eq!(e.kind(), Kind::InvalidSpec, "{p}");
            assert!(e.to_string().starts_with("linux.cgroupsPath:"), "{e}");
        }
        assert_eq!(CgroupConfig::resolve(Some(Path::new("/a")), "id", false, false).unwrap().path, "/a");
    }

    #[test]
    fn absolute_path_is_used_as_is() {
        let c = CgroupConfig::resolve(Some(Path::new("/a/../b/c")), "id", false, false).unwrap();
        assert_eq!(c, CgroupConfig { path: "/b/c".into(), ..Default::default() });
    }

    #[test]
    fn relative_path_nests_per_hierarchy_on_v1() {
        let c = resolve_relative("c1", HYBRID_SELF).unwrap();
        assert_eq!(c.path, "/c1");
        assert!(!c.systemd);
        let want: BTreeMap<String, String> = [("memory".to_string(), "/process_api/211896d7/c1".to_string())].into();
        assert_eq!(c.per_hierarchy, want);
        // Everything at the root: no per-hierarchy entry.
        let c = resolve_relative("x/y", "2:cpu,cpuacct:/\n1:memory:/\n0::/\n").unwrap();
        assert_eq!(c.path, "/x/y");
        assert!(c.per_hierarchy.is_empty());
        // Co-mounted controllers are keyed sorted.
        let c = resolve_relative("x", "2:cpuacct,cpu:/a\n1:memory:/\n0::/\n").unwrap();
        assert_eq!(c.path, "/x");
        assert_eq!(c.per_hierarchy.get("cpu,cpuacct").map(String::as_str), Some("/a/x"));
        // A hybrid host's cgroup2 hierarchy is not nested (as runc).
        let c = resolve_relative("x", "2:cpu:/s\n1:memory:/s\n0::/user.slice/s\n").unwrap();
        assert_eq!(c.path, "/s/x");
        assert_eq!(c.per_hierarchy, BTreeMap::from([(String::new(), "/x".to_string())]));
    }

    #[test]
    fn relative_path_nests_under_parent_cgroup_on_v2() {
        let c = resolve_relative("c1", "0::/user.slice/user-0.slice/session-1.scope\n").unwrap();
        assert_eq!(c.path, "/user.slice/user-0.slice/c1");
        let c = resolve_relative("c1", "0::/\n").unwrap();
        assert_eq!(c.path, "/c1");
    }

    #[test]
    fn systemd_paths() {
        let c = CgroupConfig::resolve(None, "abc", true, false).unwrap();
        assert_eq!(c.path, "system.slice:husk:abc");
        assert!(c.systemd);
        let c = CgroupConfig::resolve(Some(Path::new("machine.slice:podman:x")), "abc", true, false).unwrap();
        assert_eq!(c.path, "machine.slice:podman:x");
        let e = CgroupConfig::resolve(Some(Path::new("/a/b")), "abc", true, false).unwrap_err();
        assert_eq!(e.kind(), Kind::InvalidSpec);
        assert!(e.to_string().contains("slice:prefix:name"), "{e}");
        assert_eq!(systemd_cgroup_path("system.slice:husk:abc", false).unwrap(), "/system.slice/husk-abc.scope");
        assert_eq!(systemd_cgroup_path("a-b.slice:p:n", false).unwrap(), "/a.slice/a-b.slice/p-n.scope");
        assert_eq!(systemd_cgroup_path(":p:n", false).unwrap(), "/system.slice/p-n.scope");
        assert!(!c.user && c.scope.is_none());
    }

    #[test]
    fn systemd_user_manager_paths() {
        // runc's rootless default: user.slice of the user's own manager.
        let c = resolve_systemd_user("", "abc", 1500).unwrap();
        assert_eq!(c.path, "user.slice:husk:abc");
        assert!(c.systemd && c.user);
        assert_eq!(c.fs_path(), "/user.slice/user-1500.slice/user@1500.service/user.slice/husk-abc.scope");
        // An empty slice is the user manager's user.slice too; nested slices expand below it.
        let c = resolve_systemd_user(":podman:x", "abc", 1000).unwrap();
        assert_eq!(c.path, ":podman:x");
        assert_eq!(c.fs_path(), "/user.slice/user-1000.slice/user@1000.service/user.slice/podman-x.scope");
        let c = resolve_systemd_user("app-web.slice:p:n", "abc", 7).unwrap();
        assert_eq!(c.fs_path(), "/user.slice/user-7.slice/user@7.service/app.slice/app-web.slice/p-n.scope");
        let c = resolve_systemd_user("-.slice:p:n.slice", "abc", 7).unwrap();
        assert_eq!(c.fs_path(), "/user.slice/user-7.slice/user@7.service/n.slice");
        assert_eq!(resolve_systemd_user("a:b", "abc", 7).unwrap_err().kind(), Kind::InvalidSpec);
        // Stored with the state: later commands find the same scope and bus.
        let s = serde_json::to_string(&c).unwrap();
        assert!(s.contains(r#""user":true"#), "{s}");
        assert_eq!(serde_json::from_str::<CgroupConfig>(&s).unwrap(), c);
        assert!(!serde_json::to_string(&resolve_systemd("", "x").unwrap()).unwrap().contains("user"));
    }

    #[test]
    fn config_round_trips_through_json() {
        let c = resolve_relative("c1", HYBRID_SELF).unwrap();
        let s = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<CgroupConfig>(&s).unwrap(), c);
        let plain: CgroupConfig = serde_json::from_str(r#"{"path":"/a","systemd":false}"#).unwrap();
        assert!(plain.per_hierarchy.is_empty());
        assert!(!serde_json::to_string(&plain).unwrap().contains("per_hierarchy"));
    }
}

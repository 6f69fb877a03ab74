//! Hugepage limits on a hybrid host, where hugetlb lives in the cgroup2 hierarchy (libcgroups' v1
//! manager cannot reach it): validation, limits and statistics.

use std::path::{Component, Path};

use serde_json::{json, Value};

use super::files::{read_trimmed, write_file};
use crate::error::{Error, Kind, Result};

pub(super) fn validate_page_size(ps: &str) -> Result<()> {
    let digits: String = ps.chars().take_while(|c| c.is_ascii_digit()).collect();
    let unit = &ps[digits.len()..];
    let ok = digits.parse::<u64>().is_ok_and(|n| n.is_power_of_two()) && matches!(unit, "KB" | "MB" | "GB");
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_spec(format!(
            "linux.resources.hugepageLimits: invalid pageSize {ps:?} (expected e.g. \"2MB\")"
        )))
    }
}

/// Hybrid host: write hugepage limits in the cgroup2 hierarchy. The controller must be enabled in
/// every ancestor's `cgroup.subtree_control`: we enable it below the root, but never change the
/// root itself (a host-wide setting).
pub(super) fn apply_hugetlb_unified(mount: &Path, dir: &Path, limits: &[(String, i64)]) -> Result<()> {
    let root_enabled = read_trimmed(&mount.join("cgroup.subtree_control"))?;
    if !root_enabled.split(' ').any(|c| c == "hugetlb") {
        let available = read_trimmed(&mount.join("cgroup.controllers")).unwrap_or_default();
        let why = if available.split(' ').any(|c| c == "hugetlb") {
            "is not enabled in its root cgroup.subtree_control, and husk does not change that host-wide setting"
        } else {
            "is not available there"
        };
        return Err(Error::new(
            Kind::System,
            format!(
                "setting hugepage limits: there is no v1 hugetlb hierarchy, and the hugetlb controller of the \
                 cgroup2 hierarchy at {} {why}",
                mount.display()
            ),
        ));
    }
    let rel = dir.strip_prefix(mount).unwrap_or(dir);
    let mut cur = mount.to_path_buf();
    let comps: Vec<Component> = rel.components().collect();
    for c in comps.iter().take(comps.len().saturating_sub(1)) {
        cur.push(c);
        let enabled = read_trimmed(&cur.join("cgroup.subtree_control"))?;
        if !enabled.split(' ').any(|c| c == "hugetlb") {
            write_file(&cur.join("cgroup.subtree_control"), "+hugetlb")?;
        }
    }
    for (size, limit) in limits {
        let v = if *limit < 0 { "max".to_string() } else { limit.to_string() };
        write_file(&dir.join(format!("hugetlb.{size}.max")), &v)?;
        let rsvd = dir.join(format!("hugetlb.{size}.rsvd.max"));
        if rsvd.exists() {
            write_file(&rsvd, &v)?;
        }
    }
    Ok(())
}

pub(super) fn hugetlb_stats_v2(dir: &Path) -> Value {
    let mut out = serde_json::Map::new();
    let Ok(sizes) = libcgroups::stats::supported_page_sizes() else {
        return Value::Object(out);
    };
    for size in sizes {
        let Ok(usage) = read_trimmed(&dir.join(format!("hugetlb.{size}.current"))) else {
            continue;
        };
        let failcnt = read_trimmed(&dir.join(format!("hugetlb.{size}.events")))
            .ok()
            .and_then(|s| s.strip_prefix("max ").and_then(|n| n.trim().parse::<u64>().ok()))
            .unwrap_or(0);
        out.insert(size, json!({"usage": usage.parse::<u64>().unwrap_or(0), "max": 0, "failcnt": failcnt}));
    }
    Value::Object(out)
}

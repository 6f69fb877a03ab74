//! Capabilities: the five OCI sets → a plan of `caps::Capability` sets (built in the
//! runtime), applied by the container init: bounding set dropped while still root, the
//! rest after the user switch (PR_SET_KEEPCAPS keeps the permitted set across setuid).

use std::collections::HashSet;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::LinuxCapabilities;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct CapsPlan {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub permitted: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub ambient: CapsHashSet,
    /// Capabilities named in the config that this kernel does not know (ignored, as runc does).
    pub unknown: Vec<String>,
}

/// Every capability this kernel supports (up to /proc/sys/kernel/cap_last_cap).
pub fn supported() -> CapsHashSet {
    caps::runtime::thread_all_supported()
}

fn convert(
    set: Option<&oci_spec::runtime::Capabilities>,
    known: &CapsHashSet,
    unknown: &mut Vec<String>,
) -> CapsHashSet {
    let mut out = HashSet::new();
    for c in set.into_iter().flatten() {
        let name = c.to_string();
        let name = if name.starts_with("CAP_") { name } else { format!("CAP_{name}") };
        match name.parse::<Capability>() {
            Ok(cap) if known.contains(&cap) => {
                out.insert(cap);
            }
            _ => {
                if !unknown.contains(&name) {
                    unknown.push(name);
                }
            }
        }
    }
    out
}

impl CapsPlan {
    /// A missing `capabilities` object means no capabilities at all, as in runc.
    pub fn from_spec(c: Option<&LinuxCapabilities>) -> Self {
        let known = supported();
        let mut unknown = Vec::new();
        let Some(c) = c else {
            return CapsPlan::default();
        };
        CapsPlan {
            bounding: convert(c.bounding().as_ref(), &known, &mut unknown),
            effective: convert(c.effective().as_ref(), &known, &mut unknown),
            permitted: convert(c.permitted().as_ref(), &known, &mut unknown),
            inheritable: convert(c.inheritable().as_ref(), &known, &mut unknown),
            ambient: convert(c.ambient().as_ref(), &known, &mut unknown),
            unknown,
        }
    }

    /// Step 1 (init, still root): drop what is not in the bounding set.
    pub fn drop_bounding(&self) -> Result<()> {
        for cap in supported() {
            if !self.bounding.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap).map_err(|e| {
                    Error::new(crate::Kind::System, format!("dropping {cap} from the bounding set: {e}"))
                })?;
            }
        }
        Ok(())
    }

    /// Step 2 (init, after setuid with KEEPCAPS): set effective, permitted, inheritable
    /// and raise the ambient ones.
    pub fn apply(&self) -> Result<()> {
        let err = |what: &str, e: caps::errors::CapsError| {
            Error::new(crate::Kind::System, format!("setting {what} capabilities: {e}"))
        };
        // Effective may only hold what is permitted: widen effective last.
        let e_now = caps::read(None, CapSet::Effective).map_err(|e| err("effective", e))?;
        caps::set(None, CapSet::Effective, &e_now.intersection(&self.permitted).copied().collect())
            .map_err(|e| err("effective", e))?;
        caps::set(None, CapSet::Inheritable, &self.inheritable).map_err(|e| err("inheritable", e))?;
        caps::set(None, CapSet::Permitted, &self.permitted).map_err(|e| err("permitted", e))?;
        caps::set(None, CapSet::Effective, &self.effective).map_err(|e| err("effective", e))?;
        if !self.ambient.is_empty() {
            caps::clear(None, CapSet::Ambient).map_err(|e| err("ambient", e))?;
            for cap in &self.ambient {
                // The kernel refuses (EPERM) an ambient capability that is not both
                // permitted and inheritable; like runc we skip it rather than fail.
                if let Err(e) = caps::raise(None, CapSet::Ambient, *cap) {
                    crate::logging::debug(&format!("not raising ambient {cap}: {e}"));
                }
            }
        }
        Ok(())
    }

    /// Make CAP_SYS_ADMIN effective again if it is still permitted (to load a seccomp
    /// filter without no_new_privs).
    pub fn raise_sys_admin() -> bool {
        caps::raise(None, CapSet::Effective, Capability::CAP_SYS_ADMIN).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_names_and_collects_unknown() {
        let v = serde_json::json!({"bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_KILL"]});
        let c: LinuxCapabilities = serde_json::from_value(v).unwrap();
        let p = CapsPlan::from_spec(Some(&c));
        assert!(p.bounding.contains(&Capability::CAP_CHOWN));
        assert_eq!(p.effective.len(), 1);
        assert!(p.permitted.is_empty());
        assert!(p.unknown.is_empty());
        assert!(CapsPlan::from_spec(None).bounding.is_empty());
    }
}

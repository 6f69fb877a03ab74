//! Scheduling and memory-placement system calls libc/nix don't wrap: sched_setattr,
//! ioprio_set, set_mempolicy, personality.

use nix::errno::Errno;

/// struct sched_attr (include/uapi/linux/sched/types.h), with the util-clamp fields.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SchedAttr {
    pub size: u32,
    pub sched_policy: u32,
    pub sched_flags: u64,
    pub sched_nice: i32,
    pub sched_priority: u32,
    pub sched_runtime: u64,
    pub sched_deadline: u64,
    pub sched_period: u64,
    pub sched_util_min: u32,
    pub sched_util_max: u32,
}

/// sched_setattr(0, attr, 0) for the calling thread.
pub fn sched_setattr(attr: &SchedAttr) -> Result<(), Errno> {
    let mut a = *attr;
    a.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `a` is a valid, fully initialised sched_attr whose size field matches.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &a as *const SchedAttr, 0) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// ioprio_set(IOPRIO_WHO_PROCESS, 0, value) for the calling process.
pub fn ioprio_set(value: i32) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, value) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// set_mempolicy(mode | flags, nodemask, maxnode).
pub fn set_mempolicy(mode: i32, nodemask: &[u64]) -> Result<(), Errno> {
    let (ptr, maxnode) =
        if nodemask.is_empty() { (std::ptr::null(), 0usize) } else { (nodemask.as_ptr(), nodemask.len() * 64 + 1) };
    // SAFETY: `ptr` is null or points to `nodemask`, which holds maxnode-1 bits.
    let ret = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// personality(2).
pub fn personality(persona: u64) -> Result<(), Errno> {
    // SAFETY: integer argument only.
    let ret = unsafe { libc::personality(persona as libc::c_ulong) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

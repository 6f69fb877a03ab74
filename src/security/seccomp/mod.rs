//! OCI seccomp profile → BPF program (pure Rust on seccompiler), and installing it.

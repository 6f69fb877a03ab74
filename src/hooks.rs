//! OCI lifecycle hooks: run one hook with the state on stdin, its env, and a timeout.

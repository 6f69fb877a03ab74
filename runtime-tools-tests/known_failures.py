"""Cases a runtime is known to fail, applied as strict xfail: one that starts passing is reported.

A reason starting with "flaky:" marks a race the runtime loses only sometimes; it is applied as a
non-strict xfail. Keys are pytest item names (function name plus parameters). Reasons are what we observed on this
machine (runc 1.1.5+ds1-1+deb12u1, crun 1.8.1-1+deb12u1); docs/conformance.md collects them.
"""

KNOWN_FAILURES = {
    "runc": {
        "test_unknown_oci_major_refused": "runc 1.1.5 does not check ociVersion; creates the container",
        "test_domainname": "runc 1.1.5 ignores the domainname field (support came in runc 1.2)",
        "test_concurrent_create_same_id": "flaky: runc 1.1.5 does not serialize creates of one id: sometimes two of four concurrent creates succeed, or all fail ('exec fifo ... exists')",
        "test_time_namespace": "runc 1.1.5 has no time namespace support: 'namespace {\"time\" \"\"} does not exist'",
        "test_time_namespace_offsets": "runc 1.1.5 has no time namespace support",
        "test_rootfs_propagation_shared": "runc 1.1.5 applies rootfsPropagation before the rootfs bind and pivot_root; the container's / ends up without a shared peer group",
        "test_hooks_order_and_timing": "runc 1.1.5 runs poststart hooks during `create` (before startContainer, before the process runs), not in `start`",
        "test_poststart_after_process_started": "runc 1.1.5 runs poststart hooks during `create`, while its own init still waits (exe is runc)",
        "test_hook_state_status[poststart]": "runc 1.1.5 runs poststart hooks during `create`: their state says \"created\", not \"running\"",
        "test_hook_state_pid_is_host_pid": "runc 1.1.5 gives createContainer and startContainer hooks pid 1 (the init's pid in its own pid namespace), not the host pid",
        "test_hook_without_args_or_env": "runc 1.1.5 gives a hook without `env` runc's own environment instead of an empty one",
        "test_failing_start_container_hook": "runc 1.1.5: a failing startContainer hook kills the init but `runc start` exits 0 and reports nothing",
        "test_failing_poststart_hook_warns_and_continues": "runc 1.1.5 runs poststart during `create` and a failing one fails `create` (kills the container) instead of a warning",
        "test_failing_poststop_hook_warns_and_continues": "runc 1.1.5 stops at the first failing poststop hook: the later ones do not run",
        "test_hook_timeout_fails_create": "runc 1.1.5 kills only the timed-out hook, then waits for its stdio pipes, which a child of the hook still holds: `create` hangs until that child exits",
        "test_hook_timeout_in_container": "runc 1.1.5 kills only the timed-out hook, then waits for its stdio pipes, which a child of the hook still holds: `create` hangs until that child exits",
        "test_poststart_timeout_warns_and_continues": "runc 1.1.5 runs poststart during `create`; a timed-out one hangs `create` (its child holds the pipes) and then fails it",
        "test_run_runs_all_hooks_in_order": "runc 1.1.5 runs poststart hooks before startContainer hooks (during create)",
        "test_run_detached_runs_poststart": "runc 1.1.5 runs poststart hooks before startContainer hooks (during create)",
    },
    "crun": {
        "test_bad_field_type_refused": "crun 1.8.1 accepts a string for process.user.uid and creates the container",
        "test_bad_id_refused[ctrl-a]": "crun 1.8.1 accepts ids with control characters",
        "test_bad_id_refused[del]": "crun 1.8.1 accepts ids with control characters",
        "test_bad_id_refused[newline]": "crun 1.8.1 accepts ids with control characters",
        "test_missing_process_args_refused": "crun 1.8.1 creates a container whose config has no process.args",
        "test_run_keep": "crun 1.8.1 has no `run --keep` (\"unrecognized option '--keep'\")",
        "test_mount_propagation_shared": "crun 1.8.1: a bind mount with rshared has no shared peer group inside the container",
        "test_time_namespace": "crun 1.8.1 fails to create a container with a time namespace here (\"write to sync socket: Connection reset by peer\")",
        "test_global_flags_accepted[flag1]": "crun 1.8.1 parses runc's `--rootless false` differently: start then looks for state under `false/<id>`",
        "test_global_flags_accepted[flag2]": "crun 1.8.1 parses runc's `--rootless=auto` differently: start then looks for state under `auto/<id>`",
        "test_time_namespace_offsets": "crun 1.8.1 fails to create a container with a time namespace here (\"write to sync socket: Connection reset by peer\")",
        "test_kill_bad_signal_is_error": "crun 1.8.1 exits 0 for an unknown signal name",
        "test_user_namespace_host_dev_null_untouched": "crun 1.8.1 chowns the /dev/null it binds into a user-namespaced container to the container user's mapped uid (101000:101000 here)",
        "test_host_dev_null_unchanged": "crun 1.8.1 chowned /dev/null during the user namespace cases (the suite's private node, not the host's)",
    },
    "husk": {},
}

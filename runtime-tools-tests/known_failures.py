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
        "test_notify_socket_relays_other_messages": "runc 1.1.5 relays only the READY= line of the container's sd_notify messages (STATUS= etc. are dropped); husk relays every line before READY",
        "test_rootfs_propagation_shared": "runc 1.1.5 applies rootfsPropagation before the rootfs bind and pivot_root; the container's / ends up without a shared peer group",
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

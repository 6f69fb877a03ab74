"""Cases a runtime is known to fail, applied as strict xfail: one that starts passing is reported.

Keys are pytest item names (function name plus parameters). Reasons are what we observed on this
machine (runc 1.1.5+ds1-1+deb12u1, crun 1.8.1-1+deb12u1); docs/conformance.md collects them.
"""

KNOWN_FAILURES = {
    "runc": {
        "test_unknown_oci_major_refused": "runc 1.1.5 does not check ociVersion; creates the container",
        "test_domainname": "runc 1.1.5 ignores the domainname field (support came in runc 1.2)",
        "test_time_namespace": "runc 1.1.5 has no time namespace support: 'namespace {\"time\" \"\"} does not exist'",
        "test_rootfs_propagation_shared": "runc 1.1.5 applies rootfsPropagation before the rootfs bind and pivot_root; the container's / ends up without a shared peer group",
    },
    "crun": {},
    "husk": {},
}

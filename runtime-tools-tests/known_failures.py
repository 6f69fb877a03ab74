"""Cases a runtime is known to fail, applied as strict xfail: one that starts passing is reported.

Keys are pytest item names (function name plus parameters). Reasons are what we observed on this
machine (runc 1.1.5+ds1-1+deb12u1, crun 1.8.1-1+deb12u1); docs/conformance.md collects them.
"""

KNOWN_FAILURES = {
    "runc": {},
    "crun": {},
    "husk": {},
}

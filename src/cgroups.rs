//! Thin glue over libcgroups: create, join, update, freeze, kill and remove a container cgroup.

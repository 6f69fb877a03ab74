"""Small helpers to read a checker report."""


def mount_at(report, path):
    """The topmost mount at `path` in the container's mountinfo, or None."""
    found = [m for m in report["mountinfo"] if m["mountpoint"] == path]
    return found[-1] if found else None


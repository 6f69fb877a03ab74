"""Small helpers to read a checker report."""


def mount_at(report, path):
    """The topmost mount at `path` in the container's mountinfo, or None."""
    found = [m for m in report["mountinfo"] if m["mountpoint"] == path]
    return found[-1] if found else None


def ns_inode(link):
    return link if isinstance(link, str) else None


def cap_hex(status_value):
    return int(status_value, 16)

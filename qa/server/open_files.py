"""The open-file limit a server needs: every connection is a file descriptor, and most systems start processes with
a soft limit of 1,024, far below the connections a worker holds (QA_MAX_CONNECTIONS)."""

from __future__ import annotations

import resource


def raise_open_file_limit() -> tuple[int, int] | None:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (workers inherit it); the limits before and after
    when it changed, else None."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20  # Linux refuses an unlimited soft limit; this is its usual nr_open ceiling
    if soft != resource.RLIM_INFINITY and soft >= hard:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    except (ValueError, OSError):
        return None
    return soft, hard

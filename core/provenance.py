"""Which code produced a record: the repository's commit, asked once per process.

Light on purpose (no store, no torch), so the CLI can ask at start-up for every command.
"""
from __future__ import annotations

import subprocess
from functools import lru_cache

from core.paths import REPO_ROOT


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The repository's commit when this process first asked ('' outside a git checkout).

    Cached: a training run or evaluation records the code it started with, not the commit the tree
    has moved on to by the time it finishes (the CLI asks once at start-up, `core.cli.main`)."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""

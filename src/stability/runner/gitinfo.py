"""Where a session ran: git commit, branch and dirty flag, host, versions."""

from __future__ import annotations

import platform
import socket
import subprocess
from pathlib import Path
from typing import Any


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_info(cwd: Path) -> dict[str, Any]:
    """`git_commit`, `git_branch`, `git_dirty`; all None outside a git work tree."""
    info: dict[str, Any] = {"git_commit": None, "git_branch": None, "git_dirty": None}
    if _git(cwd, "rev-parse", "--is-inside-work-tree") != "true":
        return info
    info["git_commit"] = _git(cwd, "rev-parse", "HEAD")  # None before the first commit
    branch = _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    info["git_branch"] = None if branch in (None, "HEAD") else branch  # HEAD: detached
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    info["git_dirty"] = None if status is None else bool(status)
    return info


def environment_info(cwd: Path) -> dict[str, Any]:
    # versions from the package metadata: importing pytest here would cost the runner
    # 0.15 s for one string
    from importlib.metadata import version

    import stability

    return {
        **git_info(cwd),
        "host": socket.gethostname(),
        "python_version": platform.python_version(),
        "pytest_version": version("pytest"),
        "package_version": stability.__version__,
        "cwd": str(cwd),
    }

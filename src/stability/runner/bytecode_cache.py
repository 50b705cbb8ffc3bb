"""Bytecode for repetition processes where the environment says not to write it.

With PYTHONDONTWRITEBYTECODE set, every repetition compiles again whatever has no
bytecode yet: the test files and conftests (pytest's assertion rewriting), and packages
installed without it, such as an editable install of this one (about 0.1 s of CPU a
repetition for this package alone). The repetitions get a bytecode cache of ours
instead (PYTHONPYCACHEPREFIX), kept between campaigns, since Python then looks for all
bytecode there and the first campaign compiles every module it loads once (about 1.5 s).
Nothing is written beside the project's files, which is what the setting asks for.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "STABILITY_BYTECODE_CACHE"


def cache_folder() -> Path:
    """$STABILITY_BYTECODE_CACHE, else pytest-stability/bytecode in the user's cache."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-stability" / "bytecode"


def with_bytecode_cache(env: dict[str, str]) -> dict[str, str]:
    """`env` for a repetition: our cache where bytecode is not written; a cache folder
    the user chose (PYTHONPYCACHEPREFIX) is left alone."""
    if not env.get("PYTHONDONTWRITEBYTECODE") or env.get("PYTHONPYCACHEPREFIX"):
        return env
    cached = {name: value for name, value in env.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**cached, "PYTHONPYCACHEPREFIX": str(cache_folder())}

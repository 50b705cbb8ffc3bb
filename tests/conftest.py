"""Shared test set-up.

The container tests use the images the environment names (`scripts/test.sh` exports
what `scripts/bootstrap.sh` chose), else the ones `stability images build` makes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stability.containers.images import POSTGRES_IMAGE, REDIS_IMAGE

os.environ.setdefault("STABILITY_POSTGRES_IMAGE", POSTGRES_IMAGE)
os.environ.setdefault("STABILITY_REDIS_IMAGE", REDIS_IMAGE)
# Tests that drive testcontainers directly: Ryuk needs a pulled image (none here).
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder as the working directory, with no STABILITY_DB set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STABILITY_DB", raising=False)
    return tmp_path

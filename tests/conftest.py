"""Shared test set-up: the suite runs on the locally built Debian images.

`scripts/test.sh` (and so CI) builds them with `stability images build`; a developer
can point these variables at other tags.
"""

from __future__ import annotations

import os

from stability.images import POSTGRES_IMAGE, REDIS_IMAGE

os.environ.setdefault("STABILITY_POSTGRES_IMAGE", POSTGRES_IMAGE)
os.environ.setdefault("STABILITY_REDIS_IMAGE", REDIS_IMAGE)
# Tests that drive testcontainers directly: Ryuk needs a pulled image (none here).
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

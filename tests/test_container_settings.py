"""Our testcontainers settings apply to our own containers only, never at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Run in a fresh interpreter whose environment names no testcontainers setting (the
# test session's conftest turns Ryuk off for its own direct testcontainers use).
_CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("TESTCONTAINERS_", "TC_"))}


def _python(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_CLEAN_ENV, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_importing_the_plugin_and_the_container_layer_changes_no_environment() -> None:
    code = (
        "import os, json; before = dict(os.environ);"
        "import stability.plugin, stability.containers.launch;"
        "import stability.containers.services, stability.runner.recorder;"
        "print(json.dumps(sorted(set(os.environ.items()) ^ set(before.items()))))"
    )
    assert json.loads(_python(code)) == []


@pytest.mark.docker
def test_a_start_turns_ryuk_off_for_itself_and_puts_the_settings_back() -> None:
    # Ryuk's image cannot be pulled here: had it been on, the start would have failed.
    code = """
import json, os
from pathlib import Path
from testcontainers.core.config import testcontainers_config as tc
from stability.containers.config import load_settings
from stability.containers.launch import redis_spec, start_service

before = dict(os.environ)
service = start_service(redis_spec(load_settings(Path.cwd())))
try:
    print(json.dumps({
        "host": service.host,
        "ryuk_disabled": tc.ryuk_disabled,
        "mode": tc.connection_mode_override,
        "environ_changed": dict(os.environ) != before,
    }))
finally:
    service.stop()
"""
    found = json.loads(_python(code))
    assert found == {
        "host": "127.0.0.1",
        "ryuk_disabled": False,
        "mode": None,
        "environ_changed": False,
    }

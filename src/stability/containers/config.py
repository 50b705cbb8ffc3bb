"""Settings of the container layer.

Precedence, highest first:
1. environment variables (``STABILITY_POSTGRES_IMAGE``, ...),
2. ``[tool.stability]`` in the tested project's ``pyproject.toml``,
3. built-in defaults.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from stability.containers.host_network import NETWORK_CHOICES
from stability.exceptions import ConfigError

DEFAULT_POSTGRES_IMAGE = "postgres:16-alpine"
DEFAULT_REDIS_IMAGE = "redis:7-alpine"


@dataclass(frozen=True)
class Settings:
    postgres_image: str = DEFAULT_POSTGRES_IMAGE
    redis_image: str = DEFAULT_REDIS_IMAGE
    postgres_timeout: float = 30.0
    redis_timeout: float = 10.0
    postgres_user: str = "test"
    postgres_password: str = "test"
    postgres_db: str = "test"
    migrations: Path | None = None
    seed: str | None = None
    quarantine: Path | None = None  # `stability quarantine`'s file, honoured by the plugin
    # the leftover check: None = on under `stability run`, off in a plain pytest run
    check_leftovers: bool | None = None
    # start PostgreSQL from a snapshot image (initdb, migrations, seed done once)
    snapshot: bool = True
    # where our containers listen: auto, host (loopback on the host network) or bridge
    network: str = "auto"
    # folder of the pyproject.toml the settings came from: `seed` modules import from it
    project_root: Path | None = None


# key in [tool.stability] / environment variable -> field name
_ENV = {
    "STABILITY_POSTGRES_IMAGE": "postgres_image",
    "STABILITY_REDIS_IMAGE": "redis_image",
    "STABILITY_POSTGRES_TIMEOUT": "postgres_timeout",
    "STABILITY_REDIS_TIMEOUT": "redis_timeout",
    "STABILITY_MIGRATIONS": "migrations",
    "STABILITY_SEED": "seed",
    "STABILITY_QUARANTINE": "quarantine",
    "STABILITY_CHECK_LEFTOVERS": "check_leftovers",
    "STABILITY_SNAPSHOT": "snapshot",
    "STABILITY_NETWORK": "network",
}
_KEYS = {f.name.replace("_", "-"): f.name for f in fields(Settings)} | {
    f.name: f.name for f in fields(Settings)
}


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above `start`."""
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_settings(rootdir: Path, environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    settings = Settings()
    pyproject = find_pyproject(rootdir)
    if pyproject is not None:
        settings = _apply(
            settings,
            _read_table(pyproject),
            f"[tool.stability] in {pyproject}",
            base=pyproject.parent,
        )
        settings = replace(settings, project_root=pyproject.parent)
    from_env = {_ENV[k]: v for k, v in environ.items() if k in _ENV and v != ""}
    return _apply(settings, from_env, "the environment", base=Path.cwd())


def _read_table(pyproject: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {pyproject}: {exc}") from None
    table = data.get("tool", {}).get("stability", {})
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.stability] in {pyproject} must be a table")
    return table


def _apply(settings: Settings, values: Mapping[str, Any], where: str, base: Path) -> Settings:
    changes: dict[str, Any] = {}
    for key, raw in values.items():
        name = _KEYS.get(key, key if key in _ENV.values() else None)
        if name is None or name == "project_root":
            continue  # other keys belong to other parts of the tool (runner, report)
        changes[name] = _coerce(name, raw, where, base)
    return replace(settings, **changes)


def _coerce(name: str, raw: Any, where: str, base: Path) -> Any:
    if name in ("check_leftovers", "snapshot"):
        return _boolean(name, raw, where)
    if name.endswith("_timeout"):
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{name} in {where} must be a number of seconds, got {raw!r}"
            ) from None
        if value <= 0:
            raise ConfigError(f"{name} in {where} must be positive, got {raw!r}")
        return value
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(f"{name} in {where} must be a non-empty string, got {raw!r}")
    if name == "network" and raw not in NETWORK_CHOICES:
        choices = ", ".join(NETWORK_CHOICES)
        raise ConfigError(f"network in {where} must be one of {choices}, got {raw!r}")
    if name in ("migrations", "quarantine"):
        return (base / raw).resolve()
    if name == "seed" and ":" not in raw:
        raise ConfigError(f"seed in {where} must look like 'module:function', got {raw!r}")
    return raw


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _boolean(name: str, raw: Any, where: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower() if isinstance(raw, str) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name} in {where} must be true or false, got {raw!r}")

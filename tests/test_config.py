"""Settings precedence and validation (pure: no Docker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stability.containers.config import DEFAULT_POSTGRES_IMAGE, DEFAULT_REDIS_IMAGE, load_settings
from stability.exceptions import ConfigError


def _project(tmp_path: Path, table: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(f"[tool.stability]\n{table}\n", encoding="utf-8")
    return tmp_path


def test_defaults_are_the_alpine_images(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})
    assert settings.postgres_image == DEFAULT_POSTGRES_IMAGE == "postgres:16-alpine"
    assert settings.redis_image == DEFAULT_REDIS_IMAGE == "redis:7-alpine"
    assert (settings.postgres_timeout, settings.redis_timeout) == (30.0, 10.0)


def test_pyproject_overrides_defaults_and_environment_overrides_pyproject(tmp_path: Path) -> None:
    root = _project(tmp_path, 'postgres_image = "pg:from-toml"\nredis_image = "redis:from-toml"')
    from_toml = load_settings(root, environ={})
    assert (from_toml.postgres_image, from_toml.redis_image) == ("pg:from-toml", "redis:from-toml")
    env = {"STABILITY_POSTGRES_IMAGE": "pg:from-env"}
    both = load_settings(root, environ=env)
    assert (both.postgres_image, both.redis_image) == ("pg:from-env", "redis:from-toml")


def test_pyproject_is_found_above_the_rootdir(tmp_path: Path) -> None:
    _project(tmp_path, "redis-timeout = 3.5")
    nested = tmp_path / "tests" / "integration"
    nested.mkdir(parents=True)
    assert load_settings(nested, environ={}).redis_timeout == 3.5


def test_migrations_resolve_against_the_pyproject_folder(tmp_path: Path) -> None:
    root = _project(tmp_path, 'migrations = "db/migrations"\nseed = "seeds:load"')
    settings = load_settings(root, environ={})
    assert settings.migrations == (tmp_path / "db" / "migrations").resolve()
    assert settings.seed == "seeds:load"
    assert settings.project_root == tmp_path


@pytest.mark.parametrize(
    ("table", "env", "fragment"),
    [
        ('postgres_timeout = "soon"', {}, "postgres_timeout in [tool.stability]"),
        ("redis_timeout = -1", {}, "must be positive"),
        ('seed = "no_colon"', {}, "module:function"),
        ("postgres_image = 5", {}, "non-empty string"),
        ("", {"STABILITY_REDIS_TIMEOUT": "ten"}, "redis_timeout in the environment"),
    ],
)
def test_bad_values_name_the_key_and_where_it_came_from(
    tmp_path: Path, table: str, env: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        load_settings(_project(tmp_path, table), environ=env)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_unreadable_pyproject_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.stability\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path, environ={})

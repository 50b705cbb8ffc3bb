"""pytest-stability: find the flaky tests in container-backed integration suites."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stability.api import History

__all__ = ["History", "__version__"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: the pytest plugin imports this package in every pytest
    # process, where pandas, DuckDB and the package metadata scan are dead weight.
    if name == "History":
        from stability.api import History

        return History
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("pytest-stability")
        except PackageNotFoundError:  # running from a source tree that is not installed
            return "0.0.0"
    raise AttributeError(f"module 'stability' has no attribute {name!r}")

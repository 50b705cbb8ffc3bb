"""pytest-stability: find the flaky tests in container-backed integration suites."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("pytest-stability")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

if TYPE_CHECKING:
    from stability.api import History

__all__ = ["History", "__version__"]


def __getattr__(name: str) -> Any:
    # pandas and DuckDB load only when the API is used: the pytest plugin imports this
    # package in every pytest session.
    if name == "History":
        from stability.api import History

        return History
    raise AttributeError(f"module 'stability' has no attribute {name!r}")

"""pytest-stability: find the flaky tests in container-backed integration suites."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pytest-stability")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]

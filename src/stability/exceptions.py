"""Errors a user can meet. Each carries one clear line, shown without a traceback."""

from typing import Any


class StabilityError(Exception):
    """Base class: the message is meant for the user as it is."""

    exit_code = 2


class ConfigError(StabilityError):
    """A bad `[tool.stability]` value or environment variable."""


class UsageError(StabilityError):
    """Bad command-line input: a missing target, a non-positive count, ..."""


class InfrastructureError(StabilityError):
    """Docker or a container failed: the numbers would say nothing about the tests."""

    exit_code = 3


class DockerUnavailable(InfrastructureError):
    """No Docker engine answers."""


class ImageUnavailable(InfrastructureError):
    """An image is neither present locally nor pullable."""


class StartupTimeout(InfrastructureError):
    """A service did not become ready within its start-up time-out."""


class ServiceStartError(InfrastructureError):
    """A container exited or failed while starting."""


class MigrationError(InfrastructureError):
    """A migration file or the seed function failed."""


class ContainerRemovalError(InfrastructureError):
    """The engine refused to remove a container for a reason other than its being gone."""

    def __init__(self, message: str, removed: list[Any]) -> None:
        super().__init__(message)
        self.removed = removed  # what was removed before and after the refusals


class StoreError(StabilityError):
    """The history database cannot be opened, is corrupt, or is from a newer version."""

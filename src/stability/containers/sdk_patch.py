"""How the containers a repetition's tests start are seen: the Docker SDK and
testcontainers, wrapped where every container start goes through.

The SDK's low-level `create_container` is the one call our fixtures, testcontainers and
`client.containers.run/create` all make: wrapping it adds our labels and notes each
container in `container_watch.WATCH`. `start`, `stop`, `kill` and `remove_container` tell
when it runs and when the code ends it; testcontainers' `DockerContainer.start()` (and
its subclasses', whose wait strategies run inside) tells when it is ready, and
`containers.run` joins the pull that may precede a create. An import hook applies the
wrappers as the tests import these modules, so nothing is imported here.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import inspect
import sys
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from stability.containers import labels
from stability.containers.watch import WATCH


def _with_labels(given: Any) -> tuple[dict[str, str], bool]:
    """The labels to create with (ours added, the code's kept) and whether ours set them."""
    if isinstance(given, dict):
        merged = {str(k): str(v) for k, v in given.items()}
    elif isinstance(given, list | tuple):
        merged = {str(k): "" for k in given}
    else:
        merged = {}
    ours = labels.SERVICE in merged and merged.get(labels.MANAGED) == "true"
    for key, value in labels.container_labels("tests").items():
        merged.setdefault(key, value)
    return merged, ours


def _wrap(owner: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    original = owner.__dict__.get(name)
    if original is None or hasattr(original, "__stability_original__"):
        return
    wrapper = functools.wraps(original)(make(original))
    wrapper.__stability_original__ = original  # type: ignore[attr-defined]
    setattr(owner, name, wrapper)


def _patch_docker_api(module: ModuleType) -> None:
    mixin = module.ContainerApiMixin
    signature = inspect.signature(mixin.create_container)

    def create(original: Callable[..., Any]) -> Callable[..., Any]:
        def create_container(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            image = bound.arguments.get("image", "?")
            merged, ours = _with_labels(bound.arguments.get("labels"))
            bound.arguments["labels"] = merged
            with WATCH.start(image, ours=ours, waits=False):
                result = original(*bound.args, **bound.kwargs)
                WATCH.created(str(result.get("Id", "")), str(image), ours)
            return result

        return create_container

    def start(original: Callable[..., Any]) -> Callable[..., Any]:
        def start_container(self: Any, container: Any, *args: Any, **kwargs: Any) -> Any:
            tracked = WATCH.find(container)
            image = tracked.image if tracked else "?"
            with WATCH.start(image, ours=bool(tracked and tracked.ours), waits=False) as outer:
                if tracked is not None and tracked not in outer.containers:
                    outer.containers.append(tracked)  # created earlier, started now
                result = original(self, container, *args, **kwargs)
                WATCH.running(container)
            return result

        return start_container

    def ending(original: Callable[..., Any]) -> Callable[..., Any]:
        def end_container(self: Any, container: Any, *args: Any, **kwargs: Any) -> Any:
            WATCH.ending(self, container)
            began = time.time()
            try:  # stopping a container is container time too, like starting it
                return original(self, container, *args, **kwargs)
            finally:
                WATCH.note_interval(began, time.time())

        return end_container

    _wrap(mixin, "create_container", create)
    _wrap(mixin, "start", start)
    for name in ("stop", "kill", "remove_container"):
        _wrap(mixin, name, ending)


def _patch_docker_models(module: ModuleType) -> None:
    def run(original: Callable[..., Any]) -> Callable[..., Any]:
        def run_container(self: Any, image: Any, *args: Any, **kwargs: Any) -> Any:
            name = image if isinstance(image, str) else getattr(image, "id", "?")
            with WATCH.start(str(name), ours=False, waits=False):
                return original(self, image, *args, **kwargs)

        return run_container

    _wrap(module.ContainerCollection, "run", run)


def _wrap_testcontainers_start(cls: type) -> None:
    def start(original: Callable[..., Any]) -> Callable[..., Any]:
        def start_container(self: Any, *args: Any, **kwargs: Any) -> Any:
            given = (getattr(self, "_kwargs", None) or {}).get("labels") or {}
            ours = isinstance(given, dict) and labels.SERVICE in given
            with WATCH.start(str(getattr(self, "image", "?")), ours=ours, waits=True):
                return original(self, *args, **kwargs)

        return start_container

    _wrap(cls, "start", start)


def _patch_testcontainers(module: ModuleType) -> None:
    base = module.DockerContainer
    pending = [base]
    while pending:  # subclasses already defined (a conftest imported them early)
        cls = pending.pop()
        _wrap_testcontainers_start(cls)
        pending.extend(cls.__subclasses__())
    previous = base.__dict__.get("__init_subclass__")

    def init_subclass(cls: type, /, **kwargs: Any) -> None:
        if previous is not None:
            previous.__func__(cls, **kwargs)
        else:
            super(base, cls).__init_subclass__(**kwargs)
        _wrap_testcontainers_start(cls)

    base.__init_subclass__ = classmethod(init_subclass)


_PATCHES: dict[str, Callable[[ModuleType], None]] = {
    "docker.api.container": _patch_docker_api,
    "docker.models.containers": _patch_docker_models,
    "testcontainers.core.container": _patch_testcontainers,
}


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches a module of `_PATCHES` right after it is first executed."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        patch = _PATCHES.get(fullname)
        if patch is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_patch(module: ModuleType) -> None:
            exec_module(module)
            patch(module)

        loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


_installed: list[_PatchOnImport] = []


def install() -> None:
    """Watch this process's containers from now on (idempotent)."""
    if _installed:
        return
    finder = _PatchOnImport()
    _installed.append(finder)
    for name, patch in _PATCHES.items():
        module = sys.modules.get(name)
        if module is not None:
            patch(module)
    sys.meta_path.insert(0, finder)

"""Labels on containers and `stability containers prune`, against the real engine."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from click.testing import CliRunner

from stability.cli import main
from stability.containers.cleanup import already_gone, list_managed

pytestmark = pytest.mark.docker

# Starts Redis with our labels but without the container layer (so with no reaper),
# then dies: its container stays behind, labelled with a dead owner pid, the way it
# would if the reaper itself had been killed.
LEAVE_BEHIND = """
import os
from stability.containers.config import load_settings
from stability.containers.engine import docker_client
from stability.containers.labels import container_labels
from pathlib import Path
image = load_settings(Path.cwd()).redis_image
docker_client().containers.run(image, detach=True, labels=container_labels("redis"))
os._exit(0)
"""


def _leave_a_container_behind(session: str) -> None:
    env = {**__import__("os").environ, "STABILITY_SESSION_ID": session, "STABILITY_REPETITION": "3"}
    subprocess.run([sys.executable, "-c", LEAVE_BEHIND], env=env, check=True, timeout=60)


def test_prune_removes_what_a_dead_process_left_behind() -> None:
    session = f"prune-{uuid.uuid4().hex[:8]}"
    _leave_a_container_behind(session)
    [left] = list_managed(session=session)
    assert (left.service, left.repetition, left.status) == ("redis", "3", "running")
    listed = CliRunner().invoke(
        main, ["containers", "list", "--session", session], catch_exceptions=False
    )
    assert f"{left.short_id} redis    running" in listed.output
    assert listed.output.endswith("1 container(s)\n")

    result = CliRunner().invoke(
        main, ["containers", "prune", "--session", session], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert f"removed {left.short_id} redis" in result.output
    assert "1 container(s) removed" in result.output
    assert list_managed(session=session) == []


def test_prune_spares_containers_of_live_processes_unless_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pathlib import Path

    from stability.containers.config import load_settings
    from stability.containers.services import ServiceManager

    session = f"alive-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("STABILITY_SESSION_ID", session)
    manager = ServiceManager(load_settings(Path.cwd()))
    try:
        manager.get("redis")  # owned by this (living) test process
        runner = CliRunner()
        spared = runner.invoke(
            main, ["containers", "prune", "--session", session, "--json"], catch_exceptions=False
        )
        assert spared.exit_code == 0 and spared.output.strip() == "[]"
        assert len(list_managed(session=session)) == 1

        forced = runner.invoke(
            main, ["containers", "prune", "--all", "--session", session], catch_exceptions=False
        )
        assert "1 container(s) removed" in forced.output
        assert list_managed(session=session) == []
    finally:
        manager.close()


def test_prune_without_engine_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/stability-no-engine-here.sock")
    result = CliRunner().invoke(main, ["containers", "prune"], catch_exceptions=False)
    assert result.exit_code == 3
    assert result.output.startswith("stability: error: no Docker engine answers at ")
    assert result.output.count("\n") == 1


def _api_error(cls: type[Exception], status: int, explanation: str) -> Exception:
    import requests

    response = requests.Response()
    response.status_code = status
    return cls(f"{status} Client Error", response=response, explanation=explanation)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("status", "explanation", "gone"),
    [
        (404, "No such container: 3f2a", True),
        (409, "removal of container 3f2a is already in progress", True),
        (409, "You cannot remove a running container 3f2a. Stop the container first", False),
        (500, "driver overlay2 failed to remove root filesystem: device or resource busy", False),
        (403, "authorization denied by plugin", False),
    ],
)
def test_only_a_container_gone_or_going_counts_as_already_removed(
    status: int, explanation: str, gone: bool
) -> None:
    import docker.errors

    cls = docker.errors.NotFound if status == 404 else docker.errors.APIError
    assert already_gone(_api_error(cls, status, explanation)) is gone


def test_removing_a_container_twice_is_gone_not_refused() -> None:
    import docker.errors

    from stability.containers.engine import docker_client

    client = docker_client()
    image = os.environ["STABILITY_REDIS_IMAGE"]  # conftest names it
    container = client.containers.create(image, labels={"test": "cleanup-twice"})
    container.remove(force=True)
    with pytest.raises(docker.errors.APIError) as caught:
        container.remove(force=True)
    assert already_gone(caught.value)

"""Each error a user meets, produced for real, gives one clear line and no traceback."""

from __future__ import annotations

import pytest

from stability.containers.cleanup import list_managed

pytestmark = pytest.mark.docker

TWO_TESTS = """
def test_one(pg_transaction):
    pass

def test_two(postgres_url):
    pass
"""


def _assert_one_line_errors(result: pytest.RunResult, message: str) -> None:
    result.assert_outcomes(errors=2)
    # Each test's setup error is the one line, alone: no traceback, no chained exception.
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_one*",
            f"stability: {message}",
            "*ERROR at setup of test_two*",
            f"stability: {message}",
            "*short test summary*",
        ]
    )
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    assert "During handling" not in output


def test_no_docker_engine(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/stability-no-engine-here.sock")
    pytester.makepyfile(TWO_TESTS)
    result = pytester.runpytest_subprocess("-ra", "--tb=short")
    _assert_one_line_errors(
        result,
        "no Docker engine answers at unix:///tmp/stability-no-engine-here.sock (no such socket)*",
    )
    result.stdout.fnmatch_lines(["*start one*DOCKER_HOST*"])


def test_image_neither_present_nor_pullable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STABILITY_POSTGRES_IMAGE", "127.0.0.1:1/pytest-stability/no-such-image:0")
    pytester.makepyfile(TWO_TESTS)
    result = pytester.runpytest_subprocess("-ra", "--tb=short")
    _assert_one_line_errors(
        result, "postgres image '127.0.0.1:1/pytest-stability/no-such-image:0' is not present*"
    )
    result.stdout.fnmatch_lines(["*stability images build*STABILITY_POSTGRES_IMAGE*"])


def test_startup_timeout_names_service_image_wait_and_logs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stability.containers.config import load_settings
    from stability.containers.launch import postgres_spec
    from stability.containers.services import fresh_spec

    # the snapshot first, with time to make it: the time-out is about a start from it
    settings = load_settings(pytester.path)
    fresh_spec(postgres_spec(settings), settings)
    # (a time-out no start can meet: a snapshot start is ready in about 0.2 s here)
    monkeypatch.setenv("STABILITY_POSTGRES_TIMEOUT", "0.01")
    monkeypatch.setenv("STABILITY_SESSION_ID", "timeout-check")
    pytester.makepyfile(TWO_TESTS)
    result = pytester.runpytest_subprocess("-ra", "--tb=short")
    _assert_one_line_errors(
        result,
        # the image: the snapshot made from pytest-stability/postgres:15-bookworm
        "postgres (pytest-stability/pg-snapshot:*) was not ready after *.* s (timeout 0.01 s); *",
    )
    # The log tail is there (the container logged or said it logged nothing) ...
    assert "last log lines:" in result.stdout.str() or "logged nothing" in result.stdout.str()
    # ... and the container that timed out was removed, not left behind.
    assert list_managed(session="timeout-check") == []


def test_bad_configuration_value(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.stability]\npostgres_timeout = "soon"\n')
    pytester.makepyfile(TWO_TESTS)
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "stability: postgres_timeout in [tool.stability] in "
        f"{pytester.path / 'pyproject.toml'} must be a number of seconds, got 'soon'"
    ) in result.stdout.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_the_kept_docker_client_is_replaced_when_it_stops_answering(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from stability.containers import engine
    from stability.exceptions import DockerUnavailable

    first = engine.docker_client()
    assert engine.docker_client() is first  # kept: no new client, no version request

    class Closed:
        def ping(self) -> bool:
            raise ConnectionError("the engine closed the connection")

    key = next(k for k, v in engine._clients.items() if v is first and k[0] == os.getpid())
    monkeypatch.setitem(engine._clients, key, Closed())
    fresh = engine.docker_client()
    assert fresh is not first and fresh.ping()
    assert engine._clients[key] is fresh

    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/stability-no-engine-here.sock")
    with pytest.raises(DockerUnavailable, match="no such socket"):
        engine.docker_client()  # another engine: its own client, and the same error as ever

"""Repetition processes started ahead (`runner.prestart`): real pytest processes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from runner_support import invoke, probe_file
from stability.runner.prestart import Spares

# What a repetition's process looks like from inside, one JSON line per repetition.
PROBE = """
import json, os, sys, tempfile
import pytest

def test_where_am_i():
    with open(os.environ["PROBE_OUT"], "a") as out:
        out.write(json.dumps({
            "repetition": os.environ["STABILITY_REPETITION"],
            "cmdline": open("/proc/self/cmdline", "rb").read().split(b"\\0")[1].decode(),
            "main": sys.modules["__main__"].__spec__.name,
            "argv": sys.argv[1:],
            "path0": sys.path[0],
            "cwd": os.getcwd(),
            "tmp": tempfile.gettempdir(),
            "tmpdir": os.environ["TMPDIR"],
            "hash": hash("same text"),
        }) + "\\n")
    if os.environ["STABILITY_REPETITION"] == "3":  # its words reach the repetition's output
        pytest.exit("stopped by the probe", returncode=3)
"""


def _runs(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize("prestart", [True, False])
def test_a_prestarted_repetition_runs_as_python_m_pytest_would(
    project: Path, monkeypatch: pytest.MonkeyPatch, prestart: bool
) -> None:
    out = probe_file(project, monkeypatch, "test_probe.py", PROBE)
    flag = "--prestart" if prestart else "--no-prestart"
    db = project / "history.duckdb"
    # pytest still rewrites the asserts of the plugin it loads: nothing of ours came first
    strict = ["--", "-W", "error::pytest.PytestAssertRewriteWarning"]
    result = invoke(
        "test_probe.py", "--repeat", "4", "-q", flag, "--json", "--db", str(db), *strict
    )
    assert result.exit_code == 1, result.output
    summary = json.loads(result.output)
    assert summary["repetitions"] == {"passed": 3, "crashed": 1}, summary
    with duckdb.connect(str(db), read_only=True) as conn:
        errors = conn.execute("SELECT number, error FROM repetitions WHERE error IS NOT NULL")
        [(number, error)] = errors.fetchall()
    assert number == 3 and "pytest exited with 3" in error and "stopped by the probe" in error
    runs = _runs(out)
    assert [r["repetition"] for r in runs] == ["1", "2", "3", "4"]
    # the first repetition starts cold; later ones take the spare started meanwhile
    started_as = [r["cmdline"] for r in runs]
    assert started_as == ["-m", "-c", "-c", "-c"] if prestart else ["-m"] * 4
    for run in runs:
        assert run["main"] == "pytest.__main__"
        assert run["argv"] == runs[0]["argv"] and run["argv"][-2:] == strict[1:]
        assert run["path0"] == run["cwd"] == str(project)
        assert run["tmp"] == run["tmpdir"] and f"-{run['repetition']}-" in str(run["tmp"])
    assert len({r["hash"] for r in runs}) == 4  # each its own interpreter and hash seed


def test_spares_are_replaced_as_taken_and_end_when_closed(project: Path) -> None:
    env = {**os.environ, "SPARE_TEST": "1"}
    spares = Spares([sys.executable, "-m", "pytest"], project, lambda: env, [], 1)
    spares.fill(5)
    first = spares.take(5)
    assert first is not None and first.proc.poll() is None
    second = spares.take(0)  # the one started in the first one's place; none after it
    assert second is not None and second.proc.pid != first.proc.pid
    assert not spares._waiting
    first._close_pipe()  # as when the runner dies: no order will come, it ends cleanly
    assert first.proc.wait(timeout=30) == 0
    spares.fill(1)
    waiting = spares._waiting[0]
    spares.close()
    assert waiting.proc.returncode is not None and not spares._waiting
    second.proc.kill()
    second.proc.wait()
    assert not second.start(env, project / "out.log", ["-q"])  # ended: not usable


def test_a_spare_started_with_another_environment_is_not_taken(project: Path) -> None:
    env = {**os.environ, "SPARE_TEST": "1"}
    spares = Spares([sys.executable, "-m", "pytest"], project, lambda: dict(env), [], 1)
    spares.fill(5)
    stale = spares._waiting[0]
    env["SPARE_TEST"] = "2"  # e.g. the runner's environment changed meanwhile
    assert spares.take(5) is None  # that repetition starts its own process
    assert stale.proc.returncode is not None  # ended unused
    fresh = spares.take(5)  # the one started in its place, with the new environment
    assert fresh is not None and fresh.env["SPARE_TEST"] == "2"
    fresh.discard()
    spares.close()


def test_only_python_m_pytest_commands_get_spares() -> None:
    assert Spares.usable([sys.executable, "-m", "pytest", "-p", "stability.plugin"])
    assert not Spares.usable([sys.executable, "-m", "xdist"])

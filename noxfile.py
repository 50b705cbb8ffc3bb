"""Developer sessions: `nox` runs lint, typecheck and tests; `nox -s demo` the main job."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON = nox.project.python_versions(PYPROJECT)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The suite against real containers (needs a Docker engine and the images:
    `bash scripts/bootstrap.sh` provides both)."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks", "noxfile.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python=PYTHON, default=False)
def benchmark(session: nox.Session) -> None:
    """Runner overhead and report speed; figures go to stdout, each beside its goal.
    `REPORT_SIZE=50m nox -s benchmark`: the reports over 51,100,000 executions."""
    session.install("-e", ".[dev]")
    session.run("python", "benchmarks/bench_runner.py", *session.posargs)
    # every report format and `check`: 1M executions by default; REPORT_SIZE=50m for a
    # year of nights (generated once into the temp folder: minutes), or REPORT_DB=path
    report_args = ["--size", os.environ.get("REPORT_SIZE", "1m")]
    if os.environ.get("REPORT_DB"):
        report_args += ["--db", os.environ["REPORT_DB"]]
    session.run("python", "benchmarks/bench_report.py", *report_args)
    session.run("python", "benchmarks/bench_scale.py")
    session.run("python", "benchmarks/bench_reaper.py")
    session.run("python", "benchmarks/bench_container_watch.py")
    session.run("python", "benchmarks/bench_leftovers.py", "--rounds", "3")


@nox.session(python=PYTHON, default=False)
def demo(session: nox.Session) -> None:
    """The main job: a stability campaign on the example project, then the HTML report."""
    session.run("bash", "scripts/demo.sh", external=True)

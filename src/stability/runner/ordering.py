"""Run orders and repeated runs in one process: `run --shuffle/--seed` and `--in-process K`.

A pytest plugin part, registered by `stability.plugin` when asked (by the runner through
environment variables, or by hand with `--stability-seed` / `--stability-in-process`):

- shuffle: the collected tests are put in the order a private `random.Random(seed)`
  gives, after every other plugin has filtered them (`-k`, `-m`: trylast). The tests' own
  random generators are never touched, so their own flakiness is what it was. Under xdist
  every worker computes the same order; which worker runs which test is xdist's choice.
- in-process: each test runs K times back to back in the same process (function-scoped
  fixtures set up and torn down each time, wider ones kept), each run reported under the
  same node id; the recorder numbers them (`attempt`).
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar, cast

import pytest

from stability.runner.order_env import IN_PROCESS_ENV, SEED_ENV

if TYPE_CHECKING:
    from _pytest.nodes import Node

T = TypeVar("T")


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("stability", "pytest-stability")
    group.addoption(
        "--stability-seed",
        dest="stability_seed",
        type=int,
        default=None,
        metavar="S",
        help="Run the collected tests in the random order of seed S (stability run --shuffle).",
    )
    group.addoption(
        "--stability-in-process",
        dest="stability_in_process",
        type=int,
        default=None,
        metavar="K",
        help="Run each test K times back to back in this process.",
    )


def shuffled(items: Sequence[T], seed: int) -> list[T]:
    """`items` in the order of `seed`: the same seed gives the same order of the same items
    (it depends only on how many there are, so node ids predict the order of the items)."""
    order = list(items)
    random.Random(seed).shuffle(order)
    return order


def _setting(config: pytest.Config, option: str, env: str) -> int | None:
    value = config.getoption(option, None)
    if value is not None:
        return int(value)
    text = os.environ.get(env, "").strip()
    if not text.lstrip("-").isdigit() or not _started_by_the_run(config):
        return None
    return int(text)


def _started_by_the_run(config: pytest.Config) -> bool:
    """The runner's settings are for the pytest it started (and its xdist workers), not
    for a pytest that a test starts in turn (pytester, a subprocess)."""
    from stability.runner.recorder import started_by_the_run

    return started_by_the_run(hasattr(config, "workerinput"))


def register(config: pytest.Config) -> None:
    seed = _setting(config, "stability_seed", SEED_ENV)
    times = _setting(config, "stability_in_process", IN_PROCESS_ENV)
    if times is not None and times < 1:
        raise pytest.UsageError(f"--stability-in-process must be at least 1, got {times}")
    if seed is None and (times or 1) == 1:
        return
    config.pluginmanager.register(Ordering(seed, times or 1), "stability-ordering")


class Ordering:
    def __init__(self, seed: int | None, times: int) -> None:
        self.seed = seed
        self.times = times

    def pytest_report_header(self) -> list[str]:
        lines = []
        if self.seed is not None:
            lines.append(f"stability: shuffled order, seed {self.seed}")
        if self.times > 1:
            lines.append(f"stability: each test runs {self.times} times in this process")
        return lines

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        if self.seed is not None:
            items[:] = shuffled(items, self.seed)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> bool | None:
        if self.times == 1:
            return None  # pytest's own protocol runs it
        from _pytest.runner import runtestprotocol

        between = cast(pytest.Item, _SameParents(item))
        for attempt in range(1, self.times + 1):
            last = attempt == self.times
            item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            runtestprotocol(item, nextitem=nextitem if last else between, log=True)
            item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True


class _SameParents:
    """ "The next test" between two runs of one test: it has every parent of the test but
    is not the test, so pytest's teardown runs the test's own (function-scoped) finalizers
    and keeps its module, class and session fixtures up for the next run."""

    def __init__(self, item: pytest.Item) -> None:
        self.nodeid = item.nodeid
        self._parents = item.listchain()[:-1]

    def listchain(self) -> list[Node]:
        return list(self._parents)

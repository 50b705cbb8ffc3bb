"""The pytest plugin (entry point `pytest11`): PostgreSQL and Redis fixtures.

Loaded in every pytest session of every user, so it imports nothing heavy at module
level: testcontainers, psycopg and redis are imported when a test first asks.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from stability.containers.service_fixtures import SERVICE_FIXTURES, manager_key
from stability.exceptions import MigrationError, StabilityError
from stability.runner.results_file import results_dir

if TYPE_CHECKING:
    import psycopg
    import redis
    from testcontainers.core.container import DockerContainer

    from stability.containers.config import Settings
    from stability.containers.handoff import Handoff
    from stability.containers.launch import RunningService
    from stability.containers.leftover_watch import LeftoverWatch
    from stability.containers.services import ServiceManager


def _skip_assertion_rewriting_of_this_package() -> None:
    """pytest rewrites the asserts of every module of a plugin's package as it loads
    (an editable install: the whole `stability` package). Ours hold no test assertions,
    so the rewrite is an AST pass per module and process for nothing, and where bytecode
    is not written (PYTHONDONTWRITEBYTECODE) nothing caches it: every repetition paid it.
    pytest has no public switch for a plugin's own package; when its rewriting hook
    changes shape this does nothing and the modules are rewritten as before."""
    for finder in sys.meta_path:
        marked = getattr(finder, "_must_rewrite", None)
        cache = getattr(finder, "_marked_for_rewrite_cache", None)
        if isinstance(marked, set) and "stability" in marked and isinstance(cache, dict):
            marked.discard("stability")
            cache.clear()


_skip_assertion_rewriting_of_this_package()
_handed_key = pytest.StashKey[dict[str, "Handoff"]]()
_needed_key = pytest.StashKey[set[str]]()
_settings_key = pytest.StashKey["Settings | None"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stability", "pytest-stability")
    group.addoption(
        "--stability-quarantine",
        dest="stability_quarantine",
        metavar="FILE",
        default=None,
        help="Quarantine file (from `stability quarantine`): failures of the tests in it "
        "do not fail the run. Default: [tool.stability] quarantine.",
    )
    from stability.runner import ordering

    ordering.add_options(parser)
    group.addoption(
        "--stability-leftovers",
        action="store_true",
        default=False,
        help="Name the tests that leave PostgreSQL/Redis state behind (on under `stability "
        "run`). Default: [tool.stability] check_leftovers.",
    )


def pytest_configure(config: pytest.Config) -> None:
    from stability.logging_guard import guard_pytest_logger_walk
    from stability.runner import ordering

    guard_pytest_logger_walk()  # before any thread of ours starts
    config.stash[_needed_key] = set()
    ordering.register(config)
    campaign = results_dir() is not None  # `stability run` asked for the recorder
    if campaign:
        _skip_final_collections()
        from stability.containers import handoff
        from stability.runner import recorder

        handed = config.stash[_handed_key] = handoff.claim_all()  # started ahead for us
        if handed:  # the tests will use these: load their drivers while pytest collects
            from stability.containers.services import preload_drivers

            preload_drivers(handed)
        recorder.register(config)  # a pytest a test starts is told it records nothing
    if _check_leftovers(config):
        from stability.containers import leftover_watch

        watch = leftover_watch.register(config)
        if campaign and config.stash[_handed_key]:
            # Only the container a fixture adopts has the same URL, so the check takes a
            # snapshot's baseline for it alone (the fixtures compare the keys).
            handed = config.stash[_handed_key]
            watch.expect({name: (h.url, h.baseline) for name, h in handed.items()})
    if campaign:
        return  # a campaign records real outcomes: no quarantine
    quarantine = _quarantine_file(config)
    if quarantine is not None:
        from stability.ci import quarantine_plugin

        quarantine_plugin.configure(config, quarantine)


def _skip_final_collections() -> None:
    """At exit, once everything else is done, set every object aside from the garbage
    collector: the interpreter's last collections walk all the objects a session made
    (0.1-0.2 s of a repetition's process with the drivers loaded), and a process that
    ends needs none of them. Python does not promise finalizers at exit; files, sockets
    and modules are still closed and torn down by reference counting. Registered now, so
    it runs after the exit handlers registered later (atexit runs them last in, first out)."""
    import atexit
    import gc

    atexit.register(gc.freeze)


def _quarantine_file(config: pytest.Config) -> Path | None:
    option = config.getoption("stability_quarantine", None)
    if option:
        return Path(option)
    settings = _settings(config)  # None: a bad [tool.stability], the report header says so
    return settings.quarantine if settings is not None else None


def _settings(config: pytest.Config) -> Settings | None:
    """The project's settings, read once a session; None when they are wrong (the report
    header and the fixtures say why)."""
    if _settings_key not in config.stash:
        from stability.containers.config import load_settings

        try:
            config.stash[_settings_key] = load_settings(Path(config.rootpath))
        except StabilityError:
            config.stash[_settings_key] = None
    return config.stash[_settings_key]


def _check_leftovers(config: pytest.Config) -> bool:
    if config.getoption("stability_leftovers", False):
        return True
    settings = _settings(config)
    if settings is None:
        return False  # the fixtures report the configuration error, with its reason
    wanted = settings.check_leftovers
    return results_dir() is not None if wanted is None else wanted


def _leftover_watch(config: pytest.Config) -> LeftoverWatch | None:
    from stability.containers.leftover_watch import watch_key

    return config.stash.get(watch_key, None)


def _watch(config: pytest.Config, name: str, service: RunningService) -> None:
    """Tell the leftover check (when on) that a service is ready: its baseline is now."""
    watch = _leftover_watch(config)
    if watch is not None:
        watch.attach(name, service.url)


def pytest_report_header(config: pytest.Config) -> str:
    from stability.containers.config import load_settings

    try:
        s = load_settings(Path(config.rootpath))
    except StabilityError as exc:
        return f"stability: configuration error: {exc}"
    return (
        f"stability: postgres={s.postgres_image} (timeout {s.postgres_timeout:g}s), "
        f"redis={s.redis_image} (timeout {s.redis_timeout:g}s)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needed = config.stash[_needed_key]
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        needed.update(service for service, fixtures in SERVICE_FIXTURES.items() if names & fixtures)


@pytest.fixture(scope="session")
def stability_services(
    pytestconfig: pytest.Config, request: pytest.FixtureRequest
) -> Iterator[ServiceManager]:
    """Starts the services this session needs, in parallel, on first use; stops them at the end."""

    try:
        manager = _manager(pytestconfig)
    except StabilityError as exc:
        pytest.exit(f"stability: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
    yield manager
    watch = _leftover_watch(pytestconfig)
    if watch is not None:
        watch.services_closing()
    # The containers are gone afterwards: keep their logs where a test failed.
    manager.close(keep_logs=request.session.testsfailed > 0)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the services the collected tests need now, while pytest gets on with the
    rest, so the first test that asks waits only for what is left of the start."""
    config = session.config
    if config.option.collectonly or not session.items or not config.stash[_needed_key]:
        return
    try:
        _manager(config).start_early()
    except StabilityError:
        return  # the fixture reports it, with its reason, to the tests that need it


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Services started early for tests that never asked (all skipped, say)."""
    manager = session.config.stash.get(manager_key, None)
    if manager is not None:
        manager.close()


def pytest_unconfigure(config: pytest.Config) -> None:
    if "stability.containers.services" in sys.modules:  # else nothing was preloaded
        from stability.containers.services import wait_for_preloads

        wait_for_preloads()


def _manager(config: pytest.Config) -> ServiceManager:
    """The session's service manager, made on first need."""
    manager = config.stash.get(manager_key, None)
    if manager is None:
        from stability.containers.config import load_settings
        from stability.containers.services import ServiceManager

        settings = load_settings(Path(config.rootpath))
        needed: set[str] = config.stash[_needed_key]
        manager = ServiceManager(settings, needed, config.stash.get(_handed_key, None))
        config.stash[manager_key] = manager
    return manager


def _service(manager: ServiceManager, name: str) -> RunningService:
    try:
        return manager.get(name)
    except StabilityError as exc:
        error = exc
    # Outside the except block, so pytest shows no chained traceback: one line only.
    if isinstance(error, MigrationError):
        pytest.exit(f"stability: {error}", returncode=pytest.ExitCode.INTERRUPTED)
    pytest.fail(f"stability: {error}", pytrace=False)


@pytest.fixture(scope="session")
def postgres_service(
    stability_services: ServiceManager, pytestconfig: pytest.Config
) -> RunningService:
    """The running PostgreSQL: `.url`, `.host`, `.port`, `.ready_s`, `.container`."""
    service = _service(stability_services, "postgres")
    _watch(pytestconfig, "postgres", service)
    return service


@pytest.fixture(scope="session")
def redis_service(
    stability_services: ServiceManager, pytestconfig: pytest.Config
) -> RunningService:
    """The running Redis: `.url`, `.host`, `.port`, `.ready_s`, `.container`."""
    service = _service(stability_services, "redis")
    _watch(pytestconfig, "redis", service)
    return service


@pytest.fixture(scope="session")
def postgres_container(postgres_service: RunningService) -> DockerContainer:
    """The started testcontainers container of PostgreSQL."""
    return postgres_service.container


@pytest.fixture(scope="session")
def redis_container(redis_service: RunningService) -> DockerContainer:
    """The started testcontainers container of Redis."""
    return redis_service.container


@pytest.fixture(scope="session")
def postgres_url(postgres_service: RunningService) -> str:
    """`postgresql://user:password@host:port/db`, for psycopg 3, SQLAlchemy and others."""
    return postgres_service.url


@pytest.fixture(scope="session")
def redis_url(redis_service: RunningService) -> str:
    """`redis://host:port/0`, for redis-py and others."""
    return redis_service.url


@pytest.fixture(scope="session")
def _pg_session_connection(postgres_url: str) -> Iterator[list[psycopg.Connection[Any]]]:
    # One connection reused across tests (a list, so a broken one can be replaced).
    import psycopg

    holder = [psycopg.connect(postgres_url)]
    yield holder
    holder[0].close()


@pytest.fixture
def pg_transaction(
    _pg_session_connection: list[psycopg.Connection[Any]], postgres_url: str
) -> Iterator[psycopg.Connection[Any]]:
    """A psycopg 3 connection inside a transaction that is always rolled back.

    Whatever the test writes is gone before the next test, whether it passed, failed
    or errored. Calling `commit()` inside it raises: the rollback is the point.
    """
    import psycopg

    conn = _pg_session_connection[0]
    if conn.closed or conn.broken:
        conn = _pg_session_connection[0] = psycopg.connect(postgres_url)
    conn.rollback()  # leave any aborted state from elsewhere behind
    try:
        with conn.transaction(force_rollback=True):
            yield conn
    except psycopg.Error:
        # the test closed or broke the connection: its rollback happened server-side
        _pg_session_connection[0] = psycopg.connect(postgres_url)


@pytest.fixture
def redis_client(redis_url: str, pytestconfig: pytest.Config) -> Iterator[redis.Redis]:
    """A redis-py client (str responses) on a database emptied before and after the test."""
    import redis

    from stability.containers import redis_clients

    client = redis_clients.from_url(redis_url, decode_responses=True)
    client.flushdb()
    try:
        yield client
        # What it wrote is gone for the next test, as with pg_transaction; a Redis that
        # died during the test has nothing left to empty (the next test reports it).
        with contextlib.suppress(redis.exceptions.ConnectionError):
            if _leftover_watch(pytestconfig) is None:
                client.flushdb()
            else:  # the check then knows, without asking, that the keys written are gone
                _flush_telling_the_check(client)
    finally:
        client.close()


def _flush_telling_the_check(client: redis.Redis) -> None:
    """FLUSHDB, announced first in the stream the leftover check's Redis probe reads
    (`redis_probe.FLUSHED_CHANNEL`), in the same round trip."""
    from stability.containers.redis_probe import FLUSHED_CHANNEL

    db = client.connection_pool.connection_kwargs.get("db", 0)
    pipe = client.pipeline(transaction=False)
    pipe.publish(FLUSHED_CHANNEL, db)
    pipe.flushdb()
    pipe.execute()

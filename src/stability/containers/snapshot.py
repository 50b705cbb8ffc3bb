"""A PostgreSQL image holding a migrated and seeded database: the expensive work, once.

initdb, the migrations and the seed run once, in a container whose data directory is
outside the official image's declared volume (so `docker commit` captures it); the
committed image is tagged by a key of everything it was made from (the base image's
id, user, password, database, each migration file's name and bytes, the seed target
and its module's source) and reused while that key holds. A change to any of them
gives another key: the next start builds a new snapshot and removes the old ones.

A container started from the snapshot runs the server on the image's data directory:
its own overlay layer takes what it writes, so every container still gets a database no
one has touched. Measured on 2 cores, that was ready in 0.19 s at 0.28 s of CPU, where
copying the data into a tmpfs first took 0.32 s and 0.44 s: only the files written are
copied up, unless an entrypoint changes every file's owner (`chown -R`: 2 s).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.util
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from stability.containers import labels
from stability.containers.config import Settings
from stability.containers.engine import docker_client
from stability.exceptions import MigrationError, ServiceStartError

if TYPE_CHECKING:
    from stability.containers.launch import ServiceSpec

REPOSITORY = "pytest-stability/pg-snapshot"
# Bumped when the way snapshots are made changes: older ones are made again.
# 2: analyzed; 3: a decoding slot for the leftover check; 4: 1 MB WAL segments;
# 5: the server runs on the image's data directory (no copy into a tmpfs); 6: no slot
# (claiming it was no faster than creating a temporary one, measured); 7: row counts;
# 8: the password stored with one SCRAM iteration; 9: the leftover check's whole baseline
FORMAT = "9"
SNAPSHOT_DIR = "/stability-snapshot"
KEY_LABEL = "dev.pytest-stability.snapshot-key"
SOURCE_LABEL = "dev.pytest-stability.snapshot-source"
# What the leftover check reads as its probe opens (`pg_baseline`): every container
# started from the image holds it, so the probe of one nobody has touched yet need not
# read it (on 50 tables of 1,000 rows, 35 ms of a fresh server's CPU, 120 ms counting).
BASELINE_LABEL = "dev.pytest-stability.leftover-baseline"
# Durability is worth nothing in a throw-away test database.
_SERVER_FLAGS = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
# Few spare log segments kept at a checkpoint: a smaller data directory in the image.
_SERVER_FLAGS += ["-c", "min_wal_size=4MB"]


def content_key(settings: Settings) -> str:
    """A hash of what the database is made from, but for the base image's identity:
    the image name, user, password, database, migration files and the seed's source."""
    digest = hashlib.sha256(FORMAT.encode())
    for part in (
        settings.postgres_image,
        settings.postgres_user,
        settings.postgres_password,
        settings.postgres_db,
        settings.seed or "",
    ):
        digest.update(part.encode() + b"\0")
    if settings.migrations is not None and settings.migrations.is_dir():
        for path in sorted(settings.migrations.glob("*.sql")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    if settings.seed:
        digest.update(_seed_source(settings))
    return digest.hexdigest()[:24]


def snapshot_spec(
    spec: ServiceSpec, settings: Settings, prepare: Callable[[str], None]
) -> ServiceSpec:
    """`spec` started from the snapshot image (built first when missing): migrations
    and seed already applied. `prepare(url)` applies them at build."""
    from stability.containers.launch import ensure_image

    client = docker_client()
    # a missing base image: the same one-line error as without snapshots
    base = ensure_image(client, spec)
    flags = " ".join([*_SERVER_FLAGS, *spec.command])  # in the image's CMD, and the key
    digest = hashlib.sha256(f"{base.id}\0{content_key(settings)}\0{flags}".encode())
    tag = f"{REPOSITORY}:{digest.hexdigest()[:24]}"
    if not _present(client, tag):
        with _build_lock(tag):
            if not _present(client, tag):
                _build(client, spec, settings, tag, base, prepare)
    env = {**spec.env, "PGDATA": f"{SNAPSHOT_DIR}/data"}
    return replace(spec, image=tag, env=env, prepared=True, command=())


def _build(
    client: object,
    spec: ServiceSpec,
    settings: Settings,
    tag: str,
    base: object,
    prepare: Callable[[str], None],
) -> None:
    from stability.containers.launch import start_service

    config = getattr(base, "attrs", {}).get("Config") or {}
    entrypoint = list(config.get("Entrypoint") or [])
    command = [*(config.get("Cmd") or ["postgres"]), *_SERVER_FLAGS, *spec.command]
    # 1 MB log segments (initdb's default is 16 MB): the segment a container writes
    # first is copied up from the image whole.
    initdb_args = f"{spec.env.get('POSTGRES_INITDB_ARGS', '')} --wal-segsize=1".strip()
    env = {**spec.env, "PGDATA": f"{SNAPSHOT_DIR}/data", "POSTGRES_INITDB_ARGS": initdb_args}
    # On the bridge: `docker commit` keeps the container's environment, and a host
    # network start's PGPORT would become every later container's port.
    building = replace(spec, env=env, network="bridge")
    # The reaper's labels, but no session or repetition: containers started from the
    # image inherit its labels, and must not look like an earlier repetition's.
    owner = {
        k: v
        for k, v in labels.container_labels("postgres-snapshot").items()
        if k not in (labels.SESSION, labels.REPETITION)
    }
    service = start_service(building, labels=owner)
    try:
        prepare(service.url)
        _analyze(service.url)
        baseline = _baseline_label(service.url)
        _cheap_login(service.url, settings.postgres_password)
        container = service.container.get_wrapped_container()
        container.stop(timeout=60)  # a clean shutdown: the data directory is consistent
        source = _source_key(settings)
        container.commit(
            repository=REPOSITORY,
            tag=tag.split(":", 1)[1],
            changes=[
                f"ENV PGDATA={SNAPSHOT_DIR}/data",
                "ENTRYPOINT " + json.dumps(entrypoint),
                "CMD " + json.dumps(command),
                f"LABEL {KEY_LABEL}={tag.split(':', 1)[1]} {SOURCE_LABEL}={source}"
                + (f" {BASELINE_LABEL}={baseline}" if baseline else ""),
            ],
        )
    except (ServiceStartError, MigrationError):
        raise
    except Exception as exc:  # the engine refused the stop or the commit
        raise ServiceStartError(f"cannot make the PostgreSQL snapshot image {tag}: {exc}") from None
    finally:
        service.stop()
    _remove_older(client, tag, source)


def _analyze(url: str) -> None:
    """Statistics of the seeded tables into the snapshot: every container started from
    it plans with them, and the leftover check has nothing to analyze at attach."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


def _cheap_login(url: str, password: str) -> None:
    """The same password, stored with one SCRAM iteration: a connection to a container
    started from the image costs the client 1 ms of CPU instead of 4 (`scram`)."""
    import psycopg
    from psycopg import sql

    from stability.containers.scram import verifier

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE CURRENT_USER PASSWORD {}").format(sql.Literal(verifier(password)))
        )


def _baseline_label(url: str) -> str:
    """The image's baseline for the leftover check as a label value ("" when too long)."""
    import psycopg

    from stability.containers import pg_baseline

    with psycopg.connect(url, autocommit=True) as conn:
        _, baseline = pg_baseline.read(conn)
        return pg_baseline.encode(baseline)


@functools.lru_cache(maxsize=8)
def baseline_label(image: str) -> str | None:
    """The leftover check's baseline a snapshot image holds, encoded (`pg_baseline`);
    None: not recorded, or the engine cannot say."""
    try:
        label = (docker_client().images.get(image).labels or {}).get(BASELINE_LABEL)
    except Exception:  # the engine: the probe reads for itself
        return None
    return str(label) if label else None


def _present(client: object, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)  # type: ignore[attr-defined]
    except docker.errors.ImageNotFound:
        return False
    return True


def _remove_older(client: object, tag: str, source: str) -> None:
    """Snapshots of the same project and image made from older content: dead weight."""
    for image in client.images.list(filters={"label": f"{SOURCE_LABEL}={source}"}):  # type: ignore[attr-defined]
        if tag not in (image.tags or []):
            with contextlib.suppress(Exception):  # in use by a running container: kept
                client.images.remove(image.id)  # type: ignore[attr-defined]


def _source_key(settings: Settings) -> str:
    """Which project and base image a snapshot belongs to (older ones are replaced)."""
    root = str(settings.project_root or Path.cwd())
    return hashlib.sha256(f"{root}\0{settings.postgres_image}".encode()).hexdigest()[:24]


def _seed_source(settings: Settings) -> bytes:
    """The seed module's source, so editing the seed makes a new snapshot."""
    module = (settings.seed or "").partition(":")[0]
    root = str(settings.project_root or Path.cwd())
    added = root not in sys.path
    if added:
        sys.path.insert(0, root)
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    finally:
        if added:
            sys.path.remove(root)
    origin = found.origin if found is not None else None
    if origin is None or not Path(origin).is_file():
        return b"?"  # loading it will fail with its own clear error
    return Path(origin).read_bytes()


@contextlib.contextmanager
def _build_lock(tag: str) -> Iterator[None]:
    """One builder at a time per snapshot on this host (xdist workers, parallel jobs)."""
    name = hashlib.sha256(tag.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"pytest-stability-snapshot-{name}.lock"
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

"""Build PostgreSQL and Redis images from Debian's packages, for runners that reach no registry.

A Debian root filesystem with postgresql-15 and redis-server is made by mmdebstrap and
imported as a base image; two small Dockerfiles on top give the service images.
testcontainers never pulls an image that exists locally, so pointing the configuration
at these tags is enough.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from stability.containers.engine import docker_client
from stability.exceptions import InfrastructureError

SUITE = "bookworm"
BASE_IMAGE = f"pytest-stability/debian-base:{SUITE}"
POSTGRES_IMAGE = f"pytest-stability/postgres:15-{SUITE}"
REDIS_IMAGE = f"pytest-stability/redis:7-{SUITE}"
PACKAGES = ["postgresql-15", "redis-server"]
# Bumped when the service images change: an image of another version is built again.
# 2: drop-in for the official images (initdb.d, local trust, host auth method, CMDs).
# 3: PGDATA from the environment (snapshots keep their data outside the volume path).
# 4: chown only what is not the server's (a snapshot's data starts without a copy-up).
IMAGE_VERSION = "4"
VERSION_LABEL = "dev.pytest-stability.image-version"
# Documentation and translations are dead weight in a test image.
_EXCLUDES = ["/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*"]


@dataclass(frozen=True)
class ImageResult:
    tag: str
    action: str  # "built", "rebuilt" or "present"
    seconds: float


def build_images(
    rebuild: bool = False,
    mirror: str | None = None,
    echo: Callable[[str], None] = print,
) -> list[ImageResult]:
    """Build the base, PostgreSQL and Redis images; skip those present unless `rebuild`."""
    import time

    client = docker_client()
    results = []

    def present(tag: str) -> bool:
        found = client.images.list(name=tag)
        if tag == BASE_IMAGE or not found:
            return bool(found)
        return (found[0].labels or {}).get(VERSION_LABEL) == IMAGE_VERSION  # else outdated

    steps: list[tuple[str, Callable[[], None]]] = [
        (BASE_IMAGE, lambda: _build_base(client, mirror, echo)),
        (POSTGRES_IMAGE, lambda: _build_service(client, "postgres", POSTGRES_IMAGE)),
        (REDIS_IMAGE, lambda: _build_service(client, "redis", REDIS_IMAGE)),
    ]
    # A rebuilt base must carry through to the service images built on it.
    rebuilding = rebuild
    for tag, build in steps:
        if present(tag) and not rebuilding:
            echo(f"present  {tag}")
            results.append(ImageResult(tag, "present", 0.0))
            continue
        existed = bool(client.images.list(name=tag))
        echo(f"building {tag} ...")
        started = time.perf_counter()
        build()
        seconds = time.perf_counter() - started
        echo(f"built    {tag} in {seconds:.1f} s")
        results.append(ImageResult(tag, "rebuilt" if existed else "built", seconds))
        rebuilding = True
    return results


def _build_base(client: object, mirror: str | None, echo: Callable[[str], None]) -> None:
    if shutil.which("mmdebstrap") is None:
        raise InfrastructureError(
            "mmdebstrap is not installed: run `apt-get install -y mmdebstrap` (as root) first"
        )
    with tempfile.TemporaryDirectory(prefix="stability-rootfs-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        command = [
            "mmdebstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            *[f"--dpkgopt=path-exclude={pattern}" for pattern in _EXCLUDES],
            SUITE,
            str(tarball),
            *([mirror] if mirror else []),
        ]
        echo("  " + " ".join(command))
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise InfrastructureError(f"mmdebstrap failed (exit {done.returncode}): {tail}")
        repository, tag = BASE_IMAGE.split(":")
        client.api.import_image_from_file(str(tarball), repository=repository, tag=tag)  # type: ignore[attr-defined]


def _build_service(client: object, service: str, tag: str) -> None:
    files = resources.files("stability.containers") / "dockerfiles"
    with tempfile.TemporaryDirectory(prefix=f"stability-{service}-") as tmp:
        for item in files.iterdir():
            (Path(tmp) / item.name).write_bytes(item.read_bytes())
        try:
            client.images.build(  # type: ignore[attr-defined]
                path=tmp,
                dockerfile=f"{service}.Dockerfile",
                tag=tag,
                buildargs={"BASE": BASE_IMAGE, "VERSION": IMAGE_VERSION},
                rm=True,
            )
        except Exception as exc:  # docker.errors.BuildError / APIError carry the reason
            raise InfrastructureError(f"building {tag} failed: {exc}") from None

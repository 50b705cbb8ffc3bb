"""`stability images ...`: local images for runners that reach no registry."""

from __future__ import annotations

import click

from stability.cli._options import json_option, print_json


@click.group()
def images() -> None:
    """Build PostgreSQL and Redis images from Debian's packages."""


@images.command("build")
@click.option("--rebuild", is_flag=True, help="Build again even where the image exists.")
@click.option("--mirror", default=None, help="Debian mirror URL for mmdebstrap.")
@json_option("the result")
def build(rebuild: bool, mirror: str | None, as_json: bool) -> None:
    """Build the images (idempotent: skips what exists unless --rebuild).

    Point the configuration at them afterwards, for example:

    \b
      export STABILITY_POSTGRES_IMAGE=pytest-stability/postgres:15-bookworm
      export STABILITY_REDIS_IMAGE=pytest-stability/redis:7-bookworm
    """
    from stability.containers.images import build_images

    echo = (lambda line: None) if as_json else click.echo
    results = build_images(rebuild=rebuild, mirror=mirror, echo=echo)
    if as_json:
        print_json(results)

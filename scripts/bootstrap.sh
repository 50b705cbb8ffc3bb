#!/usr/bin/env bash
# Shared set-up of the two README commands: a virtual environment with the package,
# a Docker engine, and the PostgreSQL/Redis images built from Debian's packages when
# the default images cannot be pulled. Safe to run again: each step skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {  # apt_install COMMAND PACKAGE...
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "bootstrap: '$1' is missing; install Debian's ${*:2} (needs root)" >&2
        return 1
    fi
    echo "bootstrap: installing ${*:2} ..."
    [ -n "${_APT_UPDATED:-}" ] || { apt-get update -qq; _APT_UPDATED=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${@:2}" >/dev/null
}

if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv"
    python3 -m venv .venv
fi
if ! .venv/bin/python -c "import stability, pytest, xdist" >/dev/null 2>&1 \
   || [ pyproject.toml -nt .venv/.installed ]; then
    echo "bootstrap: installing pytest-stability and its dev tools into .venv"
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e ".[dev]"
    touch .venv/.installed
fi
# An editable install leaves our modules uncompiled; where PYTHONDONTWRITEBYTECODE is set
# (as on our CI machines) every pytest process then compiled them again: a bare pytest
# run took 0.34-0.39 s instead of 0.28-0.31. Compile them once, as pip does for a regular
# install (files already compiled are skipped).
PYTHONDONTWRITEBYTECODE= .venv/bin/python -m compileall -q src >/dev/null

bash scripts/ensure-docker.sh

# Images: the official ones where a registry answers, else ones built from Debian's
# packages. The choice is written to .stability/images.env for the other scripts.
mkdir -p .stability
if [ -n "${STABILITY_POSTGRES_IMAGE:-}" ] && [ -n "${STABILITY_REDIS_IMAGE:-}" ]; then
    postgres_image=$STABILITY_POSTGRES_IMAGE
    redis_image=$STABILITY_REDIS_IMAGE
elif { docker image inspect postgres:16-alpine || docker pull -q postgres:16-alpine; } >/dev/null 2>&1 \
  && { docker image inspect redis:7-alpine || docker pull -q redis:7-alpine; } >/dev/null 2>&1; then
    postgres_image=postgres:16-alpine
    redis_image=redis:7-alpine
else
    echo "bootstrap: no registry answers; using images built from Debian's packages"
    if ! docker image inspect pytest-stability/postgres:15-bookworm >/dev/null 2>&1 \
       || ! docker image inspect pytest-stability/redis:7-bookworm >/dev/null 2>&1; then
        apt_install mmdebstrap mmdebstrap
    fi
    .venv/bin/stability images build
    postgres_image=pytest-stability/postgres:15-bookworm
    redis_image=pytest-stability/redis:7-bookworm
fi
printf 'export STABILITY_POSTGRES_IMAGE=%q\nexport STABILITY_REDIS_IMAGE=%q\n' \
    "$postgres_image" "$redis_image" > .stability/images.env
echo "bootstrap: images $postgres_image, $redis_image"

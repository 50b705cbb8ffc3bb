#!/usr/bin/env bash
# Make sure a Docker engine answers: install Debian's docker.io and start dockerd if
# needed (as root). When this script starts dockerd it writes its pid to
# .stability/dockerd.pid so the caller can stop what it started. Exits non-zero,
# with one line, when no engine can be had: container tests must fail, never skip.
set -euo pipefail
cd "$(dirname "$0")/.."

if docker info >/dev/null 2>&1; then
    exit 0
fi
if [ -n "${DOCKER_HOST:-}" ]; then
    echo "ensure-docker: DOCKER_HOST=$DOCKER_HOST does not answer" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "ensure-docker: no Docker engine answers and only root can start one here;" \
         "start dockerd (or set DOCKER_HOST) and try again" >&2
    exit 1
fi
if ! command -v dockerd >/dev/null 2>&1; then
    echo "ensure-docker: installing Debian's docker.io ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io >/dev/null
fi
mkdir -p .stability
echo "ensure-docker: starting dockerd (log: .stability/dockerd.log)"
nohup dockerd >.stability/dockerd.log 2>&1 &
echo $! > .stability/dockerd.pid
for _ in $(seq 1 120); do
    if docker info >/dev/null 2>&1; then
        echo "ensure-docker: engine ready"
        exit 0
    fi
    sleep 0.25
done
echo "ensure-docker: dockerd did not answer within 30 s; see .stability/dockerd.log" >&2
tail -5 .stability/dockerd.log >&2 || true
exit 1

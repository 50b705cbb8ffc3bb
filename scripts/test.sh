#!/usr/bin/env bash
# The test command: set up what the tests need (venv, Docker engine, images, Chromium),
# then run the whole suite against real containers. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# shellcheck source=/dev/null
source .stability/images.env
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        echo "test: installing Debian's chromium for the report's browser tests ..."
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "test: Debian's chromium is missing (the report's browser tests need it)" >&2
        exit 1
    fi
fi
set +e
# Two workers: the container tests spend most of their time waiting on Docker, so two
# at once on two cores keep the whole suite well inside ten minutes.
.venv/bin/python -m pytest -n 2 "$@"
status=$?
set -e
if [ "$status" = 5 ]; then
    echo "test: pytest collected no test: that is a failure" >&2
    exit 1
fi
exit "$status"

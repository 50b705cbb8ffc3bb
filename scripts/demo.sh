#!/usr/bin/env bash
# The main job: a stability campaign on the bundled example project (real PostgreSQL
# and Redis containers), then the HTML report at reports/index.html.
#   REPEAT=30 JOBS=2 bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/bootstrap.sh
# shellcheck source=/dev/null
source .stability/images.env
db="$root/.stability/demo.duckdb"
cd examples/shop
set +e
"$root/.venv/bin/stability" run tests --repeat "${REPEAT:-30}" --jobs "${JOBS:-2}" \
    --label demo --db "$db"
status=$?
set -e
# 1 means some executions failed: expected, the example has flaky tests on purpose.
if [ "$status" -ne 0 ] && [ "$status" -ne 1 ]; then
    echo "demo: stability run failed with exit code $status" >&2
    exit "$status"
fi
cd "$root"
.venv/bin/stability report --db "$db" --out reports
.venv/bin/stability report --db "$db" --format text
echo
echo "demo: open $root/reports/index.html"

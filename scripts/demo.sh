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
since=$(date -u +%Y-%m-%dT%H:%M:%S)
half=$(( (${REPEAT:-30} + 1) / 2 ))
check_status() {
    # 1 means some executions failed: expected, the example has flaky tests on purpose.
    if [ "$1" -ne 0 ] && [ "$1" -ne 1 ]; then
        echo "demo: stability $2 failed with exit code $1" >&2
        exit "$1"
    fi
}
# Half the repetitions in the declared order (what is flaky on its own), half shuffled
# with each test run twice per process (what depends on order or on its own state).
set +e
"$root/.venv/bin/stability" run tests --repeat "$half" --jobs "${JOBS:-2}" \
    --label demo --db "$db"
check_status $? run
"$root/.venv/bin/stability" run tests --repeat "$half" --jobs "${JOBS:-2}" \
    --shuffle --in-process 2 --label demo --db "$db"
check_status $? "run --shuffle"
# Name the polluter of the order-dependent victim (fresh containers for every probe).
"$root/.venv/bin/stability" diagnose tests/test_customers.py::test_only_the_seed_customer_exists \
    --db "$db"
diagnosed=$?
set -e
if [ "$diagnosed" -ne 0 ]; then
    echo "demo: no failing order to diagnose this time (the victim never ran after its polluter)"
fi
cd "$root"
# --pool-all: the declared and the shuffled campaign together, so a test that passes in
# one and fails in the other reads as flaky, with its cause.
.venv/bin/stability report --db "$db" --label demo --since "$since" --pool-all --out reports
.venv/bin/stability report --db "$db" --label demo --since "$since" --pool-all --format text
echo
echo "demo: open $root/reports/index.html"

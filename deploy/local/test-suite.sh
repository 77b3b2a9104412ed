#!/usr/bin/env bash
# The whole pytest suite on the running test stack (`make test` starts it first), in the least
# wall time two cores allow:
#   1. the e2e tests alone, on a quiet broker: their services start from the beginning of every
#      topic and would otherwise first chew through what the other tests published;
#   2. then two pytest runs side by side: the tests that spend most of their time waiting on
#      processes of their own (the hostile-conditions proofs with a three-broker cluster and a
#      scratch PostgreSQL, the benchmark smoke tests, the scale and crash tests that start
#      replicas and SIGKILL them, the broker ACL tests with a SASL broker of their own), and
#      everything else. Alone, each leaves a core mostly idle.
#      Neither stops or restarts the shared stack.
# Exit status: non-zero when any of the three runs failed. Extra arguments go to every run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

set -a
# shellcheck source=/dev/null
source .local/test/env
set +a
export KINERJA_STACK=test
# The slowest tests of each run are listed at its end: CI has a time budget, and this is where
# a test that grew shows first.
PYTEST=(.venv/bin/pytest --durations=25)
SIDE=(
  tests/resilience
  tests/bench_smoke
  tests/scale
  tests/security
  services/bkn_sync/tests/integration/test_crash.py
  libs/shared/tests/test_crash_safety.py
)
logs=.local/test/logs
mkdir -p "$logs"

e2e=0
"${PYTEST[@]}" -q "$@" tests/e2e || e2e=$?

# The side run's output is kept whole and shown after the main run's, not interleaved with it.
"${PYTEST[@]}" -q "$@" "${SIDE[@]}" >"$logs/pytest-side.log" 2>&1 &
side_pid=$!
stop_side() { kill -- "$side_pid" 2>/dev/null || true; }
trap stop_side INT TERM

main=0
"${PYTEST[@]}" -q "$@" --ignore=tests/e2e "${SIDE[@]/#/--ignore=}" || main=$?
side=0
wait "$side_pid" || side=$?

echo
echo "=== the side run: ${SIDE[*]} ==="
cat "$logs/pytest-side.log"
echo
echo "e2e: exit $e2e · main: exit $main · side: exit $side"
((e2e == 0 && main == 0 && side == 0))

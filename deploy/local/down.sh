#!/usr/bin/env bash
# Stops the stack ($KINERJA_STACK, default dev): services, simulator, Zipkin, Kafka (and the
# three-broker cluster of kafka-cluster.sh when it runs), PostgreSQL.
# Usage: down.sh [dev|test]   (the argument, when given, sets KINERJA_STACK). Bounded waits.
set -euo pipefail
if [[ -n "${1:-}" ]]; then
  KINERJA_STACK="$1"
fi
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
HERE="$KINERJA_ROOT/deploy/local"

# Services run in their own session (setsid): their whole process group gets the signal.
stop_app() {
  local name="$1" pidfile="$KINERJA_RUN_DIR/$1.pid" pid deadline target
  pid="$(kinerja_pid_alive "$pidfile")" || return 0
  target="$pid"
  [[ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" == "$pid" ]] && target="-$pid"
  kinerja_log "stopping $name (pid $pid)"
  kill -TERM -- "$target" 2>/dev/null || true
  deadline=$((SECONDS + 20))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      kinerja_log "$name did not stop within 20s: SIGKILL"
      kill -KILL -- "$target" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
      break
    fi
    sleep 0.2
  done
  rm -f "$pidfile"
}

names=(ekinerja-sim "${KINERJA_SERVICES[@]}")
for name in "${names[@]}"; do stop_app "$name" & done
wait
bash "$HERE/zipkin.sh" stop &
bash "$HERE/kafka.sh" stop &
# The resilience tests' three brokers, left running when a test session was cut short.
if compgen -G "$KINERJA_RUN_DIR/kafka-cluster/*.pid" >/dev/null; then
  bash "$HERE/kafka-cluster.sh" stop &
fi
wait
bash "$HERE/postgres.sh" stop
kinerja_log "stack '$KINERJA_STACK' stopped"

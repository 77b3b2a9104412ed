#!/usr/bin/env bash
# Starts the stack ($KINERJA_STACK, default dev):  up.sh [--check-ports] [infra|all]   (default: all)
#   --check-ports: only check that the ports are free (or ours) and exit 0/1
#   infra: .venv, PostgreSQL, Kafka, Zipkin (+ topics when kinerja-topics exists)
#   all:   infra + migrate and serve the five services, the delivery console + the e-Kinerja simulator
# Idempotent: only what is not running is started. Every port is checked before anything starts.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

CHECK_ONLY=0
if [[ "${1:-}" == --check-ports ]]; then
  CHECK_ONLY=1
  shift
fi
MODE="${1:-all}"
case "$MODE" in infra | all) ;; *) echo "usage: $0 [infra|all]" >&2; exit 2 ;; esac
HERE="$KINERJA_ROOT/deploy/local"
BIN="$KINERJA_VENV/bin"
T0=$SECONDS

# name|command|http port variable|OTEL service name
APPS=()
for svc in "${KINERJA_SERVICES[@]}"; do APPS+=("$svc|$svc|${svc^^}_HTTP_PORT|$svc"); done
kinerja_simulator_wanted && APPS+=("ekinerja-sim|ekinerja-sim|EKINERJA_SIM_HTTP_PORT|ekinerja-sim")

pg_owner() { [[ -f "$KINERJA_STATE_DIR/pg/data/postmaster.pid" ]] && head -n1 "$KINERJA_STATE_DIR/pg/data/postmaster.pid" || true; }
pid_of() { kinerja_pid_alive "$KINERJA_RUN_DIR/$1.pid" || true; }

# --- 1. every port this run needs, before starting anything ---------------------------------
check_ports() {
  local owner app name _cmd var
  if [[ "$KINERJA_PG_EXTERNAL" != 1 ]]; then
    owner="$(pg_owner)"
    [[ -n "$owner" ]] && ! kill -0 "$owner" 2>/dev/null && owner=""
    kinerja_check_port "$KINERJA_PG_PORT" KINERJA_PG_PORT "$owner"
  fi
  owner="$(pid_of kafka)"
  kinerja_check_port "$KINERJA_KAFKA_PORT" KINERJA_KAFKA_PORT "$owner"
  kinerja_check_port "$KINERJA_KAFKA_CONTROLLER_PORT" KINERJA_KAFKA_CONTROLLER_PORT "$owner"
  kinerja_check_port "$KINERJA_ZIPKIN_PORT" KINERJA_ZIPKIN_PORT "$(pid_of zipkin)"
  [[ "$MODE" == all ]] || return 0
  for app in "${APPS[@]}"; do
    IFS='|' read -r name _cmd var _ <<<"$app"
    kinerja_check_port "${!var}" "$var" "$(pid_of "$name")"
  done
}
if ((CHECK_ONLY)); then
  check_ports
  exit 0
fi
bash "$HERE/prereqs.sh"
check_ports

# --- 2. infra ---------------------------------------------------------------------------------
bash "$HERE/bootstrap.sh"

# PostgreSQL, Kafka and Zipkin start side by side; each waits (bounded) for its own readiness.
declare -A INFRA_PIDS=()
for part in postgres kafka zipkin; do
  bash "$HERE/$part.sh" start &
  INFRA_PIDS[$part]=$!
done
failed=()
for part in postgres kafka zipkin; do
  wait "${INFRA_PIDS[$part]}" || failed+=("$part")
done
((${#failed[@]} == 0)) || kinerja_die "could not start: ${failed[*]} (logs in $KINERJA_LOG_DIR)"
# postgres.sh may have fallen back from an external DSN to the project cluster.
set -a
source "$KINERJA_ENV_FILE"
set +a

if [[ -x "$BIN/kinerja-topics" ]]; then
  "$BIN/kinerja-topics" create >>"$KINERJA_LOG_DIR/topics.log" 2>&1 ||
    { tail -n 20 "$KINERJA_LOG_DIR/topics.log" >&2; kinerja_die "kinerja-topics create failed (see $KINERJA_LOG_DIR/topics.log)"; }
else
  kinerja_log "WARNING: $BIN/kinerja-topics not installed yet: topics not created"
fi

# --- 3. services ------------------------------------------------------------------------------
# The dev identity provider's keys must exist before a service reads its JWKS.
"$BIN/kinerja-dev-token" jwks-path >/dev/null
declare -A STATE=()
# A console script exists and the module it imports is there (entry points of packages still
# being written may point at a module that does not exist yet).
cmd_ready() {
  local script="$BIN/$1" module
  [[ -x "$script" ]] || return 1
  module="$(sed -n 's/^from \([A-Za-z0-9_.]*\) import .*/\1/p' "$script" | head -n1)"
  [[ -z "$module" ]] && return 0
  "$BIN/python" -c 'import importlib.util as u, sys; sys.exit(u.find_spec(sys.argv[1]) is None)' "$module" 2>/dev/null
}

healthy() { curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$1/healthz" 2>/dev/null; }

start_app() { # name cmd portvar otelname
  local name="$1" cmd="$2" var="$3" otel="$4" port pid log
  port="${!var}"
  log="$KINERJA_LOG_DIR/$name.log"
  if ! cmd_ready "$cmd"; then
    kinerja_log "WARNING: $BIN/$cmd (or the module it runs) does not exist yet: $name skipped"
    STATE[$name]="skipped (no $cmd command yet)"
    return 0
  fi
  if pid="$(kinerja_pid_alive "$KINERJA_RUN_DIR/$name.pid")"; then
    STATE[$name]="running (pid $pid)"
    return 0
  fi
  if [[ "$name" != ekinerja-sim ]]; then
    if ! (cd "$KINERJA_ROOT" && OTEL_SERVICE_NAME="$otel" "$BIN/$cmd" migrate) >>"$KINERJA_LOG_DIR/$name-migrate.log" 2>&1; then
      kinerja_log "ERROR: $cmd migrate failed; see $KINERJA_LOG_DIR/$name-migrate.log"
      tail -n 5 "$KINERJA_LOG_DIR/$name-migrate.log" >&2 || true
      STATE[$name]="FAILED (migrate)"
      return 0
    fi
  fi
  kinerja_log "starting $name on 127.0.0.1:$port (log $log)"
  (cd "$KINERJA_ROOT" && OTEL_SERVICE_NAME="$otel" exec setsid nohup "$BIN/$cmd" serve >>"$log" 2>&1 </dev/null) &
  pid=$!
  echo "$pid" >"$KINERJA_RUN_DIR/$name.pid"
  STATE[$name]="starting (pid $pid)"
}

wait_app() { # name portvar
  local name="$1" var="$2" pid deadline
  [[ "${STATE[$name]}" == starting* ]] || return 0
  pid="$(cat "$KINERJA_RUN_DIR/$name.pid")"
  deadline=$((SECONDS + 60))
  until healthy "${!var}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      STATE[$name]="FAILED (exited; see logs/$name.log)"
      rm -f "$KINERJA_RUN_DIR/$name.pid"
      tail -n 10 "$KINERJA_LOG_DIR/$name.log" >&2 || true
      return 0
    fi
    if ((SECONDS >= deadline)); then
      STATE[$name]="FAILED (no /healthz after 60s; pid $pid)"
      return 0
    fi
    sleep 0.3
  done
  STATE[$name]="running (pid $pid)"
}

if [[ "$MODE" == all ]]; then
  for app in "${APPS[@]}"; do
    IFS='|' read -r name cmd var otel <<<"$app"
    start_app "$name" "$cmd" "$var" "$otel"
  done
  for app in "${APPS[@]}"; do
    IFS='|' read -r name _cmd var _ <<<"$app"
    wait_app "$name" "$var"
  done
fi

# --- 4. what listens where --------------------------------------------------------------------
pg_where="127.0.0.1:$KINERJA_PG_PORT"
[[ "$KINERJA_PG_EXTERNAL" == 1 ]] && pg_where="external ($KINERJA_PG_HOST:$KINERJA_PG_CONNECT_PORT)"
{
  echo
  echo "Kinerja stack '$KINERJA_STACK' ($MODE) ready in $((SECONDS - T0))s; env: $KINERJA_ENV_FILE; logs: $KINERJA_LOG_DIR"
  printf '  %-14s %-44s %s\n' COMPONENT WHERE STATE
  printf '  %-14s %-44s %s\n' postgresql "$pg_where db=$KINERJA_PG_DB" "admin: $KINERJA_PG_ADMIN_DSN"
  printf '  %-14s %-44s %s\n' kafka "$KINERJA_KAFKA_BOOTSTRAP" "controller 127.0.0.1:$KINERJA_KAFKA_CONTROLLER_PORT"
  printf '  %-14s %-44s %s\n' zipkin "$KINERJA_ZIPKIN_URL/zipkin/" "spans: $OTEL_EXPORTER_ZIPKIN_ENDPOINT"
  kinerja_simulator_wanted ||
    printf '  %-14s %-44s %s\n' e-kinerja "$BKN_SYNC_EKINERJA_URL" "yours (BKN_SYNC_EKINERJA_URL): simulator not started"
  if [[ "$MODE" == all ]]; then
    for app in "${APPS[@]}"; do
      IFS='|' read -r name _cmd var _ <<<"$app"
      # The console is pages for people (log in at its root), the others APIs.
      hint="/docs"
      [[ "$name" == console ]] && hint="log in at /"
      printf '  %-14s %-44s %s\n' "$name" "http://127.0.0.1:${!var}  ($hint)" "${STATE[$name]}"
    done
  fi
  echo
} >&2

if [[ "$MODE" == all ]]; then
  for app in "${APPS[@]}"; do
    IFS='|' read -r name _ <<<"$app"
    [[ "${STATE[$name]}" != FAILED* ]] || kinerja_die "some services failed to start (see the table above)"
  done
fi

# shellcheck shell=bash
# Sourced by every deploy/local script (and usable by hand: `source deploy/local/env.sh`).
#
# KINERJA_STACK = dev (default) | test. Each stack has its own state dir .local/$KINERJA_STACK/
# and its own ports (test = dev + 1000), so both can run side by side. Any port can be changed
# by exporting its variable before calling a script. Downloads shared by both stacks live in
# .local/cache/.
#
# Exports the variables the Python settings read and writes them, as KEY=VALUE lines, to
# .local/$KINERJA_STACK/env for the test fixtures.

KINERJA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KINERJA_STACK="${KINERJA_STACK:-dev}"

# KINERJA_PORT_OFFSET (default 0) shifts every default port at once, e.g. for a second checkout
# on the same machine (.ci/run picks one when the usual ports are held by another checkout).
case "$KINERJA_STACK" in
  dev) _kinerja_off=$((0 + ${KINERJA_PORT_OFFSET:-0})) ;;
  test) _kinerja_off=$((1000 + ${KINERJA_PORT_OFFSET:-0})) ;;
  *)
    echo "env.sh: KINERJA_STACK must be 'dev' or 'test', not '$KINERJA_STACK'" >&2
    return 2 2>/dev/null || exit 2
    ;;
esac

KINERJA_SERVICES=(planning observation assessment predikat bkn_sync console)

# Everything env.sh derives. A value the user exported wins over the derived one: each derived
# value is recorded in _KINERJA_DERIVED_<VAR>, so a later sourcing can tell a value it set
# itself (derived again: it follows port and stack changes) from one the user set (kept).
_kinerja_derived_vars=(
  KINERJA_PG_PORT KINERJA_KAFKA_PORT KINERJA_KAFKA_CONTROLLER_PORT KINERJA_ZIPKIN_PORT
  PLANNING_HTTP_PORT OBSERVATION_HTTP_PORT ASSESSMENT_HTTP_PORT PREDIKAT_HTTP_PORT
  BKN_SYNC_HTTP_PORT CONSOLE_HTTP_PORT EKINERJA_SIM_HTTP_PORT
  PLANNING_DATABASE_URL OBSERVATION_DATABASE_URL ASSESSMENT_DATABASE_URL PREDIKAT_DATABASE_URL
  BKN_SYNC_DATABASE_URL CONSOLE_DATABASE_URL
  PLANNING_KAFKA_BOOTSTRAP OBSERVATION_KAFKA_BOOTSTRAP ASSESSMENT_KAFKA_BOOTSTRAP
  PREDIKAT_KAFKA_BOOTSTRAP BKN_SYNC_KAFKA_BOOTSTRAP CONSOLE_KAFKA_BOOTSTRAP
  PLANNING_JWT_JWKS_URL OBSERVATION_JWT_JWKS_URL ASSESSMENT_JWT_JWKS_URL PREDIKAT_JWT_JWKS_URL
  BKN_SYNC_JWT_JWKS_URL CONSOLE_JWT_JWKS_URL
  CONSOLE_PUBLIC_URL CONSOLE_BKN_SYNC_URL CONSOLE_ZIPKIN_URL CONSOLE_METRICS_URLS
  BKN_SYNC_EKINERJA_URL KINERJA_KAFKA_BOOTSTRAP KINERJA_KAFKA_SASL
  OTEL_TRACES_EXPORTER OTEL_EXPORTER_ZIPKIN_ENDPOINT KINERJA_ZIPKIN_URL
)

for _kinerja_var in "${KINERJA_SERVICES[@]^^}" KINERJA KINERJA_ROSTER; do
  for _kinerja_login in SECURITY_PROTOCOL SASL_USERNAME SASL_PASSWORD_FILE CA_FILE; do
    _kinerja_derived_vars+=("${_kinerja_var}_KAFKA_$_kinerja_login")
  done
done
unset _kinerja_var _kinerja_login

kinerja_user_set() { # VAR: set, and not to the value env.sh derived for it last time
  local mark="_KINERJA_DERIVED_$1"
  [[ -n "${!1:-}" && "${!1}" != "${!mark:-}" ]]
}

kinerja_default() { # VAR VALUE: VALUE unless the user set VAR
  kinerja_user_set "$1" && return 0
  printf -v "$1" '%s' "$2"
  printf -v "_KINERJA_DERIVED_$1" '%s' "$2"
  export "$1" "_KINERJA_DERIVED_$1"
}

# Values derived for another stack (e.g. `make test` from a shell that had sourced the dev
# stack) are dropped; the user's own are kept.
if [[ -n "${KINERJA_ENV_STACK:-}" && "$KINERJA_ENV_STACK" != "$KINERJA_STACK" ]]; then
  for _kinerja_var in "${_kinerja_derived_vars[@]}"; do
    kinerja_user_set "$_kinerja_var" || unset "$_kinerja_var"
  done
  unset _kinerja_var
  [[ "${KINERJA_PG_EXTERNAL:-0}" == 1 ]] || unset KINERJA_PG_ADMIN_DSN
  unset KINERJA_PG_EXTERNAL
fi

KINERJA_STATE_DIR="$KINERJA_ROOT/.local/$KINERJA_STACK"
KINERJA_CACHE_DIR="$KINERJA_ROOT/.local/cache"
KINERJA_LOG_DIR="$KINERJA_STATE_DIR/logs"
KINERJA_RUN_DIR="$KINERJA_STATE_DIR/run"
KINERJA_VENV="$KINERJA_ROOT/.venv"
KINERJA_ENV_FILE="$KINERJA_STATE_DIR/env"

# --- ports -------------------------------------------------------------------------------
kinerja_default KINERJA_PG_PORT "$((55432 + _kinerja_off))"
kinerja_default KINERJA_KAFKA_PORT "$((59092 + _kinerja_off))"
kinerja_default KINERJA_KAFKA_CONTROLLER_PORT "$((59093 + _kinerja_off))"
kinerja_default KINERJA_ZIPKIN_PORT "$((59411 + _kinerja_off))"
kinerja_default PLANNING_HTTP_PORT "$((58001 + _kinerja_off))"
kinerja_default OBSERVATION_HTTP_PORT "$((58002 + _kinerja_off))"
kinerja_default ASSESSMENT_HTTP_PORT "$((58003 + _kinerja_off))"
kinerja_default PREDIKAT_HTTP_PORT "$((58004 + _kinerja_off))"
kinerja_default BKN_SYNC_HTTP_PORT "$((58005 + _kinerja_off))"
kinerja_default CONSOLE_HTTP_PORT "$((58020 + _kinerja_off))"
kinerja_default EKINERJA_SIM_HTTP_PORT "$((58010 + _kinerja_off))"

# --- PostgreSQL ----------------------------------------------------------------------------
# Superuser of the project-owned cluster (TCP, scram). A KINERJA_PG_ADMIN_DSN set by the user
# before env.sh selects an existing server instead (postgres.sh falls back to the project
# cluster when it does not answer).
KINERJA_PG_SUPERUSER="${KINERJA_PG_SUPERUSER:-postgres}"
KINERJA_PG_SUPERPASS="${KINERJA_PG_SUPERPASS:-postgres}"
KINERJA_PG_DB=kinerja
KINERJA_PG_LOCAL_DSN="postgresql://$KINERJA_PG_SUPERUSER:$KINERJA_PG_SUPERPASS@127.0.0.1:$KINERJA_PG_PORT/postgres"
if [[ -z "${KINERJA_PG_EXTERNAL:-}" ]]; then
  if [[ -n "${KINERJA_PG_ADMIN_DSN:-}" && "$KINERJA_PG_ADMIN_DSN" != "$KINERJA_PG_LOCAL_DSN" ]]; then
    KINERJA_PG_EXTERNAL=1
  else
    KINERJA_PG_EXTERNAL=0
  fi
fi
[[ "$KINERJA_PG_EXTERNAL" == 1 ]] || KINERJA_PG_ADMIN_DSN="$KINERJA_PG_LOCAL_DSN"

kinerja_simulator_url() { echo "http://127.0.0.1:$EKINERJA_SIM_HTTP_PORT"; }

# The stack starts the e-Kinerja simulator only when bkn-sync is pointed at it, not when the
# user pointed BKN_SYNC_EKINERJA_URL elsewhere.
kinerja_simulator_wanted() { [[ "$BKN_SYNC_EKINERJA_URL" == "$(kinerja_simulator_url)" ]]; }

# Host and port the service roles connect to: the project cluster, or those of an external
# URL-style admin DSN (postgresql://user:pw@host:port/db).
kinerja_derive_env() {
  local host=127.0.0.1 port="$KINERJA_PG_PORT" svc prefix
  if [[ "$KINERJA_PG_EXTERNAL" == 1 ]]; then
    if [[ "$KINERJA_PG_ADMIN_DSN" =~ ^postgres(ql)?://[^@/]*@([^:/?]+)(:([0-9]+))?(/|$) ]]; then
      host="${BASH_REMATCH[2]}"
      port="${BASH_REMATCH[4]:-5432}"
    fi
  fi
  KINERJA_PG_HOST="$host"
  KINERJA_PG_CONNECT_PORT="$port"
  kinerja_default KINERJA_KAFKA_BOOTSTRAP "127.0.0.1:$KINERJA_KAFKA_PORT"
  KINERJA_DEV_IDP_DIR="$KINERJA_STATE_DIR/dev-idp"
  export KINERJA_DEV_IDP_DIR
  for svc in "${KINERJA_SERVICES[@]}"; do
    prefix="${svc^^}"
    kinerja_default "${prefix}_DATABASE_URL" "postgresql://$svc:$svc@$host:$port/$KINERJA_PG_DB"
    kinerja_default "${prefix}_KAFKA_BOOTSTRAP" "$KINERJA_KAFKA_BOOTSTRAP"
    # The services trust the stack's dev identity provider (kinerja-dev-token mints for it).
    kinerja_default "${prefix}_JWT_JWKS_URL" "file://$KINERJA_DEV_IDP_DIR/jwks.json"
    export "${prefix}_HTTP_PORT"
  done
  kinerja_derive_kafka_logins
  kinerja_default BKN_SYNC_EKINERJA_URL "$(kinerja_simulator_url)"
  kinerja_default OTEL_TRACES_EXPORTER zipkin
  kinerja_default KINERJA_ZIPKIN_URL "http://127.0.0.1:$KINERJA_ZIPKIN_PORT"
  kinerja_default OTEL_EXPORTER_ZIPKIN_ENDPOINT "$KINERJA_ZIPKIN_URL/api/v2/spans"
  # The console reads bkn-sync's API and every other service's /metrics (the API port locally:
  # no METRICS_PORT here), and sends browsers back to itself after the login.
  kinerja_default CONSOLE_PUBLIC_URL "http://127.0.0.1:$CONSOLE_HTTP_PORT"
  kinerja_default CONSOLE_BKN_SYNC_URL "http://127.0.0.1:$BKN_SYNC_HTTP_PORT"
  kinerja_default CONSOLE_ZIPKIN_URL "$KINERJA_ZIPKIN_URL"
  local metrics="" portvar
  for svc in "${KINERJA_SERVICES[@]}"; do
    [[ "$svc" == console ]] && continue
    portvar="${svc^^}_HTTP_PORT"
    metrics+="${metrics:+,}\"${svc//_/-}\":\"http://127.0.0.1:${!portvar}/metrics\""
  done
  # JSON: exported only, never written to the env file, which is read back with `source`
  # (its quotes would not survive).
  kinerja_default CONSOLE_METRICS_URLS "{$metrics}"
  export KINERJA_PG_ADMIN_DSN KINERJA_PG_EXTERNAL EKINERJA_SIM_HTTP_PORT BKN_SYNC_EKINERJA_URL \
    KINERJA_KAFKA_BOOTSTRAP OTEL_TRACES_EXPORTER OTEL_EXPORTER_ZIPKIN_ENDPOINT KINERJA_ZIPKIN_URL
}

# --- Kafka logins ------------------------------------------------------------------------
# KINERJA_KAFKA_SASL=1 (the dev stack's default) runs the broker with SCRAM-SHA-512 over TLS
# and ACLs (kafka.sh; docs/security.md §8.3), and every client logs in as its own principal:
# each service as itself, kinerja-topics as the stack's admin,
# kinerja-roster as roster-importer. The passwords stay in their files (made by kafka.sh, mode
# 0600); the variables name the files. 0 (the test stack's default for now: docs/security.md
# §8.4 says why) is the plain listener and no login.
kinerja_service_principal() { echo "${1//_/-}"; }

kinerja_kafka_login_vars() { # the variables of every login, one prefix a line
  local svc
  for svc in "${KINERJA_SERVICES[@]}"; do echo "${svc^^}_KAFKA_"; done
  echo KINERJA_KAFKA_
  echo KINERJA_ROSTER_KAFKA_
}

kinerja_derive_kafka_logins() {
  local default=0 dir prefix principal svc var
  [[ "$KINERJA_STACK" == dev ]] && default=1
  kinerja_default KINERJA_KAFKA_SASL "$default"
  dir="${KINERJA_KAFKA_SECURITY_DIR:-$KINERJA_STATE_DIR/kafka}"
  for prefix in $(kinerja_kafka_login_vars); do
    case "$prefix" in
      KINERJA_KAFKA_) principal=kinerja-admin ;;
      KINERJA_ROSTER_KAFKA_) principal=roster-importer ;;
      *)
        svc="${prefix%_KAFKA_}"
        principal="$(kinerja_service_principal "${svc,,}")"
        ;;
    esac
    if [[ "$KINERJA_KAFKA_SASL" == 1 ]]; then
      kinerja_default "${prefix}SECURITY_PROTOCOL" SASL_SSL
      kinerja_default "${prefix}SASL_USERNAME" "$principal"
      kinerja_default "${prefix}SASL_PASSWORD_FILE" "$dir/users/$principal"
      kinerja_default "${prefix}CA_FILE" "$dir/tls/ca.crt"
    else
      kinerja_default "${prefix}SECURITY_PROTOCOL" PLAINTEXT
      for var in SASL_USERNAME SASL_PASSWORD_FILE CA_FILE; do
        kinerja_user_set "$prefix$var" || unset "$prefix$var" "_KINERJA_DERIVED_$prefix$var"
      done
    fi
  done
}

# The variables the Python side reads, in the order they are written to the env file.
kinerja_python_vars() {
  local svc prefix
  echo KINERJA_STACK KINERJA_PG_ADMIN_DSN
  for svc in "${KINERJA_SERVICES[@]}"; do
    prefix="${svc^^}"
    echo "${prefix}_DATABASE_URL ${prefix}_KAFKA_BOOTSTRAP ${prefix}_HTTP_PORT ${prefix}_JWT_JWKS_URL"
  done
  echo EKINERJA_SIM_HTTP_PORT BKN_SYNC_EKINERJA_URL KINERJA_KAFKA_BOOTSTRAP KINERJA_DEV_IDP_DIR
  echo OTEL_TRACES_EXPORTER OTEL_EXPORTER_ZIPKIN_ENDPOINT KINERJA_ZIPKIN_URL
  echo KINERJA_KAFKA_SASL
  for prefix in $(kinerja_kafka_login_vars); do
    echo "${prefix}SECURITY_PROTOCOL"
    [[ "$KINERJA_KAFKA_SASL" == 1 ]] || continue
    echo "${prefix}SASL_USERNAME ${prefix}SASL_PASSWORD_FILE ${prefix}CA_FILE"
  done
}

# Writes .local/$KINERJA_STACK/env (atomically; only rewritten when its content changes).
kinerja_write_env_file() {
  local var tmp
  mkdir -p "$KINERJA_STATE_DIR"
  tmp="$(mktemp "$KINERJA_STATE_DIR/.env.XXXXXX")"
  for var in $(kinerja_python_vars); do
    printf '%s=%s\n' "$var" "${!var}"
  done >"$tmp"
  if [[ -f "$KINERJA_ENV_FILE" ]] && cmp -s "$tmp" "$KINERJA_ENV_FILE"; then
    rm -f "$tmp"
  else
    mv -f "$tmp" "$KINERJA_ENV_FILE"
  fi
}

kinerja_derive_env
export KINERJA_ROOT KINERJA_STACK KINERJA_STATE_DIR KINERJA_CACHE_DIR KINERJA_LOG_DIR \
  KINERJA_RUN_DIR KINERJA_VENV KINERJA_PG_PORT KINERJA_KAFKA_PORT KINERJA_KAFKA_CONTROLLER_PORT \
  KINERJA_ZIPKIN_PORT
KINERJA_ENV_STACK="$KINERJA_STACK"
export KINERJA_ENV_STACK
mkdir -p "$KINERJA_LOG_DIR" "$KINERJA_RUN_DIR"
kinerja_write_env_file
unset _kinerja_off

# --- helpers shared by the scripts --------------------------------------------------------
kinerja_log() { printf '[%s %s] %s\n' "$KINERJA_STACK" "$(date +%H:%M:%S)" "$*" >&2; }
kinerja_die() { printf '[%s] ERROR: %s\n' "$KINERJA_STACK" "$*" >&2; exit 1; }

# pid of a pid file if that process is alive, else nothing (and the stale file is removed).
kinerja_pid_alive() {
  local pidfile="$1" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    echo "$pid"
    return 0
  fi
  rm -f "$pidfile"
  return 1
}

# Is something listening on 127.0.0.1/any address at this TCP port?
kinerja_port_busy() {
  local port="$1"
  [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]]
}

# pids listening on a port (from ss -ltnp), space separated.
kinerja_port_pids() {
  ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u | tr '\n' ' '
}

# Fails with a clear message when a port is held by something else than `owner_pid` (or any of
# its descendants). Usage: kinerja_check_port PORT ENV_VAR [OWNER_PID]
kinerja_check_port() {
  local port="$1" var="$2" owner="${3:-}" pids p q ok
  kinerja_port_busy "$port" || return 0
  pids="$(kinerja_port_pids "$port")"
  if [[ -n "$owner" && -n "$pids" ]]; then
    ok=1
    for p in $pids; do
      q="$p"
      while [[ -n "$q" && "$q" != 0 && "$q" != 1 && "$q" != "$owner" ]]; do
        q="$(ps -o ppid= -p "$q" 2>/dev/null | tr -d ' ' || true)"
      done
      [[ "$q" == "$owner" ]] || ok=0
    done
    [[ "$ok" == 1 ]] && return 0
  fi
  {
    echo "[$KINERJA_STACK] ERROR: port $port is already in use by a process this stack did not start."
    echo "  Set $var to another port (e.g. '$var=$((port + 100)) KINERJA_STACK=$KINERJA_STACK ...'),"
    echo "  or stop what holds it:"
    ss -ltnp "sport = :$port" 2>/dev/null | sed 's/^/    /'
  } >&2
  exit 1
}

# Sends SIGTERM, waits up to `secs` for exit, then SIGKILL. Usage: kinerja_stop_pid PID NAME SECS
kinerja_stop_pid() {
  local pid="$1" name="$2" secs="${3:-30}" deadline
  kill -0 "$pid" 2>/dev/null || return 0
  kinerja_log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + secs))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      kinerja_log "$name did not stop within ${secs}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
      break
    fi
    sleep 0.2
  done
}

# Waits until a command succeeds, at most `secs` seconds. Usage: kinerja_wait SECS WHAT CMD...
kinerja_wait() {
  local secs="$1" what="$2" deadline
  shift 2
  deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      kinerja_log "$what not ready after ${secs}s"
      return 1
    fi
    sleep 0.3
  done
}

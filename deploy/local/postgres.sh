#!/usr/bin/env bash
# PostgreSQL for the stack: start | stop | status.
#
# If KINERJA_PG_ADMIN_DSN was set by the user and answers, that server is used (only the
# database, roles and schemas are created there). Otherwise a project-owned cluster lives in
# .local/$KINERJA_STACK/pg (owned by the OS user postgres), listens on 127.0.0.1:$KINERJA_PG_PORT
# and has its unix socket inside that folder. Superuser over TCP: postgres/postgres (scram).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# The server runs as the OS user postgres, which cannot enter a work tree under a folder only
# root may enter (root's home is 0700). Then the cluster lives under /var/lib/kinerja and
# .local/$STACK/pg is only a symlink to it for people; every path handed to the server (data,
# socket, log, password file) is the real one, never a path through the work tree.
PG_LINK="$KINERJA_STATE_DIR/pg"
PG_ALT_DIR="/var/lib/kinerja/$(echo -n "$KINERJA_ROOT" | sha256sum | cut -c1-12)/$KINERJA_STACK/pg"

pg_dir_for_server() {
  if [[ -L "$PG_LINK" ]]; then
    readlink -f "$PG_LINK"
  elif [[ -e "$PG_LINK" ]] || ! id -u postgres >/dev/null 2>&1; then
    echo "$PG_LINK"
  elif mkdir -p "$KINERJA_STATE_DIR" && runuser -u postgres -- test -x "$KINERJA_STATE_DIR"; then
    echo "$PG_LINK"
  else
    echo "$PG_ALT_DIR"
  fi
}

set_pg_paths() {
  PG_DIR="$(pg_dir_for_server)"
  PGDATA="$PG_DIR/data"
  PG_SOCK="$PG_DIR/sock"
  PG_LOG="$PG_DIR/postgres.log"
}
set_pg_paths

pg_bin_dir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
  [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]] && echo "$d"
}

ensure_pg_installed() {
  if [[ -z "$(pg_bin_dir)" ]]; then
    kinerja_log "PostgreSQL binaries missing: apt-get install postgresql"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  PG_BIN="$(pg_bin_dir)" || kinerja_die "no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
  id -u postgres >/dev/null 2>&1 || kinerja_die "the OS user 'postgres' does not exist"
}

# From / so that the server and initdb never start in a folder postgres cannot enter.
as_pg() { (cd / && runuser -u postgres -- "$@"); }

psql_admin() { # psql_admin DB [psql args...]
  local db="$1"
  shift
  "$PSQL" -X -q -v ON_ERROR_STOP=1 --no-psqlrc -d "$(dsn_with_db "$KINERJA_PG_ADMIN_DSN" "$db")" "$@"
}

# Replaces the database of a URL-style DSN (keyword-style DSNs get dbname= appended).
dsn_with_db() {
  local dsn="$1" db="$2"
  if [[ "$dsn" =~ ^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?$ ]]; then
    echo "${BASH_REMATCH[1]}/$db${BASH_REMATCH[4]}"
  else
    echo "$dsn dbname=$db"
  fi
}

admin_answers() { PGCONNECT_TIMEOUT=3 psql_admin postgres -tAc 'select 1' >/dev/null 2>&1; }

postmaster_pid() {
  [[ -f "$PGDATA/postmaster.pid" ]] || return 1
  local pid
  pid="$(head -n1 "$PGDATA/postmaster.pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

prepare_dir() {
  set_pg_paths
  if [[ "$PG_DIR" != "$PG_LINK" && ! -L "$PG_LINK" ]]; then
    kinerja_log "postgres cannot enter $KINERJA_STATE_DIR: cluster in $PG_DIR"
    # A cluster there without our link was left by an earlier checkout at this path: a new
    # checkout starts from an empty cluster, as it would with the cluster inside .local.
    if [[ -e "$PG_DIR" ]]; then
      kinerja_log "removing the cluster an earlier checkout at this path left in $PG_DIR"
      rm -rf "$PG_DIR"
    fi
    mkdir -p "$PG_DIR"
    ln -sfn "$PG_DIR" "$PG_LINK"
  fi
  mkdir -p "$PG_DIR" "$PG_SOCK"
  chown -R postgres:postgres "$PG_DIR/"
  chmod 700 "$PG_DIR/"
}

write_conf() {
  local conf="$PGDATA/kinerja.conf" tmp
  tmp="$(mktemp)"
  cat >"$tmp" <<EOF
# Written by deploy/local/postgres.sh on every start; edit the script, not this file.
listen_addresses = '127.0.0.1'
port = $KINERJA_PG_PORT
unix_socket_directories = '$PG_SOCK'
max_connections = 300
shared_buffers = 256MB
effective_cache_size = 1GB
work_mem = 8MB
maintenance_work_mem = 64MB
max_worker_processes = 4
max_parallel_workers = 2
max_parallel_workers_per_gather = 1
password_encryption = scram-sha-256
log_line_prefix = '%m [%p] %q%u@%d '
log_min_duration_statement = 1000
EOF
  if [[ "$KINERJA_STACK" == test ]]; then
    cat >>"$tmp" <<'EOF'
# test stack only: durability traded for speed
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  fi
  install -o postgres -g postgres -m 600 "$tmp" "$conf"
  rm -f "$tmp"
  grep -q "^include_if_exists = 'kinerja.conf'" "$PGDATA/postgresql.conf" ||
    echo "include_if_exists = 'kinerja.conf'" >>"$PGDATA/postgresql.conf"
}

init_cluster() {
  [[ -f "$PGDATA/PG_VERSION" ]] && return 0
  kinerja_log "initdb $PGDATA"
  local pw="$PG_DIR/.pwfile"
  printf '%s\n' "$KINERJA_PG_SUPERPASS" >"$pw"
  chown postgres:postgres "$pw"
  chmod 600 "$pw"
  as_pg "$PG_BIN/initdb" -D "$PGDATA" -U "$KINERJA_PG_SUPERUSER" --pwfile="$pw" \
    --auth-local=peer --auth-host=scram-sha-256 -E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 ||
    { cat "$PG_DIR/initdb.log" >&2; kinerja_die "initdb failed"; }
  rm -f "$pw"
}

# Database kinerja, one LOGIN role per service (password = role name) owning a schema of the
# same name, and no CREATE on public for PUBLIC. Idempotent.
provision() {
  psql_admin postgres <<'SQL'
SELECT 'CREATE DATABASE kinerja' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'kinerja')
\gexec
SQL
  local roles
  roles="$(printf "'%s'," "${KINERJA_SERVICES[@]}")"
  psql_admin "$KINERJA_PG_DB" <<SQL
DO \$\$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY[${roles%,}] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', r, r);
    ELSE
      EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', r, r);
    END IF;
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', r, r);
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE kinerja TO %I', r);
  END LOOP;
END
\$\$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
}

use_external() {
  [[ "$KINERJA_PG_EXTERNAL" == 1 ]] || return 1
  if admin_answers; then
    return 0
  fi
  kinerja_log "KINERJA_PG_ADMIN_DSN does not answer: using the project cluster on port $KINERJA_PG_PORT"
  KINERJA_PG_EXTERNAL=0
  KINERJA_PG_ADMIN_DSN="$KINERJA_PG_LOCAL_DSN"
  kinerja_derive_env
  kinerja_write_env_file
  return 1
}

cmd_start() {
  ensure_pg_installed
  PSQL="$PG_BIN/psql"
  if use_external; then
    kinerja_log "PostgreSQL: using external server from KINERJA_PG_ADMIN_DSN"
    provision
    return 0
  fi
  local pid
  if pid="$(postmaster_pid)"; then
    kinerja_check_port "$KINERJA_PG_PORT" KINERJA_PG_PORT "$pid"
    if ! "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$KINERJA_PG_PORT"; then
      kinerja_wait 60 "PostgreSQL" "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$KINERJA_PG_PORT" ||
        kinerja_die "PostgreSQL (pid $pid) does not answer on port $KINERJA_PG_PORT; see $PG_LOG"
    fi
    # Quick path: already provisioned by an earlier start.
    if [[ -f "$PG_DIR/.provisioned" ]] && admin_answers; then
      return 0
    fi
    provision
    touch "$PG_DIR/.provisioned"
    return 0
  fi
  kinerja_check_port "$KINERJA_PG_PORT" KINERJA_PG_PORT
  prepare_dir
  init_cluster
  write_conf
  rm -f "$PG_DIR/.provisioned"
  kinerja_log "starting PostgreSQL on 127.0.0.1:$KINERJA_PG_PORT"
  touch "$PG_LOG" && chown postgres:postgres "$PG_LOG"
  # pg_ctl -w waits (bounded by -t) until the server accepts connections.
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PG_LOG" -w -t 60 -s start ||
    { tail -n 30 "$PG_LOG" >&2; kinerja_die "PostgreSQL did not start; see $PG_LOG"; }
  kinerja_wait 30 "PostgreSQL" "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$KINERJA_PG_PORT" ||
    kinerja_die "PostgreSQL does not answer on port $KINERJA_PG_PORT; see $PG_LOG"
  provision
  touch "$PG_DIR/.provisioned"
}

cmd_stop() {
  local pid
  pid="$(postmaster_pid)" || { kinerja_log "PostgreSQL not running"; return 0; }
  PG_BIN="$(pg_bin_dir)" || { kinerja_stop_pid "$pid" PostgreSQL 60; return 0; }
  kinerja_log "stopping PostgreSQL (pid $pid)"
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 -s stop ||
    kinerja_stop_pid "$pid" PostgreSQL 10
}

cmd_status() {
  if [[ "$KINERJA_PG_EXTERNAL" == 1 ]]; then
    PG_BIN="$(pg_bin_dir)" || kinerja_die "psql not installed"
    PSQL="$PG_BIN/psql"
    if admin_answers; then echo "postgres: external server (KINERJA_PG_ADMIN_DSN) answers"; return 0; fi
    echo "postgres: external server (KINERJA_PG_ADMIN_DSN) does not answer"
    return 1
  fi
  local pid
  if pid="$(postmaster_pid)"; then
    echo "postgres: running (pid $pid) on 127.0.0.1:$KINERJA_PG_PORT, data $PGDATA"
  else
    echo "postgres: stopped"
    return 1
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

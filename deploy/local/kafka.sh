#!/usr/bin/env bash
# Apache Kafka 4 (KRaft, one combined broker+controller node) for the stack: start|stop|status.
# Jars come from Maven (deploy/local/kafka/pom.xml) into .local/cache/kafka-libs, shared by the
# stacks. Listens on 127.0.0.1:$KINERJA_KAFKA_PORT (controller $KINERJA_KAFKA_CONTROLLER_PORT).
#
# The same node can be one of several (deploy/local/kafka-cluster.sh sets these; unset, the
# node is the stack's single broker): KINERJA_KAFKA_NODE_NAME (state folder, pid and log name),
# KINERJA_KAFKA_NODE_ID, KINERJA_KAFKA_NODE_PORT, KINERJA_KAFKA_NODE_CONTROLLER_PORT,
# KINERJA_KAFKA_VOTERS (the static controller quorum, id@host:port,...),
# KINERJA_KAFKA_CLUSTER_ID_FILE (one id for every node), KINERJA_KAFKA_REPLICATION and
# KINERJA_KAFKA_MIN_ISR (of every topic and internal topic), KINERJA_KAFKA_HEAP (-Xmx),
# KINERJA_KAFKA_READY_SECONDS (how long a start waits for the node to answer, default 90).
# They are not env.sh's port variables on purpose: those would become the stack's bootstrap.
# KINERJA_KAFKA_NODE_DIR puts the node's state, pid file and logs in that folder instead (a
# private broker, e.g. tests/security; keep KINERJA_KAFKA_NODE_NAME a plain name then).
#
# KINERJA_KAFKA_SASL=1 (env.sh: the dev stack's default; 0, PLAINTEXT, the test stack's) makes the client
# listener SASL_SSL with SCRAM-SHA-512 and turns on the StandardAuthorizer: kafka-tls.sh makes
# the CA and the broker's keystore, kafka-users.sh a password per principal (and the admin,
# kinerja-admin) under KINERJA_KAFKA_SECURITY_DIR (default .local/$KINERJA_STACK/kafka, or the
# node folder), the users are created at storage format time (or with kafka-configs when added
# later), and every start applies kinerja_tools.kafka_acls (docs/security.md, "Kafka").
# Switching it on or off formats the storage anew.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

HERE="$KINERJA_ROOT/deploy/local/kafka"
LIBS="$KINERJA_CACHE_DIR/kafka-libs"
NAME="${KINERJA_KAFKA_NODE_NAME:-kafka}"
NODE_ID="${KINERJA_KAFKA_NODE_ID:-1}"
PORT="${KINERJA_KAFKA_NODE_PORT:-$KINERJA_KAFKA_PORT}"
PORT_VAR="KINERJA_KAFKA${KINERJA_KAFKA_NODE_PORT:+_NODE}_PORT"
CONTROLLER_PORT="${KINERJA_KAFKA_NODE_CONTROLLER_PORT:-$KINERJA_KAFKA_CONTROLLER_PORT}"
CONTROLLER_PORT_VAR="KINERJA_KAFKA${KINERJA_KAFKA_NODE_CONTROLLER_PORT:+_NODE}_CONTROLLER_PORT"
VOTERS="${KINERJA_KAFKA_VOTERS:-}"
REPLICATION="${KINERJA_KAFKA_REPLICATION:-1}"
MIN_ISR="${KINERJA_KAFKA_MIN_ISR:-1}"
KDIR="${KINERJA_KAFKA_NODE_DIR:-$KINERJA_STATE_DIR/$NAME}"
DATA="$KDIR/data"
CONF="$KDIR/server.properties"
CLUSTER_ID_FILE="${KINERJA_KAFKA_CLUSTER_ID_FILE:-$KDIR/cluster.id}"
NODE_LOG_DIR="$KINERJA_LOG_DIR"
PIDFILE="$KINERJA_RUN_DIR/$NAME.pid"
if [[ -n "${KINERJA_KAFKA_NODE_DIR:-}" ]]; then
  NODE_LOG_DIR="$KDIR/logs"
  PIDFILE="$KDIR/$NAME.pid"
  mkdir -p "$NODE_LOG_DIR"
fi
LOG="$NODE_LOG_DIR/$NAME.log"
PY="$(command -v python3)"
TOOL_OPTS=(-Djava.awt.headless=true "-Dlog4j2.configurationFile=$HERE/log4j2.xml"
  "-Dkafka.logs.dir=$NODE_LOG_DIR")
SASL="${KINERJA_KAFKA_SASL:-0}"
[[ "$SASL" == 0 || "$SASL" == 1 ]] || kinerja_die "KINERJA_KAFKA_SASL must be 0 or 1, not '$SASL'"
SECURITY_DIR="${KINERJA_KAFKA_SECURITY_DIR:-}"
if [[ -z "$SECURITY_DIR" ]]; then
  SECURITY_DIR="$KINERJA_STATE_DIR/kafka"
  [[ -z "${KINERJA_KAFKA_NODE_DIR:-}" ]] || SECURITY_DIR="$KDIR"
fi
ADMIN_USER=kinerja-admin
HEAP="${KINERJA_KAFKA_HEAP:-1g}"
JAVA_OPTS=("-Xms$([[ "$HEAP" == 1g ]] && echo 256m || echo "$HEAP")" "-Xmx$HEAP" -XX:+UseG1GC
  -XX:MaxGCPauseMillis=20 "${TOOL_OPTS[@]}")

ensure_java() {
  command -v java >/dev/null || {
    kinerja_log "java missing: apt-get install openjdk-17-jre-headless"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  }
}

ensure_mvn() {
  command -v mvn >/dev/null || {
    kinerja_log "mvn missing: apt-get install maven"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null
  }
}

# Jars into .local/cache/kafka-libs, fetched only when missing (or when the pom changed).
# Fetched into a temporary folder and renamed, so concurrent or interrupted runs never leave a
# half-filled folder behind.
ensure_libs() {
  local want tmp
  want="$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)"
  if [[ -f "$LIBS/.pom.sha256" && "$(cat "$LIBS/.pom.sha256")" == "$want" ]]; then
    return 0
  fi
  ensure_mvn
  mkdir -p "$KINERJA_CACHE_DIR"
  tmp="$(mktemp -d "$KINERJA_CACHE_DIR/.kafka-libs.XXXXXX")"
  kinerja_log "fetching Kafka jars with Maven into $LIBS"
  if ! mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies -DoutputDirectory="$tmp" \
    >"$KINERJA_LOG_DIR/kafka-mvn.log" 2>&1; then
    rm -rf "$tmp"
    tail -n 30 "$KINERJA_LOG_DIR/kafka-mvn.log" >&2
    kinerja_die "Maven could not fetch the Kafka jars (see $KINERJA_LOG_DIR/kafka-mvn.log)"
  fi
  echo "$want" >"$tmp/.pom.sha256"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
}

# The principals of kinerja_tools.kafka_acls and the admin, one a line.
sasl_users() {
  echo "$ADMIN_USER"
  "$KINERJA_VENV/bin/python" -m kinerja_tools.kafka_acls principals
}

# TLS material and a password per user, made once (SASL only).
ensure_security() {
  [[ "$SASL" == 1 ]] || return 0
  [[ -x "$KINERJA_VENV/bin/python" ]] || kinerja_die "KINERJA_KAFKA_SASL=1 needs $KINERJA_VENV"
  bash "$KINERJA_ROOT/deploy/local/kafka-tls.sh" "$SECURITY_DIR"
  # shellcheck disable=SC2046 # one word per user name
  bash "$KINERJA_ROOT/deploy/local/kafka-users.sh" "$SECURITY_DIR" $(sasl_users)
}

write_conf() {
  mkdir -p "$KDIR" "$DATA"
  local quorum="controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT"
  [[ -z "$VOTERS" ]] || quorum="controller.quorum.voters=$VOTERS"
  local mode=(-e '/^#sasl /d' -e "s|@CLIENT@|PLAINTEXT|g" -e "s|@CONTROLLER_PROTOCOL@|PLAINTEXT|g")
  if [[ "$SASL" == 1 ]]; then
    # Generated passwords are hex: nothing sed would read as syntax.
    mode=(-e 's|^#sasl ||' -e "s|@CLIENT@|SASL_SSL|g" -e "s|@CONTROLLER_PROTOCOL@|SSL|g"
      -e "s|@TLS_DIR@|$SECURITY_DIR/tls|g" -e "s|@ADMIN_USER@|$ADMIN_USER|g"
      -e "s|@ADMIN_PASSWORD@|$(cat "$SECURITY_DIR/users/$ADMIN_USER")|g"
      -e "s|@STORE_PASSWORD@|$(cat "$SECURITY_DIR/tls/store.password")|g")
  fi
  (
    umask 077 # it may hold the admin's and the keystore's passwords
    sed -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
      -e "s|@DATA_DIR@|$DATA|g" -e "s|@NODE_ID@|$NODE_ID|g" -e "s|@QUORUM@|$quorum|g" \
      -e "s|@REPLICATION@|$REPLICATION|g" -e "s|@MIN_ISR@|$MIN_ISR|g" "${mode[@]}" \
      "$HERE/server.properties.in" >"$CONF.tmp"
  )
  mv -f "$CONF.tmp" "$CONF"
}

# --add-scram arguments for every user (SASL only).
scram_args() {
  local name
  [[ "$SASL" == 1 ]] || return 0
  for name in $(sasl_users); do
    printf -- '--add-scram\nSCRAM-SHA-512=[name=%s,password=%s]\n' "$name" \
      "$(cat "$SECURITY_DIR/users/$name")"
  done
}

# The admin's client settings for Kafka's own tools (SASL only).
admin_client_conf() {
  local file="$SECURITY_DIR/admin-client.properties"
  (
    umask 077
    {
      echo "security.protocol=SASL_SSL"
      echo "sasl.mechanism=SCRAM-SHA-512"
      echo "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$ADMIN_USER\" password=\"$(cat "$SECURITY_DIR/users/$ADMIN_USER")\";"
      echo "ssl.truststore.type=PKCS12"
      echo "ssl.truststore.location=$SECURITY_DIR/tls/truststore.p12"
      echo "ssl.truststore.password=$(cat "$SECURITY_DIR/tls/store.password")"
    } >"$file"
  )
  echo "$file"
}

# Users added since the storage was formatted get their credential from kafka-configs; then
# the ACLs of kinerja_tools.kafka_acls are applied (SASL only; both are idempotent).
apply_security() {
  [[ "$SASL" == 1 ]] || return 0
  local name conf
  for name in $(sasl_users); do
    grep -qx "$name" "$KDIR/format.users" 2>/dev/null && continue
    conf="$(admin_client_conf)"
    java -cp "$LIBS/*" "${TOOL_OPTS[@]}" kafka.admin.ConfigCommand \
      --bootstrap-server "127.0.0.1:$PORT" --command-config "$conf" --alter --entity-type users \
      --entity-name "$name" --add-config \
      "SCRAM-SHA-512=[password=$(cat "$SECURITY_DIR/users/$name")]" \
      >>"$NODE_LOG_DIR/$NAME-users.log" 2>&1 ||
      kinerja_die "kafka-configs could not add the SCRAM user $name"
    echo "$name" >>"$KDIR/format.users"
  done
  "$KINERJA_VENV/bin/python" -m kinerja_tools.kafka_acls apply --bootstrap "127.0.0.1:$PORT" \
    --ca-file "$SECURITY_DIR/tls/ca.crt" --username "$ADMIN_USER" \
    --password-file "$SECURITY_DIR/users/$ADMIN_USER" >&2 ||
    kinerja_die "the Kafka ACLs could not be applied"
}

# Formats the log directory once; the cluster id is kept beside the data.
format_once() {
  local fmt_ports="$PORT $CONTROLLER_PORT${VOTERS:+ $VOTERS}"
  [[ "$SASL" == 0 ]] || fmt_ports+=" sasl"
  if [[ -f "$DATA/meta.properties" ]]; then
    # KRaft keeps the controller endpoint in its metadata log: a storage formatted for other
    # ports is formatted anew (a local broker's topics are disposable).
    [[ "$(cat "$KDIR/format.ports" 2>/dev/null)" == "$fmt_ports" ]] && return 0
    kinerja_log "Kafka ports or security changed since the storage was formatted: formatting it anew"
    rm -rf "$DATA"
    mkdir -p "$DATA"
  fi
  local id
  if ! grep -Eqx '[A-Za-z0-9_-]{22}' "$CLUSTER_ID_FILE" 2>/dev/null; then
    id="$(java -cp "$LIBS/*" "${TOOL_OPTS[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null |
      grep -Ex '[A-Za-z0-9_-]{22}' | tail -n1 || true)"
    [[ -n "$id" ]] || kinerja_die "kafka.tools.StorageTool random-uuid gave no cluster id"
    echo "$id" >"$CLUSTER_ID_FILE"
  fi
  kinerja_log "formatting $NAME storage (cluster id $(cat "$CLUSTER_ID_FILE"))"
  # One node is its own quorum; several share the static voters of their configuration.
  local quorum=(--standalone) scram=()
  [[ -z "$VOTERS" ]] || quorum=()
  mapfile -t scram < <(scram_args)
  local fmt_log="$NODE_LOG_DIR/$NAME-format.log"
  java -cp "$LIBS/*" "${TOOL_OPTS[@]}" kafka.tools.StorageTool format "${quorum[@]}" \
    "${scram[@]}" -t "$(cat "$CLUSTER_ID_FILE")" -c "$CONF" >"$fmt_log" 2>&1 ||
    { cat "$fmt_log" >&2; kinerja_die "Kafka storage format failed"; }
  echo "$fmt_ports" >"$KDIR/format.ports"
  if [[ "$SASL" == 1 ]]; then sasl_users >"$KDIR/format.users"; else rm -f "$KDIR/format.users"; fi
}

ready() {
  if [[ "$SASL" == 1 ]]; then
    # A SCRAM login over TLS as the admin, and a metadata answer.
    "$KINERJA_VENV/bin/python" -m kinerja_tools.kafka_acls apply --ready-only --timeout 2 \
      --bootstrap "127.0.0.1:$PORT" --ca-file "$SECURITY_DIR/tls/ca.crt" \
      --username "$ADMIN_USER" --password-file "$SECURITY_DIR/users/$ADMIN_USER" >/dev/null 2>&1
  else
    "$PY" "$HERE/ready.py" 127.0.0.1 "$PORT" 2
  fi
}

wait_ready() {
  local pid="$1" secs="${KINERJA_KAFKA_READY_SECONDS:-90}" deadline
  deadline=$((SECONDS + secs))
  until ready; do
    kill -0 "$pid" 2>/dev/null || { tail -n 40 "$LOG" >&2; kinerja_die "Kafka exited; see $LOG"; }
    ((SECONDS < deadline)) || { tail -n 40 "$LOG" >&2; kinerja_die "Kafka not ready after ${secs}s; see $LOG"; }
    sleep 0.3
  done
}

cmd_start() {
  local pid
  if pid="$(kinerja_pid_alive "$PIDFILE")"; then
    kinerja_check_port "$PORT" "$PORT_VAR" "$pid"
    kinerja_check_port "$CONTROLLER_PORT" "$CONTROLLER_PORT_VAR" "$pid"
    ready || wait_ready "$pid"
    apply_security
    return 0
  fi
  kinerja_check_port "$PORT" "$PORT_VAR"
  kinerja_check_port "$CONTROLLER_PORT" "$CONTROLLER_PORT_VAR"
  ensure_java
  ensure_libs
  ensure_security
  write_conf
  format_once
  kinerja_log "starting $NAME on 127.0.0.1:$PORT (log $LOG)"
  cd "$KDIR"
  nohup java "${JAVA_OPTS[@]}" -cp "$LIBS/*" kafka.Kafka "$CONF" >>"$LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"
  wait_ready "$pid"
  apply_security
}

cmd_stop() {
  local pid
  if pid="$(kinerja_pid_alive "$PIDFILE")"; then
    kinerja_stop_pid "$pid" "$NAME" 60
    rm -f "$PIDFILE"
  else
    kinerja_log "$NAME not running"
  fi
}

cmd_status() {
  local pid
  if pid="$(kinerja_pid_alive "$PIDFILE")"; then
    if ready; then
      echo "$NAME: running (pid $pid) on 127.0.0.1:$PORT"
    else
      echo "$NAME: process $pid alive but not answering on 127.0.0.1:$PORT"
      return 1
    fi
  else
    echo "$NAME: stopped"
    return 1
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

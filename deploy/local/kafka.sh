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
KDIR="$KINERJA_STATE_DIR/$NAME"
DATA="$KDIR/data"
CONF="$KDIR/server.properties"
CLUSTER_ID_FILE="${KINERJA_KAFKA_CLUSTER_ID_FILE:-$KDIR/cluster.id}"
PIDFILE="$KINERJA_RUN_DIR/$NAME.pid"
LOG="$KINERJA_LOG_DIR/$NAME.log"
PY="$(command -v python3)"
TOOL_OPTS=(-Djava.awt.headless=true "-Dlog4j2.configurationFile=$HERE/log4j2.xml"
  "-Dkafka.logs.dir=$KINERJA_LOG_DIR")
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

write_conf() {
  mkdir -p "$KDIR" "$DATA"
  local quorum="controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT"
  [[ -z "$VOTERS" ]] || quorum="controller.quorum.voters=$VOTERS"
  sed -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
    -e "s|@DATA_DIR@|$DATA|g" -e "s|@NODE_ID@|$NODE_ID|g" -e "s|@QUORUM@|$quorum|g" \
    -e "s|@REPLICATION@|$REPLICATION|g" -e "s|@MIN_ISR@|$MIN_ISR|g" \
    "$HERE/server.properties.in" >"$CONF.tmp"
  mv -f "$CONF.tmp" "$CONF"
}

# Formats the log directory once; the cluster id is kept beside the data.
format_once() {
  local fmt_ports="$PORT $CONTROLLER_PORT${VOTERS:+ $VOTERS}"
  if [[ -f "$DATA/meta.properties" ]]; then
    # KRaft keeps the controller endpoint in its metadata log: a storage formatted for other
    # ports is formatted anew (a local broker's topics are disposable).
    [[ "$(cat "$KDIR/format.ports" 2>/dev/null)" == "$fmt_ports" ]] && return 0
    kinerja_log "Kafka ports changed since the storage was formatted: formatting it anew"
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
  local quorum=(--standalone)
  [[ -z "$VOTERS" ]] || quorum=()
  java -cp "$LIBS/*" "${TOOL_OPTS[@]}" kafka.tools.StorageTool format "${quorum[@]}" \
    -t "$(cat "$CLUSTER_ID_FILE")" -c "$CONF" >"$KINERJA_LOG_DIR/$NAME-format.log" 2>&1 ||
    { cat "$KINERJA_LOG_DIR/$NAME-format.log" >&2; kinerja_die "Kafka storage format failed"; }
  echo "$fmt_ports" >"$KDIR/format.ports"
}

ready() { "$PY" "$HERE/ready.py" 127.0.0.1 "$PORT" 2; }

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
    return 0
  fi
  kinerja_check_port "$PORT" "$PORT_VAR"
  kinerja_check_port "$CONTROLLER_PORT" "$CONTROLLER_PORT_VAR"
  ensure_java
  ensure_libs
  write_conf
  format_once
  kinerja_log "starting $NAME on 127.0.0.1:$PORT (log $LOG)"
  cd "$KDIR"
  nohup java "${JAVA_OPTS[@]}" -cp "$LIBS/*" kafka.Kafka "$CONF" >>"$LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"
  wait_ready "$pid"
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

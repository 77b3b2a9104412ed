#!/usr/bin/env bash
# Apache Kafka 4 (KRaft, one combined broker+controller node) for the stack: start|stop|status.
# Jars come from Maven (deploy/local/kafka/pom.xml) into .local/cache/kafka-libs, shared by the
# stacks. Listens on 127.0.0.1:$KINERJA_KAFKA_PORT (controller $KINERJA_KAFKA_CONTROLLER_PORT).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

HERE="$KINERJA_ROOT/deploy/local/kafka"
LIBS="$KINERJA_CACHE_DIR/kafka-libs"
KDIR="$KINERJA_STATE_DIR/kafka"
DATA="$KDIR/data"
CONF="$KDIR/server.properties"
CLUSTER_ID_FILE="$KDIR/cluster.id"
PIDFILE="$KINERJA_RUN_DIR/kafka.pid"
LOG="$KINERJA_LOG_DIR/kafka.log"
PY="$(command -v python3)"
TOOL_OPTS=(-Djava.awt.headless=true "-Dlog4j2.configurationFile=$HERE/log4j2.xml"
  "-Dkafka.logs.dir=$KINERJA_LOG_DIR")
JAVA_OPTS=(-Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 "${TOOL_OPTS[@]}")

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
  sed -e "s|@PORT@|$KINERJA_KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KINERJA_KAFKA_CONTROLLER_PORT|g" \
    -e "s|@DATA_DIR@|$DATA|g" "$HERE/server.properties.in" >"$CONF.tmp"
  mv -f "$CONF.tmp" "$CONF"
}

# Formats the log directory once; the cluster id is kept beside the data.
format_once() {
  local fmt_ports="$KINERJA_KAFKA_PORT $KINERJA_KAFKA_CONTROLLER_PORT"
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
  kinerja_log "formatting Kafka storage (cluster id $(cat "$CLUSTER_ID_FILE"))"
  java -cp "$LIBS/*" "${TOOL_OPTS[@]}" kafka.tools.StorageTool format --standalone \
    -t "$(cat "$CLUSTER_ID_FILE")" -c "$CONF" >"$KINERJA_LOG_DIR/kafka-format.log" 2>&1 ||
    { cat "$KINERJA_LOG_DIR/kafka-format.log" >&2; kinerja_die "Kafka storage format failed"; }
  echo "$fmt_ports" >"$KDIR/format.ports"
}

ready() { "$PY" "$HERE/ready.py" 127.0.0.1 "$KINERJA_KAFKA_PORT" 2; }

wait_ready() {
  local pid="$1" deadline=$((SECONDS + 90))
  until ready; do
    kill -0 "$pid" 2>/dev/null || { tail -n 40 "$LOG" >&2; kinerja_die "Kafka exited; see $LOG"; }
    ((SECONDS < deadline)) || { tail -n 40 "$LOG" >&2; kinerja_die "Kafka not ready after 90s; see $LOG"; }
    sleep 0.3
  done
}

cmd_start() {
  local pid
  if pid="$(kinerja_pid_alive "$PIDFILE")"; then
    kinerja_check_port "$KINERJA_KAFKA_PORT" KINERJA_KAFKA_PORT "$pid"
    kinerja_check_port "$KINERJA_KAFKA_CONTROLLER_PORT" KINERJA_KAFKA_CONTROLLER_PORT "$pid"
    ready || wait_ready "$pid"
    return 0
  fi
  kinerja_check_port "$KINERJA_KAFKA_PORT" KINERJA_KAFKA_PORT
  kinerja_check_port "$KINERJA_KAFKA_CONTROLLER_PORT" KINERJA_KAFKA_CONTROLLER_PORT
  ensure_java
  ensure_libs
  write_conf
  format_once
  kinerja_log "starting Kafka on 127.0.0.1:$KINERJA_KAFKA_PORT (log $LOG)"
  cd "$KDIR"
  nohup java "${JAVA_OPTS[@]}" -cp "$LIBS/*" kafka.Kafka "$CONF" >>"$LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"
  wait_ready "$pid"
}

cmd_stop() {
  local pid
  if pid="$(kinerja_pid_alive "$PIDFILE")"; then
    kinerja_stop_pid "$pid" Kafka 60
    rm -f "$PIDFILE"
  else
    kinerja_log "Kafka not running"
  fi
}

cmd_status() {
  local pid
  if pid="$(kinerja_pid_alive "$PIDFILE")"; then
    if ready; then
      echo "kafka: running (pid $pid) on 127.0.0.1:$KINERJA_KAFKA_PORT"
    else
      echo "kafka: process $pid alive but not answering on 127.0.0.1:$KINERJA_KAFKA_PORT"
      return 1
    fi
  else
    echo "kafka: stopped"
    return 1
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Zipkin (trace viewer, in-memory storage) for the stack: start | stop | status.
# The exec jar comes from Maven into .local/cache/zipkin (shared by the stacks); it listens on
# 127.0.0.1:$KINERJA_ZIPKIN_PORT (UI at /zipkin/, spans at /api/v2/spans). Heap 256m.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

ZIPKIN_VERSION="${KINERJA_ZIPKIN_VERSION:-3.5.1}"
ZDIR="$KINERJA_CACHE_DIR/zipkin"
JAR="$ZDIR/zipkin-server-$ZIPKIN_VERSION-exec.jar"
PIDFILE="$KINERJA_RUN_DIR/zipkin.pid"
LOG="$KINERJA_LOG_DIR/zipkin.log"
URL="http://127.0.0.1:$KINERJA_ZIPKIN_PORT"

ensure_jar() {
  [[ -s "$JAR" ]] && return 0
  command -v mvn >/dev/null || {
    kinerja_log "mvn missing: apt-get install maven"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null
  }
  local tmp
  mkdir -p "$ZDIR"
  tmp="$(mktemp -d "$ZDIR/.fetch.XXXXXX")"
  kinerja_log "fetching zipkin-server $ZIPKIN_VERSION (exec jar) with Maven"
  if ! (cd "$tmp" && mvn -q -B dependency:copy \
    "-Dartifact=io.zipkin:zipkin-server:$ZIPKIN_VERSION:jar:exec" -DoutputDirectory="$tmp") \
    >"$KINERJA_LOG_DIR/zipkin-mvn.log" 2>&1; then
    rm -rf "$tmp"
    tail -n 30 "$KINERJA_LOG_DIR/zipkin-mvn.log" >&2
    kinerja_die "Maven could not fetch zipkin-server (see $KINERJA_LOG_DIR/zipkin-mvn.log)"
  fi
  mv -f "$tmp/$(basename "$JAR")" "$JAR"
  rm -rf "$tmp"
}

healthy() { curl -fsS -m 2 "$URL/health" 2>/dev/null | grep -q '"UP"'; }

wait_ready() {
  local pid="$1" deadline=$((SECONDS + 90))
  until healthy; do
    kill -0 "$pid" 2>/dev/null || { tail -n 40 "$LOG" >&2; kinerja_die "Zipkin exited; see $LOG"; }
    ((SECONDS < deadline)) || { tail -n 40 "$LOG" >&2; kinerja_die "Zipkin not healthy after 90s; see $LOG"; }
    sleep 0.3
  done
}

cmd_start() {
  local pid
  command -v curl >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
  }
  if pid="$(kinerja_pid_alive "$PIDFILE")"; then
    kinerja_check_port "$KINERJA_ZIPKIN_PORT" KINERJA_ZIPKIN_PORT "$pid"
    # Ours and alive: healthy, or (still starting) healthy soon; a hung one is restarted.
    if healthy || kinerja_wait 15 "Zipkin (pid $pid)" healthy; then
      return 0
    fi
    kinerja_log "Zipkin (pid $pid) alive but unhealthy: restarting it"
    kinerja_stop_pid "$pid" Zipkin 20
    rm -f "$PIDFILE"
  fi
  kinerja_check_port "$KINERJA_ZIPKIN_PORT" KINERJA_ZIPKIN_PORT
  ensure_jar
  kinerja_log "starting Zipkin on $URL (log $LOG)"
  # In-memory storage keeps the newest MEM_MAX_SPANS spans: 20000 fit a 256m heap with room to
  # spare (100000 ran out of heap under the test suite). A heap exhaustion ends the process
  # (ExitOnOutOfMemoryError) so the next start replaces it instead of finding it hung.
  STORAGE_TYPE=mem MEM_MAX_SPANS="${KINERJA_ZIPKIN_MAX_SPANS:-20000}" SELF_TRACING_ENABLED=false COLLECTOR_SCRIBE_ENABLED=false \
    nohup java -Xms64m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -jar "$JAR" \
    "--armeria.ports[0].port=$KINERJA_ZIPKIN_PORT" "--armeria.ports[0].ip=127.0.0.1" \
    "--armeria.ports[0].protocols[0]=http" "--server.port=$KINERJA_ZIPKIN_PORT" \
    >>"$LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"
  wait_ready "$pid"
}

cmd_stop() {
  local pid
  if pid="$(kinerja_pid_alive "$PIDFILE")"; then
    kinerja_stop_pid "$pid" Zipkin 30
    rm -f "$PIDFILE"
  else
    kinerja_log "Zipkin not running"
  fi
}

cmd_status() {
  local pid
  if pid="$(kinerja_pid_alive "$PIDFILE")" && healthy; then
    echo "zipkin: running (pid $pid) on $URL"
  else
    echo "zipkin: stopped"
    return 1
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Three KRaft nodes (each broker and controller) for the resilience tests and bench/chaos.py:
# replication factor 3 and min.insync.replicas 2 on every topic, so one node may be away while
# producers with acks=all go on. Each node is deploy/local/kafka.sh with the node variables set;
# the stack's own single broker is neither used nor touched.
#
#   kafka-cluster.sh start | stop | status        all three nodes
#   kafka-cluster.sh start-node N | stop-node N   one node (N = 1, 2, 3); stop is a SIGTERM
#   kafka-cluster.sh bootstrap                    prints host:port,host:port,host:port
#
# Ports: brokers on KINERJA_KAFKA_CLUSTER_PORT .. +2, controllers on +10 .. +12. The default,
# the stack's Kafka port - 30900 (29192 for the test stack), lies below the kernel's ephemeral
# range: a node restarted while clients reconnect would otherwise find its port taken by one
# of their outgoing connections. State in .local/$KINERJA_STACK/kafka-cluster/, logs in
# .local/$KINERJA_STACK/logs/kafka-cluster/node-N.log. KINERJA_KAFKA_CLUSTER_HEAP (default 384m) is each node's heap.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/env.sh"

NODES=(1 2 3)
BASE="${KINERJA_KAFKA_CLUSTER_PORT:-$((KINERJA_KAFKA_PORT - 30900))}"
CDIR="$KINERJA_STATE_DIR/kafka-cluster"
ID_FILE="$CDIR/cluster.id"

broker_port() { echo $((BASE + $1 - 1)); }
controller_port() { echo $((BASE + 10 + $1 - 1)); }

voters() {
  local n out=()
  for n in "${NODES[@]}"; do out+=("$n@127.0.0.1:$(controller_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}

bootstrap() {
  local n out=()
  for n in "${NODES[@]}"; do out+=("127.0.0.1:$(broker_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}

node() { # node N ACTION
  local n="$1"
  [[ "$n" =~ ^[123]$ ]] || kinerja_die "node must be 1, 2 or 3, not '$n'"
  KINERJA_KAFKA_NODE_NAME="kafka-cluster/node-$n" \
    KINERJA_KAFKA_NODE_ID="$n" \
    KINERJA_KAFKA_NODE_PORT="$(broker_port "$n")" \
    KINERJA_KAFKA_NODE_CONTROLLER_PORT="$(controller_port "$n")" \
    KINERJA_KAFKA_VOTERS="$(voters)" \
    KINERJA_KAFKA_CLUSTER_ID_FILE="$ID_FILE" \
    KINERJA_KAFKA_REPLICATION=3 \
    KINERJA_KAFKA_MIN_ISR=2 \
    KINERJA_KAFKA_HEAP="${KINERJA_KAFKA_CLUSTER_HEAP:-384m}" \
    KINERJA_KAFKA_READY_SECONDS="${KINERJA_KAFKA_READY_SECONDS:-300}" \
    bash "$HERE/kafka.sh" "$2"
}

# The nodes start together: none answers before a majority of the controllers has a leader.
all() { # all ACTION
  local n pids=() failed=0
  mkdir -p "$CDIR" "$KINERJA_RUN_DIR/kafka-cluster" "$KINERJA_LOG_DIR/kafka-cluster"
  if [[ "$1" == start ]] && ! grep -Eqx '[A-Za-z0-9_-]{22}' "$ID_FILE" 2>/dev/null; then
    # One id for all three, written before any node formats its storage.
    new_cluster_id >"$ID_FILE.tmp"
    mv -f "$ID_FILE.tmp" "$ID_FILE"
  fi
  for n in "${NODES[@]}"; do
    node "$n" "$1" &
    pids+=($!)
  done
  for n in "${pids[@]}"; do wait "$n" || failed=1; done
  return "$failed"
}

new_cluster_id() {
  local libs="$KINERJA_CACHE_DIR/kafka-libs"
  [[ -d "$libs" ]] || kinerja_die "no Kafka jars in $libs: run 'KINERJA_STACK=$KINERJA_STACK $HERE/up.sh infra' once"
  java -cp "$libs/*" -Djava.awt.headless=true "-Dlog4j2.configurationFile=$HERE/kafka/log4j2.xml" \
    kafka.tools.StorageTool random-uuid 2>/dev/null | grep -Ex '[A-Za-z0-9_-]{22}' | tail -n1
}

mkdir -p "$KINERJA_RUN_DIR/kafka-cluster" "$KINERJA_LOG_DIR/kafka-cluster"
case "${1:-}" in
  start | stop | status) all "$1" ;;
  start-node) node "${2:-}" start ;;
  stop-node) node "${2:-}" stop ;;
  bootstrap) bootstrap ;;
  *)
    echo "usage: $0 start|stop|status|bootstrap|start-node N|stop-node N" >&2
    exit 2
    ;;
esac

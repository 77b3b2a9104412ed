#!/usr/bin/env bash
# SCRAM-SHA-512 credentials of a local Kafka with KINERJA_KAFKA_SASL=1 (kafka.sh runs this):
#
#   kafka-users.sh DIR NAME...     writes DIR/users/NAME, a random password, for each NAME
#
# A password file is made once (mode 0600, the folder 0700, under .local/ which git ignores)
# and kept: the broker's metadata holds the credential made from it. kafka.sh passes the admin
# (kinerja-admin) and every principal of kinerja_tools.kafka_acls.
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: $0 DIR NAME..." >&2; exit 2; }
DIR="$1/users"
shift
umask 077
mkdir -p "$DIR"
chmod 700 "$DIR"
for name in "$@"; do
  [[ "$name" =~ ^[a-z][a-z0-9-]*$ ]] || { echo "kafka-users.sh: bad user name '$name'" >&2; exit 2; }
  if [[ ! -s "$DIR/$name" ]]; then
    openssl rand -hex 24 >"$DIR/$name.tmp"
    mv -f "$DIR/$name.tmp" "$DIR/$name"
  fi
  chmod 600 "$DIR/$name"
done

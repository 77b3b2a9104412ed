#!/usr/bin/env bash
# TLS material of a local Kafka with KINERJA_KAFKA_SASL=1 (deploy/local/kafka.sh runs this):
#
#   kafka-tls.sh [DIR]     DIR default: .local/$KINERJA_STACK/kafka; writes DIR/tls/
#
# A CA of its own (ca.crt, ca.key) and the broker's certificate (CN=kinerja-broker, SAN
# IP:127.0.0.1 and DNS:localhost; server and client use: the controller listener asks for it)
# in a PKCS12 keystore broker.p12, the CA in truststore.p12, their random password in
# store.password. Clients trust ca.crt. Made once; delete DIR/tls to make new ones. Everything
# is mode 0600 (the folder 0700) and lives under .local/, which git ignores.
set -euo pipefail
if [[ $# -ge 1 ]]; then
  BASE="$1"
else
  source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
  BASE="$KINERJA_STATE_DIR/kafka"
fi
DIR="$BASE/tls"
DAYS="${KINERJA_KAFKA_TLS_DAYS:-825}"
umask 077
mkdir -p "$DIR"
chmod 700 "$DIR"

if [[ -s "$DIR/broker.p12" && -s "$DIR/truststore.p12" && -s "$DIR/ca.crt" && -s "$DIR/store.password" ]]; then
  exit 0
fi
command -v openssl >/dev/null || { echo "kafka-tls.sh: openssl missing (apt-get install openssl)" >&2; exit 1; }
command -v keytool >/dev/null || { echo "kafka-tls.sh: keytool missing (a JDK/JRE)" >&2; exit 1; }

tmp="$(mktemp -d "$DIR/.new.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
openssl rand -hex 24 >"$tmp/store.password"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days "$DAYS" -subj "/CN=Kinerja local Kafka CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$tmp/ca.key" -out "$tmp/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -subj "/CN=kinerja-broker" \
  -keyout "$tmp/broker.key" -out "$tmp/broker.csr" 2>/dev/null
printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  >"$tmp/broker.ext"
openssl x509 -req -sha256 -days "$DAYS" -in "$tmp/broker.csr" -CA "$tmp/ca.crt" \
  -CAkey "$tmp/ca.key" -CAcreateserial -extfile "$tmp/broker.ext" -out "$tmp/broker.crt" 2>/dev/null
openssl pkcs12 -export -name kinerja-broker -in "$tmp/broker.crt" -inkey "$tmp/broker.key" \
  -certfile "$tmp/ca.crt" -passout "file:$tmp/store.password" -out "$tmp/broker.p12"
keytool -importcert -noprompt -alias kinerja-ca -file "$tmp/ca.crt" -storetype PKCS12 \
  -keystore "$tmp/truststore.p12" -storepass:file "$tmp/store.password" >/dev/null 2>&1
rm -f "$tmp/broker.csr" "$tmp/broker.ext" "$tmp/ca.srl" "$tmp/broker.key"
chmod 600 "$tmp"/*
mv -f "$tmp"/* "$DIR/"

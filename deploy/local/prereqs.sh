#!/usr/bin/env bash
# Installs (apt, one update) the machine tools the local stack needs when any is missing:
# python3 + venv, Java 17, Maven, PostgreSQL, curl, ss, runuser, make, and openssl when the
# stack's broker asks for logins over TLS (KINERJA_KAFKA_SASL=1, the dev stack's default:
# kafka-tls.sh makes its certificates). A no-op when all exist.
set -euo pipefail

need=()
command -v python3 >/dev/null || need+=(python3)
command -v python3 >/dev/null && python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
command -v curl >/dev/null || need+=(curl)
command -v ss >/dev/null || need+=(iproute2)
command -v runuser >/dev/null || need+=(util-linux)
command -v make >/dev/null || need+=(make)
command -v setsid >/dev/null || need+=(util-linux)
command -v ps >/dev/null || need+=(procps)
[[ "${KINERJA_KAFKA_SASL:-0}" == 0 ]] || command -v openssl >/dev/null || need+=(openssl)

((${#need[@]})) || exit 0
[[ "$(id -u)" == 0 ]] || { echo "prereqs.sh: missing ${need[*]}; run as root to install them" >&2; exit 1; }
echo "prereqs.sh: installing ${need[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

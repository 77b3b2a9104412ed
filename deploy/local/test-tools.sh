#!/usr/bin/env bash
# Installs the machine tools the test suite needs beyond the virtualenv, when any is missing:
# promtool, for tests/deploy/test_alert_rules.py, from Debian's `prometheus` package (bookworm
# ships 2.42: no Go toolchain, no build), and Debian's `chromium`, the browser Playwright drives
# in services/console/tests/browser, and `openssl`, with which deploy/local/kafka-tls.sh makes the
# TLS material of the SASL broker in tests/security. A no-op when all exist; `make test` runs it.
#
# The package also brings the Prometheus server and its service. Nothing here needs that
# service, so it is kept from starting (policy-rc.d, the mechanism invoke-rc.d and
# deb-systemd-invoke ask) and, under systemd, left disabled.
set -euo pipefail

need=()
command -v promtool >/dev/null || need+=(prometheus)
[[ -x /usr/bin/chromium ]] || need+=(chromium)
command -v openssl >/dev/null || need+=(openssl)

((${#need[@]})) || exit 0
[[ "$(id -u)" == 0 ]] || {
  echo "test-tools.sh: missing ${need[*]}; run as root to install them" >&2
  exit 1
}
echo "test-tools.sh: installing ${need[*]}" >&2

policy=/usr/sbin/policy-rc.d
if [[ ! -e "$policy" ]]; then
  # 101: "action not allowed"; removed again however the install ends.
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
if [[ -d /run/systemd/system ]]; then
  systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
command -v promtool >/dev/null || { echo "test-tools.sh: promtool still missing" >&2; exit 1; }
[[ -x /usr/bin/chromium ]] || { echo "test-tools.sh: chromium still missing" >&2; exit 1; }

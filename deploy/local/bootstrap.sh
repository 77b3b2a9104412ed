#!/usr/bin/env bash
# Creates .venv (machine's python3) if missing, installs uv into it and syncs requirements.lock.
# Skips the sync when a stamp shows requirements.lock (and the uv version) unchanged.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

UV_VERSION=0.13.9
LOCK="$KINERJA_ROOT/requirements.lock"
STAMP="$KINERJA_VENV/.kinerja-lock-stamp"
# The machine's certificate store, as apt and pip use it: a host behind a TLS-inspecting proxy
# trusts the proxy there, and uv's bundled roots alone would refuse the package index.
export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}"

if [[ ! -x "$KINERJA_VENV/bin/python" ]]; then
  command -v python3 >/dev/null || kinerja_die "python3 is not installed"
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    kinerja_log "python3 has no venv module: installing python3-venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  kinerja_log "creating $KINERJA_VENV"
  python3 -m venv "$KINERJA_VENV"
fi

if [[ "$("$KINERJA_VENV/bin/uv" --version 2>/dev/null || true)" != "uv $UV_VERSION"* ]]; then
  kinerja_log "installing uv $UV_VERSION into .venv"
  "$KINERJA_VENV/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION"
fi

# The workspace packages are installed editable: their entry points are written at install
# time, so a changed pyproject.toml (e.g. a new console script) also triggers a re-install.
want="$(cd "$KINERJA_ROOT" && cat requirements.lock libs/*/pyproject.toml services/*/pyproject.toml 2>/dev/null | sha256sum | cut -d' ' -f1) uv=$UV_VERSION"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  exit 0
fi
kinerja_log "syncing .venv with requirements.lock"
(cd "$KINERJA_ROOT" && "$KINERJA_VENV/bin/uv" pip sync -q --python "$KINERJA_VENV/bin/python" requirements.lock)
if [[ -f "$STAMP" ]]; then
  # Re-install the editable workspace packages so new entry points appear.
  mapfile -t editables < <(sed -n 's/^-e \(\.\/[^ ]*\).*/\1/p' "$LOCK")
  if ((${#editables[@]})); then
    (cd "$KINERJA_ROOT" && "$KINERJA_VENV/bin/uv" pip install -q --no-deps --reinstall \
      --python "$KINERJA_VENV/bin/python" "${editables[@]/#/-e}")
  fi
fi
echo "$want" >"$STAMP"

#!/usr/bin/env bash
# Build promtool from the Prometheus Go module into a git-ignored folder (idempotent).
#   deploy/prometheus/install-promtool.sh        -> prints the path of the promtool binary
# PROMTOOL_VERSION picks the Go module version (Prometheus v3.x is module v0.3xx.y).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VERSION="${PROMTOOL_VERSION:-v0.316.0}"
GOBIN_DIR="${PROMTOOL_GOBIN:-$ROOT/.local/cache/go-bin/promtool-$VERSION}"
BIN="$GOBIN_DIR/promtool"

if [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; then
    echo "$BIN"
    exit 0
fi

command -v go >/dev/null || { echo "install-promtool: 'go' is not on PATH" >&2; exit 1; }
mkdir -p "$GOBIN_DIR"
# A lock, so two test sessions starting at once do not build twice into one folder.
exec 9>"$GOBIN_DIR/.lock"
flock 9
if [[ ! -x "$BIN" ]]; then
    echo "install-promtool: building promtool $VERSION (several minutes on a small machine)" >&2
    start=$SECONDS
    GOBIN="$GOBIN_DIR" GOFLAGS=-mod=mod go install \
        "github.com/prometheus/prometheus/cmd/promtool@$VERSION" >&2
    echo "install-promtool: built in $((SECONDS - start))s" >&2
fi
echo "$BIN"

#!/usr/bin/env bash
# Vendors htmx's minified file into the console's static folder, with its licence as a header:
# the console serves it itself (no CDN at run time, the same bytes in every image). Needs npm;
# run it again with another VERSION to upgrade, and update SHA256 after reading the release.
set -euo pipefail
VERSION="${VERSION:-2.0.4}"
SHA256="${SHA256:-e209dda5c8235479f3166defc7750e1dbcd5a5c1808b7792fc2e6733768fb447}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$VERSION" >/dev/null && tar xzf "htmx.org-$VERSION.tgz")
echo "$SHA256  $work/package/dist/htmx.min.js" | sha256sum -c --quiet
{
  echo "/*! htmx $VERSION | Zero-Clause BSD (0BSD) | https://htmx.org | vendored by scripts/vendor-htmx.sh */"
  cat "$work/package/dist/htmx.min.js"
} >"$here/src/console/static/htmx.min.js"
echo "vendored htmx $VERSION into src/console/static/htmx.min.js"

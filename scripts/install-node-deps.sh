#!/usr/bin/env bash
# Installs the LogQL/TraceQL parsers (Grafana's published lezer grammars) that
# tests/test_querylang.py runs with node: `npm ci` in grafana/querylang from its lock file.
# Idempotent: does nothing when node_modules already matches package-lock.json.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/grafana/querylang"
stamp="$dir/node_modules/.installed-from-lock"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if ! command -v apt-get >/dev/null; then
    echo "install-node-deps: node and npm are needed (Node.js >= 18); install them and re-run" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install-node-deps: installing nodejs and npm from Debian"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "install-node-deps: npm ci in grafana/querylang"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
echo "$want" >"$stamp"

#!/usr/bin/env bash
# Installs the Node packages the tests run with node, each from its own lock file (`npm ci`):
#   grafana/querylang  LogQL/TraceQL/PromQL parsers (Grafana's and Prometheus' lezer grammars)
#   k8s/crds           prometheus-operator CRD schemas for the Kubernetes bundle
# Idempotent: does nothing for a folder whose node_modules already matches its package-lock.json.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

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

for dir in "$root/grafana/querylang" "$root/k8s/crds"; do
  stamp="$dir/node_modules/.installed-from-lock"
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    continue
  fi
  echo "install-node-deps: npm ci in ${dir#"$root"/}"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
done

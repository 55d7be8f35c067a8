#!/usr/bin/env bash
# Installs what the test suite needs beyond the virtualenv: Prometheus 2.42 / promtool,
# Alertmanager 0.25 / amtool and VictoriaMetrics 1.79 (victoria-metrics, vmalert) from Debian.
# Does nothing when they are already there.
set -euo pipefail

missing=()
for tool in prometheus promtool prometheus-alertmanager amtool victoria-metrics vmalert; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "install-deps: missing ${missing[*]} and apt-get is not available; install Prometheus, Alertmanager and VictoriaMetrics yourself" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install-deps: installing prometheus, prometheus-alertmanager and victoria-metrics from Debian (missing: ${missing[*]})"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager victoria-metrics >/dev/null
  # On a machine with systemd the packages start services on :9090, :9093 and :8428, the ports
  # the compose stack publishes; the tests start their own processes, so stop and disable those.
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    $sudo systemctl disable --now prometheus prometheus-alertmanager prometheus-node-exporter victoria-metrics 2>/dev/null || true
  fi
fi

#!/usr/bin/env bash
# `make check`: every static check of the Prometheus and Alertmanager configuration.
#
#   promtool check config   prometheus/prometheus.yml (and the rule files it loads)
#   promtool check rules    prometheus/rules/*.yml
#   promtool test rules     prometheus/tests/*.test.yml   (the alert scenario suite)
#   amtool check-config     alertmanager/alertmanager.yml (and its templates)
#   amtool config routes test: critical -> pager, warning -> ticket, no severity -> ticket
#
# Uses promtool/amtool from PATH when present, otherwise the images pinned in
# docker-compose.yml through docker. CHECK_WITH=docker forces the images (for example to run
# the same checks on the pinned Prometheus 3.x); CHECK_WITH=local forbids them.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${CHECK_WITH:-auto}"
image_of() {  # the image a compose service uses, e.g. prom/prometheus:v3.14.0
  grep -E "^[[:space:]]*image:[[:space:]]*$1:" docker-compose.yml | head -n1 | awk '{print $2}' | tr -d "\"'"
}

tool() {  # tool NAME IMAGE_REPO: a command line that runs NAME locally or in the pinned image
  local name="$1" repo="$2" image
  if [ "$mode" != docker ] && command -v "$name" >/dev/null; then
    echo "$name"
    return
  fi
  if [ "$mode" = local ]; then
    echo "check: $name not found and CHECK_WITH=local" >&2
    exit 1
  fi
  image="$(image_of "$repo")"
  if [ -z "$image" ]; then
    echo "check: no $repo image in docker-compose.yml" >&2
    exit 1
  fi
  if ! command -v docker >/dev/null; then
    echo "check: neither $name nor docker is available (install Prometheus/Alertmanager or docker)" >&2
    exit 1
  fi
  echo "docker run --rm -u $(id -u):$(id -g) -v $PWD:/repo:ro -w /repo --entrypoint /bin/$name $image"
}

PROMTOOL="$(tool promtool prom/prometheus)"
AMTOOL="$(tool amtool prom/alertmanager)"
echo "check: promtool = $PROMTOOL"
echo "check: amtool   = $AMTOOL"

step() { echo; echo "== $*"; }

step "promtool check config"
if [[ "$PROMTOOL" != docker* ]] && $PROMTOOL --version 2>&1 | grep -q "version 2\."; then
  # Prometheus 2.x rejects the block prometheus.yml marks "Prometheus 3 only": check the rest.
  copy="$(mktemp -d)"
  trap 'rm -rf "$copy"' EXIT
  cp -r prometheus "$copy/"
  sed -i '/^# BEGIN Prometheus 3 only/,/^# END Prometheus 3 only/d' "$copy/prometheus/prometheus.yml"
  echo "(Prometheus 2.x: without the Prometheus 3 only block)"
  $PROMTOOL check config "$copy/prometheus/prometheus.yml"
else
  $PROMTOOL check config prometheus/prometheus.yml
fi

step "promtool check rules"
$PROMTOOL check rules prometheus/rules/*.yml

step "promtool test rules (the tests run two at a time)"
# Run from prometheus/tests so that their rule_files (../rules/...) resolve in both modes.
failed=0
pids=()
for test_file in prometheus/tests/*.test.yml; do
  name="$(basename "$test_file")"
  (
    status=0
    if [[ "$PROMTOOL" == docker* ]]; then
      out="$(${PROMTOOL/-w \/repo/-w \/repo\/prometheus\/tests} test rules "$name" 2>&1)" || status=$?
    else
      out="$(cd prometheus/tests && $PROMTOOL test rules "$name" 2>&1)" || status=$?
    fi
    echo "$out"
    exit $status
  ) &
  pids+=($!)
  if [ ${#pids[@]} -ge 2 ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" -eq 0 ] || { echo "check: promtool test rules FAILED" >&2; exit 1; }

step "amtool check-config"
$AMTOOL check-config alertmanager/alertmanager.yml

step "amtool config routes test"
route() {  # route EXPECTED_RECEIVER LABEL=VALUE...
  local expected="$1"
  shift
  $AMTOOL config routes test --config.file=alertmanager/alertmanager.yml --verify.receivers="$expected" "$@" \
    2>/dev/null >/dev/null || { echo "check: route for $* is not $expected" >&2; exit 1; }
  echo "  $* -> $expected"
}
route pager severity=critical alertname=LLMDailyBudgetExceeded department=research
route pager severity=critical alertname=TargetDown job=llm-exporter
route ticket severity=warning alertname=LLMErrorRatioHigh model=gpt-4o
route ticket alertname=WithoutSeverity

echo
echo "check: all static checks passed"

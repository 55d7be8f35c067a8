# One entry point for people and CI. `make test` installs what it needs, then runs everything.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# pytest-xdist workers for `make test`: most live tests wait on Prometheus, not on the CPU
TEST_WORKERS ?= 4

.PHONY: help venv deps test lint run check bench bench-proxy bench-instrument bench-long footprint sizing adversarial smoke demo rules dashboards k8s clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(VENV)/.installed: exporter/pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e 'exporter[test]'
	touch $@

venv: $(VENV)/.installed ## create or reuse the virtualenv with the exporter and its test extras

deps: venv ## everything the suite needs: virtualenv, Debian's promtool/amtool, node parsers and CRD schemas
	scripts/install-deps.sh
	scripts/install-node-deps.sh

test: deps ## the whole suite (unit, rules, live Prometheus/Alertmanager end-to-end)
	$(PY) -m ruff check exporter tests bench scripts grafana prometheus k8s
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: venv ## ruff only
	$(PY) -m ruff check exporter tests bench scripts grafana prometheus k8s

run: venv ## the exporter in mock mode on http://127.0.0.1:9101, no containers (LLM_EXPORTER_LOG_LEVEL=debug: every call)
	$(VENV)/bin/llm-exporter --mode mock --objectives-file exporter/config/objectives.yaml

check: ## static checks: promtool/amtool (local, or the pinned images through docker)
	scripts/check.sh

bench: venv ## benchmarks; results go in docs/performance.md
	$(PY) bench/bench_recording.py

bench-proxy: venv ## proxy added latency vs direct and vs LiteLLM (installs litellm in its own venv)
	$(PY) bench/bench_proxy.py --install-litellm

bench-instrument: venv ## instrumented OpenAI client's cost per call vs OpenTelemetry openai-v2 and OpenLIT (peers in their own venvs)
	$(PY) bench/bench_instrument.py --install-peers

BENCH_LONG_ARGS ?=
bench-long: deps ## 30 days backfilled, every dashboard panel timed over 24 h, 7 d, 30 d (about two hours; docs/performance.md)
	$(PY) bench/bench_long_ranges.py $(BENCH_LONG_ARGS)

adversarial: deps ## the adversarial suite at full scale (~10 min); rewrites the figures in docs/reliability.md
	ADVERSARIAL_SCALE=full RELIABILITY_DOC=1 $(PY) -m pytest tests/adversarial -p no:cacheprovider

sizing: deps ## series, memory and disk of the metrics path for the mock fleet (~50 min); see docs/production.md
	$(PY) bench/sizing.py

footprint: venv ## packages and MB of each install of the package (core and every extra); see docs/install.md
	$(PY) scripts/footprint.py

rules: venv ## regenerate prometheus/rules/*.yml, promtool test headers and docs tables from prometheus/generator/
	$(PY) -m prometheus.generator

dashboards: venv ## regenerate grafana/dashboards/*.json from grafana/generator/
	$(PY) -m grafana.generator

K8S_ARGS ?=
k8s: venv ## render the Kubernetes bundle for kube-prometheus-stack into build/k8s (`kubectl apply -k build/k8s`)
	$(PY) -m k8s $(K8S_ARGS)

smoke: venv ## check a running compose stack through its components' APIs
	SMOKE_STACK=external $(PY) -m pytest tests/smoke -rs -p no:cacheprovider

demo: venv ## guided tour of the running stack (at most 9 min 35 s, time-compressed): what fires, where it lands
	$(PY) scripts/demo.py

clean:
	rm -rf $(VENV) .pytest_cache

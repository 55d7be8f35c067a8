"""Each bug found in public stacks of this kind (../shared/docs/lessons-from-peers.md) and the
test that would catch it here. The index below is the map; the checks not covered elsewhere live
in this file.

| Lesson | Caught by |
|---|---|
| ratio without aggregation (error/error = 1) | test_rules.py mutation tests; test_dashboards_live.py |
| histogram_quantile without _bucket/rate | test_counters_and_histograms_are_rated_in_every_query |
| daily budget on a cumulative counter | prometheus/tests/budget*.test.yml restart cases; test_rules.py |
| `_total` suffix missing in rules | test_rules.py::test_rules_use_only_contract_metrics_and_recorded_series |
| fixed thresholds below the steady state | test_alerts_e2e.py (normal: no alert); test_scenarios.py |
| error ratio without a traffic gate | prometheus/tests/errors.test.yml idle cases; test_rules.py |
| hand-rolled histogram out of order / +Inf twice | test_exposition.py::test_histogram_invariants |
| per-model fixed shares instead of calls | test_scenarios.py: every signal comes from recorded calls |
| datasource without fixed uid | test_stack_config.py uid tests; test_dashboards.py |
| no datasource provisioning | test_stack_config.py datasource tests |
| raw cumulative counters plotted as "rate" | test_counters_and_histograms_are_rated_in_every_query |
| Angular `graph` panels | test_dashboards.py::test_only_current_panel_types |
| README tables not matching rules/panels | test_readme.py |
| rules file never mounted | test_shipped_rules_load_from_the_mounted_config_directory |
| unpinned `latest` images | test_stack_config.py::test_image_pinned_to_exact_version |
| CI that only runs compose config | .github/workflows/ci.yml runs make test and a live smoke test |
"""

from __future__ import annotations

import json
import re

import requests
import yaml

from llm_exporter import contract
from prometheus import generator
from tests.support import dashboards as ds
from tests.support import promql
from tests.support.processes import REPO, run_prometheus_config_dir, wait_for

COUNTERS = [m.exposed_name for m in contract.ALL_METRICS if m.kind == "counter"]
HISTOGRAMS = [m.name for m in contract.ALL_METRICS if m.kind == "histogram"]


def rule_exprs() -> dict[str, str]:
    return {rule.name: rule.expr for group in generator.groups() for rule in group.rules}


def dashboard_exprs() -> dict[str, str]:
    exprs = {}
    for path in sorted((REPO / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for index, target in enumerate(panel.get("targets", [])):
                if target.get("expr") and target.get("datasource", {}).get("type", "prometheus") == "prometheus":
                    exprs[f"{path.stem}:{panel['title']}#{index}"] = target["expr"]
    return exprs


def derived_counters() -> list[str]:
    """Recording rules named `...:total` are counters built from counters (for example calls over
    $1 = +Inf bucket minus the le=1 bucket): they may use raw counters, and must be rated in turn."""
    return [name for name in rule_exprs() if name.endswith(":total")]


def unrated(expr: str) -> list[str]:
    """Counter and histogram-bucket selectors not passed straight to rate()/increase()/irate()."""
    counters = {*COUNTERS, *(h + "_bucket" for h in HISTOGRAMS), *derived_counters()}
    parsed = promql.analysis(ds.parsable(expr))
    return sorted({s.name for s in parsed.selectors if s.name in counters and not (s.rated or s.never_read)})


def test_counters_and_histograms_are_rated_in_every_query() -> None:
    everything = {**rule_exprs(), **dashboard_exprs()}
    assert len(everything) > 100
    promql.analyse(ds.parsable(expr) for expr in everything.values())  # parsed in one run of the grammar
    offenders = {where: unrated(expr) for where, expr in everything.items()
                 if unrated(expr) and not where.endswith(":total")}
    assert not offenders, offenders


def test_the_rated_check_catches_the_peer_bugs() -> None:
    assert unrated("sum(llm_cost_usd_total) > 100") == ["llm_cost_usd_total"]
    assert unrated("histogram_quantile(0.95, llm_request_duration_seconds_bucket)") == [
        "llm_request_duration_seconds_bucket"]
    assert unrated("sum by (le) (rate(llm_request_duration_seconds_bucket{model=~\"a\"}[5m]))") == []
    # Pinned at the Unix epoch a selector returns nothing (an exemplar term); at any other time it
    # is a counter read raw.
    assert unrated("sum(x) or (llm_request_duration_seconds_bucket @ 0)") == []
    assert unrated("llm_request_duration_seconds_bucket @ 1700000000") == ["llm_request_duration_seconds_bucket"]


def test_shipped_rules_load_from_the_mounted_config_directory() -> None:
    """The unmodified prometheus/ directory, as compose mounts it at /etc/prometheus, loads every
    rule group of every file in prometheus/rules/ (a rules file that is not referenced would
    load nothing, silently)."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    service = compose["services"]["prometheus"]
    assert "./prometheus:/etc/prometheus:ro" in service["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in service["command"]
    shipped = {group.name for group in generator.groups()}
    assert shipped
    with run_prometheus_config_dir(REPO / "prometheus") as prometheus:
        def loaded() -> set[str]:
            groups = requests.get(prometheus.url + "/api/v1/rules", timeout=5).json()["data"]["groups"]
            return {group["name"] for group in groups}

        wait_for(lambda: loaded() >= shipped, timeout=30, what="every shipped rule group loaded")


def test_docs_name_only_contract_metrics_or_recording_rules() -> None:
    series = set()
    for spec in contract.ALL_METRICS:
        series.add(spec.exposed_name)
        if spec.kind == "histogram":
            series |= {spec.name, f"{spec.name}_bucket", f"{spec.name}_sum", f"{spec.name}_count"}
    records = {record.name for record in generator.records()}
    not_metrics = {"llm_exporter", "llm_call"}  # the Python package and the call log's event name
    documents = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    unknown = {}
    for path in documents:
        for name in set(re.findall(r"\bllm_[a-z_]+[a-z]\b", path.read_text())):
            if name not in series | not_metrics and not any(name in r for r in records):
                unknown.setdefault(path.name, []).append(name)
    assert not unknown, unknown



def test_profile_target_examples_point_at_the_profile_services() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    for service in ("proxy", "gpu-exporter"):
        example = REPO / "prometheus" / "targets" / f"{service}.yml.example"
        (entry,) = yaml.safe_load(example.read_text())
        assert entry["targets"] == [f"{service}:9101"]
        assert service in compose["services"] and compose["services"][service]["profiles"]

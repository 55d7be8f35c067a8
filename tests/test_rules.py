"""Prometheus configuration and rules: promtool checks, the promtool unit-test suite
(prometheus/tests/*.test.yml), and the conventions every alert must follow.

Each check can fail: the mutation tests at the end break a rule the way public stacks get it
wrong and prove that the unit tests notice.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e_support import alerting

REPO = Path(__file__).resolve().parents[1]
PROM = REPO / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
TEST_FILES = sorted((PROM / "tests").glob("*.test.yml"))
RUNBOOK_BASE = "https://github.com/llm-observability/llm-observability/blob/main/docs/runbooks.md#"
DASHBOARD_UIDS = {"llm-overview", "llm-latency", "llm-cost", "llm-errors", "llm-gpu", "llm-slo", "llm-logs-traces"}
GRAFANA_PREFIX = '{{ or $externalLabels.grafana_url "http://localhost:3000" }}/d/'
# Functions that exist only in Prometheus 3.x (or were removed from it): the rules must run on both.
NOT_ON_BOTH = ("holt_winters", "double_exponential_smoothing", "info(", "sort_by_label", "limitk", "limit_ratio",
               "mad_over_time", "ts_of_", "first_over_time", "histogram_count", "histogram_sum",
               "histogram_fraction", "histogram_avg", "histogram_stddev", "histogram_stdvar")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: run `make deps`")
    return path


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=240)


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def rules() -> list[dict[str, Any]]:
    return [rule for path in RULE_FILES for group in load(path)["groups"] for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def alert_names() -> list[str]:
    return [rule["alert"] for rule in alerts()]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def contract_metrics() -> set[str]:
    """Metric names of docs/metrics.md (counters with _total, histograms with their series)."""
    text = (REPO / "docs" / "metrics.md").read_text()
    names = set(re.findall(r"\bllm_[a-z0-9_]+", text))
    for name in list(names):
        names |= {name + suffix for suffix in ("_bucket", "_sum", "_count", "_total")}
    return names


# --------------------------------------------------------------------------- promtool

def test_promtool_check_config_loads_every_rule_file() -> None:
    result = run(promtool(), "check", "config", "prometheus/prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    for path in RULE_FILES:
        assert f"Checking prometheus/rules/{path.name}" in result.stdout, result.stdout


def test_promtool_check_rules() -> None:
    result = run(promtool(), "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_promtool_rule_unit_tests(test_file: Path) -> None:
    result = run(promtool(), "test", "rules", test_file.name, cwd=test_file.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


# --------------------------------------------------------------------------- prometheus.yml

def test_prometheus_config_shape() -> None:
    config = load(PROM / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["llm-exporter"]["static_configs"] == [{"targets": ["exporter:9101"]}]
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["localhost:9090"]}]
    assert jobs["alertmanager"]["static_configs"] == [{"targets": ["alertmanager:9093"]}]
    file_sd = [sd for job in jobs.values() for sd in job.get("file_sd_configs", [])]
    assert file_sd and file_sd[0]["files"] == ["targets/*.yml"]
    assert config["rule_files"] == ["rules/*.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"] == [{"targets": ["alertmanager:9093"]}]


def test_target_example_is_not_loaded_but_is_valid_once_copied(tmp_path: Path) -> None:
    example = PROM / "targets" / "my-service.yml.example"
    assert example.is_file()
    # Copied as the README says, the example is a valid file_sd file with a target and its own job.
    groups = yaml.safe_load(example.read_text())
    assert groups[0]["targets"] and groups[0]["labels"]["job"]
    config = load(PROM / "prometheus.yml")
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets" / "my-service.yml").write_text(yaml.safe_dump(groups))
    config["rule_files"] = []
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = run(promtool(), "check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0 and "WARNING" not in result.stdout, result.stdout + result.stderr


# --------------------------------------------------------------------------- conventions

def test_rule_groups_are_uniquely_named() -> None:
    names = [group["name"] for path in RULE_FILES for group in load(path)["groups"]]
    assert len(names) == len(set(names)), names


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_alert_conventions(rule: dict[str, Any]) -> None:
    assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
    labels, annotations = rule.get("labels", {}), rule.get("annotations", {})
    assert labels.get("severity") in {"critical", "warning"}
    assert set(annotations) == {"summary", "description", "runbook_url", "dashboard_url"}
    assert "$value" in annotations["description"], "the description must state the measured value"
    assert annotations["runbook_url"] == RUNBOOK_BASE + rule["alert"].lower()
    assert annotations["dashboard_url"].startswith(GRAFANA_PREFIX)
    assert annotations["dashboard_url"][len(GRAFANA_PREFIX):] in DASHBOARD_UIDS


def test_warning_critical_twins_share_a_family_and_labels() -> None:
    families: dict[str, list[dict[str, Any]]] = {}
    for rule in alerts():
        if "alert_family" in rule.get("labels", {}):
            families.setdefault(rule["labels"]["alert_family"], []).append(rule)
    assert families, "no warning/critical twins"
    for family, members in families.items():
        assert sorted(r["labels"]["severity"] for r in members) == ["critical", "warning"], family
        # Same aggregation, so that the inhibit rule's `equal` labels match.
        by_clauses = {tuple(re.findall(r"(?:by|on) \(([^)]*)\)", r["expr"])) for r in members}
        level = {re.match(r"\s*\(?\s*([a-z_]+):", r["expr"]).group(1) for r in members}
        assert len(by_clauses) == 1 and len(level) == 1, family


def test_rules_use_only_contract_metrics_and_recorded_series() -> None:
    known = contract_metrics() | recorded_names() | {"up", "alertmanager_notifications_failed_total"}
    unknown = set()
    for rule in rules():
        expr = re.sub(r'"[^"]*"', '""', rule["expr"])  # drop label values
        for name in re.findall(r"\b(?:[a-z_]+:[a-z0-9_]+:[a-z0-9_]+|llm:[a-z0-9_]+|llm_[a-z0-9_]+)\b", expr):
            if name not in known:
                unknown.add(name)
    assert not unknown, f"not in docs/metrics.md nor recorded: {sorted(unknown)}"


def test_recording_rule_names_follow_level_metric_operations() -> None:
    for name in recorded_names():
        # level:metric:operations; stack-wide constants are llm:<name>.
        assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+|llm:[a-z0-9_]+", name), name


def test_rules_run_on_prometheus_2_and_3() -> None:
    for rule in rules():
        expr = rule["expr"]
        for function in NOT_ON_BOTH:
            assert function not in expr, (rule, function)
        # Prometheus 3 stores le="1.0" as le="1": never match a bucket boundary exactly.
        for matcher in re.findall(r'le\s*(=~?|!=)\s*"([^"]*)"', expr):
            assert matcher == ("=", "+Inf") or matcher[0] == "=~", (rule, matcher)


def test_ratios_aggregate_before_dividing() -> None:
    """No raw `rate(a) / rate(b)`: both sides are summed (or are recorded, already summed) series."""
    for rule in rules():
        expr = " ".join(rule["expr"].split())
        assert not re.search(r"\)\s*/\s*rate\(", expr), rule
        assert not re.search(r"^\s*rate\([^)]*\)\s*/", expr), rule


def test_slo_target_is_defined_once() -> None:
    defined = [r for r in rules() if r.get("record") == "llm:slo_availability_target"]
    assert len(defined) == 1 and defined[0]["expr"].strip() == "vector(0.995)"
    assert not any("0.995" in r["expr"] for r in rules() if r.get("record") != "llm:slo_availability_target")


def test_every_alert_has_firing_and_silent_unit_tests() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for path in TEST_FILES:
        for test in load(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                (fires if case.get("exp_alerts") else silent).add(case["alertname"])
    names = set(alert_names())
    assert names - fires == set(), f"never proven to fire: {sorted(names - fires)}"
    assert names - silent == set(), f"never proven silent: {sorted(names - silent)}"
    assert fires - names == set(), f"tests for unknown alerts: {sorted(fires - names)}"


def test_unit_tests_evaluate_groups_in_file_order() -> None:
    """promtool evaluates groups in random order unless told: recording rules must come first."""
    order = [group["name"] for path in (PROM / "rules" / "llm-recording.yml", PROM / "rules" / "llm-alerts.yml")
             for group in load(path)["groups"]]
    assert {p.name for p in RULE_FILES} == {"llm-recording.yml", "llm-alerts.yml"}
    for path in TEST_FILES:
        assert load(path)["group_eval_order"] == order, path.name


# --------------------------------------------------------------------------- documentation

def test_runbook_has_an_entry_per_alert() -> None:
    text = (REPO / "docs" / "runbooks.md").read_text()
    headings = re.findall(r"^## (\S+)\s*$", text, flags=re.M)
    assert sorted(headings) == sorted(alert_names())
    for name in alert_names():
        section = text.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        for part in ("What it means", "First three things to check", "How to silence"):
            assert part in section, (name, part)


def test_alerts_doc_table_lists_every_alert_once() -> None:
    text = (REPO / "docs" / "alerts.md").read_text()
    rows = re.findall(r"^\| `([A-Za-z0-9]+)` \|", text, flags=re.M)
    assert sorted(rows) == sorted(alert_names())
    for rule in alerts():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{rule['alert']}` |"))
        severity = rule["labels"]["severity"]
        assert f"| {severity} |" in row and ("pager" if severity == "critical" else "ticket") in row, row


# --------------------------------------------------------------------------- e2e transformation

def test_e2e_transformation_only_shortens_for(tmp_path: Path) -> None:
    written = alerting.shortened_rule_files(tmp_path)
    assert [p.name for p in written] == [p.name for p in RULE_FILES]
    for original, short in zip(RULE_FILES, written, strict=True):
        a, b = load(original), load(short)
        for ga, gb in zip(a["groups"], b["groups"], strict=True):
            for ra, rb in zip(ga["rules"], gb["rules"], strict=True):
                if "for" in ra:
                    assert alerting.parse_duration(rb["for"]) == max(
                        1, alerting.parse_duration(ra["for"]) / alerting.FOR_DIVISOR)
                assert {k: v for k, v in ra.items() if k != "for"} == {k: v for k, v in rb.items() if k != "for"}
    result = run(promtool(), "check", "rules", *map(str, written))
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- mutations

MUTATIONS = {
    # The classic: dividing unaggregated rates matches on status and computes error/error = 100%.
    "error ratio without aggregation": (
        "llm-recording.yml", "errors.test.yml",
        "expr: app_model:llm_request_errors:rate5m / app_model:llm_requests:rate5m",
        'expr: rate(llm_requests_total{status="error"}[5m]) / ignoring(status) rate(llm_requests_total[5m])'),
    "error ratio without a traffic gate": (
        "llm-alerts.yml", "errors.test.yml", "and app_model:llm_requests:rate5m >= 0.1", "or vector(0) > 1"),
    "daily spend from the cumulative counter": (
        "llm-recording.yml", "budget-long.test.yml",
        "expr: sum by (department) (increase(llm_cost_usd_total[1d]))",
        "expr: sum by (department) (llm_cost_usd_total)"),
    "GPU alert without the llm_gpu_up gate": (
        "llm-alerts.yml", "gpu.test.yml", "and on (job, instance) llm_gpu_up == 1", ""),
    "quantile without rate() over buckets": (
        "llm-recording.yml", "latency.test.yml",
        "sum by (job, provider, model, le) (rate(llm_request_duration_seconds_bucket[5m]))",
        "sum by (job, provider, model, le) (llm_request_duration_seconds_bucket)"),
    "burn-rate page at 10x instead of 14.4x": (
        "llm-alerts.yml", "slo.test.yml",
        "model:llm_error_budget_burn_rate:rate1h > 14.4", "model:llm_error_budget_burn_rate:rate1h > 10"),
    "cost bucket matched as le=\"1.0\" only": (
        "llm-recording.yml", "budget.test.yml", 'le=~"1(\\\\.0)?"', 'le="1.0"'),
    "quality alert without the traffic gate": (
        "llm-alerts.yml", "quality.test.yml",
        "and on (job, app_id) sum by (job, app_id) (app:llm_requests:rate5m) > 0", ""),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_unit_tests_catch_broken_rules(mutation: str, tmp_path: Path) -> None:
    rule_file, test_file, old, new = MUTATIONS[mutation]
    shutil.copytree(PROM / "rules", tmp_path / "rules")
    shutil.copytree(PROM / "tests", tmp_path / "tests")
    target = tmp_path / "rules" / rule_file
    text = target.read_text()
    assert old in text, f"mutation no longer applies: {old!r}"
    target.write_text(text.replace(old, new))
    if run(promtool(), "check", "rules", str(target)).returncode != 0:
        return  # a mutation promtool itself rejects is caught too
    result = run(promtool(), "test", "rules", test_file, cwd=tmp_path / "tests")
    assert result.returncode != 0, f"{test_file} did not notice: {mutation}\n{result.stdout}"

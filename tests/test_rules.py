"""Prometheus rules: generated = committed, promtool checks, the promtool unit-test suite
(prometheus/tests/*.test.yml), the conventions every alert follows, and that every alert can fire
from the families every source exposes.

The rules are read from the generator (prometheus/generator/), never parsed back from the YAML;
the drift test proves the committed files are exactly what it writes. The mutation tests at the
end break a rule the way public stacks get it wrong and prove that the unit tests notice.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana.generator import uids
from llm_exporter import contract
from prometheus import generator
from prometheus.generator import config as cfg
from prometheus.generator import outputs
from prometheus.generator.model import Alert, Group, RuleFile, render_rule_file
from tests.e2e_support import alerting
from tests.support import promql
from tests.support import promtool as promtool_cases
from tests.support.processes import for_prometheus_2

REPO = Path(__file__).resolve().parents[1]
PROM = REPO / "prometheus"
RULE_FILES = [outputs.RULES_DIR / f.name for f in generator.rule_files()]
TEST_FILES = sorted(outputs.TESTS_DIR.glob("*.test.yml"))
ALERTS = generator.alerts()
GRAFANA_PREFIX = cfg.GRAFANA_URL + "/d/"
# Functions that exist only in Prometheus 3.x (or were removed from it): the rules must run on both.
NOT_ON_BOTH = {"holt_winters", "double_exponential_smoothing", "info", "sort_by_label", "sort_by_label_desc",
               "limitk", "limit_ratio", "mad_over_time", "ts_of_max_over_time", "ts_of_min_over_time",
               "ts_of_last_over_time", "first_over_time", "histogram_count", "histogram_sum", "histogram_fraction",
               "histogram_avg", "histogram_stddev", "histogram_stdvar"}
# Series that are not ours: Prometheus' own and Alertmanager's.
FOREIGN_SERIES = {"up", "alertmanager_notifications_failed_total"}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: run `make deps`")
    return path


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=240)


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def contract_series() -> set[str]:
    names = set()
    for spec in contract.ALL_METRICS:
        names |= {spec.name + s for s in ("_bucket", "_sum", "_count")} if spec.kind == "histogram" else {
            spec.exposed_name}
    return names


# --------------------------------------------------------------------------- generated artefacts

def test_generated_files_are_committed() -> None:
    stale = [output.relative for output in outputs.outputs() if not output.is_current()]
    assert not stale, f"out of date, run `make rules`: {stale}"
    result = run(sys.executable, "-m", "prometheus.generator", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_drift_check_notices_a_hand_edit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "rules"
    shutil.copytree(outputs.RULES_DIR, copy)
    text = (copy / "llm-alerts.yml").read_text()
    edited = text.replace("llm_gpu_utilization:ratio < 0.5", "llm_gpu_utilization:ratio < 0.4")
    assert edited != text
    (copy / "llm-alerts.yml").write_text(edited)
    monkeypatch.setattr(outputs, "RULES_DIR", copy)
    assert [o.path.name for o in outputs.outputs() if not o.is_current()] == ["llm-alerts.yml"]


def test_committed_yaml_is_the_generator_data() -> None:
    """Rendering (comments, block styles, folding) changes nothing Prometheus reads."""
    for rule_file, path in zip(generator.rule_files(), RULE_FILES, strict=True):
        expected = {"groups": [
            {"name": g.name, **({"interval": g.interval} if g.interval else {}),
             "rules": [rule.to_yaml() for rule in g.rules]} for g in rule_file.groups]}
        assert load(path) == expected, path.name


def test_test_headers_list_every_group_in_evaluation_order() -> None:
    order = [group.name for group in generator.groups()]
    for path in TEST_FILES:
        test = load(path)
        assert test["group_eval_order"] == order, path.name
        assert test["rule_files"] == [f"../rules/{p.name}" for p in RULE_FILES], path.name


# --------------------------------------------------------------------------- promtool

def test_promtool_check_config_loads_every_rule_file(tmp_path: Path) -> None:
    """The shipped config directory, less its Prometheus-3-only block, as Prometheus 2.42 loads it."""
    shutil.copytree(PROM, tmp_path / "prometheus")
    config = tmp_path / "prometheus" / "prometheus.yml"
    config.write_text(for_prometheus_2(config.read_text()))
    result = run(promtool(), "check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    for path in RULE_FILES:
        assert f"prometheus/rules/{path.name}" in result.stdout, result.stdout


# Fields of OTLPConfig, config/config.go:1750 @ prometheus v3.14.0 (compose's pin).
OTLP_FIELDS = {"promote_all_resource_attributes", "promote_resource_attributes", "ignore_resource_attributes",
               "translation_strategy", "keep_identifying_resource_attributes", "convert_histograms_to_nhcb",
               "promote_scope_metadata", "label_name_underscore_sanitization",
               "label_name_preserve_multiple_underscores"}


def test_the_prometheus_3_only_block_is_otlp_as_prometheus_3_reads_it() -> None:
    """Only `otlp:` is 3.x-only, and it passes the checks of OTLPConfig.UnmarshalYAML (config.go:1771
    @ v3.14.0): known fields, promoted attributes non-empty and unique. It promotes what the
    OpenTelemetry adapter and the docs name; compose enables the receiver."""
    text = (PROM / "prometheus.yml").read_text()
    full, reduced = yaml.safe_load(text), yaml.safe_load(for_prometheus_2(text))
    assert set(full) - set(reduced) == {"otlp"} and {k: v for k, v in full.items() if k != "otlp"} == reduced
    otlp = full["otlp"]
    assert set(otlp) <= OTLP_FIELDS, set(otlp) - OTLP_FIELDS
    promoted = [attribute.strip() for attribute in otlp["promote_resource_attributes"]]
    assert all(promoted) and len(promoted) == len(set(promoted)) and not otlp.get("promote_all_resource_attributes")
    assert {"service.name", "deployment.environment"} <= set(promoted)
    command = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["prometheus"]["command"]
    assert "--web.enable-otlp-receiver" in command


def test_promtool_check_rules() -> None:
    result = run(promtool(), "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


PROMTOOL_CASES = [(path, index) for path in TEST_FILES for index in range(len(load(path)["tests"]))]


def _alone(test_file: Path, index: int) -> dict[str, Any]:
    """The test file's header with its case `index` alone."""
    document = load(test_file)
    return {**document, "tests": [document["tests"][index]]}


@pytest.mark.parametrize(("test_file", "index"), PROMTOOL_CASES, ids=lambda v: v.name if isinstance(v, Path) else v)
def test_promtool_rule_unit_tests(test_file: Path, index: int, tmp_path: Path) -> None:
    """Each case of the shipped promtool files alone, on the rules it reads (tests/support/promtool.py);
    `promtool test rules prometheus/tests/*.test.yml` runs the same cases on every rule."""
    result = promtool_cases.run(_alone(test_file, index), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_promtool_case_runs_alone() -> None:
    """The cases above cover the files: as many cases as the files hold."""
    assert len(PROMTOOL_CASES) == sum(len(load(path)["tests"]) for path in TEST_FILES) > len(TEST_FILES)


# --------------------------------------------------------------------------- prometheus.yml

def test_prometheus_config_shape() -> None:
    config = load(PROM / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["llm-exporter"]["static_configs"] == [{"targets": ["exporter:9101"]}]
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["localhost:9090"]}]
    assert jobs["alertmanager"]["static_configs"] == [{"targets": ["alertmanager:9093"]}]
    file_sd = [sd for job in jobs.values() for sd in job.get("file_sd_configs", [])]
    assert file_sd and file_sd[0]["files"] == ["targets/*.yml"]
    assert config["rule_files"] == ["rules/*.yml", "demo/*.yml"]  # demo/: `make demo`'s copy while it runs
    assert config["alerting"]["alertmanagers"][0]["static_configs"] == [{"targets": ["alertmanager:9093"]}]


def test_target_example_is_not_loaded_but_is_valid_once_copied(tmp_path: Path) -> None:
    example = PROM / "targets" / "my-service.yml.example"
    assert example.is_file()
    # Copied as the README says, the example is a valid file_sd file with a target and its own job.
    groups = yaml.safe_load(example.read_text())
    assert groups[0]["targets"] and groups[0]["labels"]["job"]
    config = yaml.safe_load(for_prometheus_2((PROM / "prometheus.yml").read_text()))
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets" / "my-service.yml").write_text(yaml.safe_dump(groups))
    config["rule_files"] = []
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = run(promtool(), "check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0 and "WARNING" not in result.stdout, result.stdout + result.stderr


# --------------------------------------------------------------------------- conventions

def test_rule_groups_and_names_are_unique() -> None:
    """Group names are unique; a recorded name is written by several rules only with different
    static labels (one rule per source), which is what promtool's duplicate check looks at."""
    groups = [group.name for group in generator.groups()]
    assert len(groups) == len(set(groups)), groups
    keys = [(rule.name, getattr(rule, "labels", ())) for group in generator.groups() for rule in group.rules]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    result = run(promtool(), "check", "rules", *map(str, RULE_FILES))
    assert "duplicate" not in result.stdout.lower() + result.stderr.lower(), result.stdout


@pytest.mark.parametrize("alert", ALERTS, ids=lambda a: a.name)
def test_alert_conventions(alert: Alert) -> None:
    rule = alert.to_yaml()
    assert alert.name[0].isupper() and alert.name.isalnum()
    assert rule["labels"]["severity"] in cfg.RECEIVERS
    assert set(rule["annotations"]) == {"summary", "description", "runbook_url", "dashboard_url"}
    assert "$value" in rule["annotations"]["description"], "the description must state the measured value"
    assert rule["annotations"]["runbook_url"] == cfg.RUNBOOK_BASE + alert.name.lower()
    assert rule["annotations"]["dashboard_url"].removeprefix(GRAFANA_PREFIX) in uids.ALL
    assert alert.name in cfg.FOR, "every alert's `for:` is set in prometheus/generator/config.py"


def test_warning_critical_twins_share_a_family_and_labels() -> None:
    """A critical alert inhibits its warning twin when the labels in `equal` match: both must keep
    the same labels, so they aggregate by the same labels and read the same level of series."""
    families: dict[str, list[Alert]] = {}
    for alert in ALERTS:
        if alert.family:
            families.setdefault(alert.family, []).append(alert)
    assert families, "no warning/critical twins"
    for family, members in families.items():
        assert sorted(a.severity for a in members) == ["critical", "warning"], family
        shapes = set()
        analysed = promql.analyse(alert.expr for alert in members)
        for alert in members:
            parsed = analysed[alert.expr]
            levels = {name.split(":")[0] for name in parsed.names if ":" in name}
            shapes.add((tuple(sorted(set(parsed.groupings))), tuple(sorted(levels))))
        assert len(shapes) == 1, (family, shapes)


def source_series() -> set[str]:
    """Every sample name recorded for another project at its pinned version (docs/sources.md),
    the deprecated spellings included."""
    from llm_exporter.sources import SOURCES, otel_genai

    names = set()
    for source in (*SOURCES.values(), *otel_genai.OTLP_SOURCES.values()):
        names |= {sample for metric in source.metrics for sample in metric.samples}
        names |= {old.name for old in source.deprecated}
        names |= {f"{old.name}{suffix}" for old in source.deprecated if old.kind == "histogram"
                  for suffix in ("_bucket", "_sum", "_count")}
    return names


def test_rules_read_only_contract_source_and_recorded_names() -> None:
    """Every name a rule reads is in docs/metrics.md, a recording rule, or a name recorded for its
    source at the pinned version: an adapter cannot map a name the source does not expose."""
    known = contract_series() | {r.name for r in generator.records()} | FOREIGN_SERIES | source_series()
    rules = [*generator.records(), *ALERTS]
    parsed = promql.analyse(rule.expr for rule in rules)
    unknown = {rule.name: parsed[rule.expr].names - known for rule in rules if parsed[rule.expr].names - known}
    assert not unknown, f"not in docs/metrics.md nor recorded: {unknown}"
    errors = {rule.name: parsed[rule.expr].errors for rule in rules if parsed[rule.expr].errors}
    assert not errors, errors


def test_recording_rule_names_follow_level_metric_operations() -> None:
    for record in generator.records():
        parts = record.name.split(":")
        assert len(parts) == 3 or (len(parts) == 2 and parts[0] == "llm"), record.name
        assert all(part and part.replace("_", "").isalnum() and part.islower() for part in parts), record.name


def test_rules_run_on_prometheus_2_and_3() -> None:
    rules = [*generator.records(), *ALERTS]
    analysed = promql.analyse(rule.expr for rule in rules)
    for rule in rules:
        parsed = analysed[rule.expr]
        assert not set(parsed.functions) & NOT_ON_BOTH, (rule.name, set(parsed.functions) & NOT_ON_BOTH)
        # Prometheus 3 stores le="1.0" as le="1": never match a bucket boundary by one spelling.
        for selector in parsed.selectors:
            for matcher in selector.matchers_of("le"):
                assert (matcher.op, matcher.value) == ("=", "+Inf") or matcher.op == "=~", (rule.name, matcher)


def test_le_matcher_finds_both_spellings() -> None:
    matcher = next(m for s in promql.analysis(generator.record("instance:llm_expensive_requests:total").expr).selectors
                   for m in s.matchers_of("le") if m.op == "=~")
    import re

    assert re.fullmatch(matcher.value, "1.0") and re.fullmatch(matcher.value, "1")
    assert not re.fullmatch(matcher.value, "10.0")


def test_ratios_aggregate_before_dividing() -> None:
    """No `rate(a) / rate(b)`: unaggregated rates match on every label, status included, so an error
    ratio becomes error/error = 1. Both sides are summed, or recorded series already summed."""
    rules = [*generator.records(), *ALERTS]
    parsed = promql.analyse(rule.expr for rule in rules)
    raw = {rule.name: parsed[rule.expr].divisions for rule in rules
           if any(set(d) & set(promql.RATE_FUNCTIONS) for d in parsed[rule.expr].divisions)}
    assert not raw, raw
    assert promql.analysis("rate(a[5m]) / rate(b[5m])").divisions == (("rate", "rate"),)


def test_every_alert_has_firing_and_silent_unit_tests() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for path in TEST_FILES:
        for test in load(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                (fires if case.get("exp_alerts") else silent).add(case["alertname"])
    names = {alert.name for alert in ALERTS}
    assert names - fires == set(), f"never proven to fire: {sorted(names - fires)}"
    assert names - silent == set(), f"never proven silent: {sorted(names - silent)}"
    assert fires - names == set(), f"tests for unknown alerts: {sorted(fires - names)}"


def test_alert_reads_name_contract_families() -> None:
    families = {spec.name for spec in contract.ALL_METRICS}
    for alert in ALERTS:
        assert set(alert.reads) <= families, (alert.name, set(alert.reads) - families)


# --------------------------------------------------------------------------- documentation

def test_runbook_has_an_entry_per_alert() -> None:
    import re

    text = (REPO / "docs" / "runbooks.md").read_text()
    headings = re.findall(r"^## (\S+)\s*$", text, flags=re.M)
    assert sorted(headings) == sorted(a.name for a in ALERTS)
    for alert in ALERTS:
        section = text.split(f"## {alert.name}\n", 1)[1].split("\n## ", 1)[0]
        for part in ("What it means", "First three things to check", "How to silence"):
            assert part in section, (alert.name, part)


def test_shipped_objectives_default_repeats_the_built_in_defaults() -> None:
    """exporter/config/objectives.yaml spells out the defaults; they are the rules' own."""
    from llm_exporter.objectives import load_objectives

    shipped = {o.key: o.value for o in load_objectives(REPO / "exporter" / "config" / "objectives.yaml")
               if not o.app_id and not o.model}
    assert shipped == {objective.key: objective.default for objective in cfg.OBJECTIVES}


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


# --------------------------------------------------------------------------- required families

REQUIRED = {spec.name for spec in contract.ALL_METRICS if spec.required}
SERIES_FAMILY = {series: spec.name for spec in contract.ALL_METRICS
                 for series in ({spec.name + s for s in ("_bucket", "_sum", "_count")} if spec.kind == "histogram"
                                else {spec.exposed_name})}


def _firing_cases(alert: str) -> list[tuple[Path, dict[str, Any], dict[str, Any]]]:
    """(test file, test, case) of every promtool case that expects `alert` to fire."""
    return [(path, test, case) for path in TEST_FILES for test in load(path)["tests"]
            for case in test.get("alert_rule_test", []) if case["alertname"] == alert and case.get("exp_alerts")]


def _required_only(path: Path, test: dict[str, Any], case: dict[str, Any], alert: Alert) -> dict[str, Any]:
    """The test with only the series of required families (and of the alert's own), asserting
    through ALERTS that the alert still fires with the expected labels."""
    allowed = REQUIRED | set(alert.reads)

    def kept(series: str) -> bool:
        name = series.split("{", 1)[0]
        return name not in SERIES_FAMILY or SERIES_FAMILY[name] in allowed

    checks = []
    for expected in case["exp_alerts"]:
        labels = {"alertname": alert.name, "alertstate": "firing", **expected["exp_labels"]}
        matchers = ", ".join(f'{k}="{v}"' for k, v in labels.items())
        checks.append({"expr": f"max(ALERTS{{{matchers}}})", "eval_time": case["eval_time"],
                       "exp_samples": [{"labels": "{}", "value": 1}]})
    header = yaml.safe_load(outputs.test_header(path.name))
    series = [s for s in test["input_series"] if kept(s["series"])]
    return {**header, "tests": [{"interval": test.get("interval", "1m"), "input_series": series,
                                 "promql_expr_test": checks}]}


@pytest.mark.parametrize("alert", ALERTS, ids=lambda a: a.name)
def test_alert_fires_from_required_families_alone(alert: Alert, tmp_path: Path) -> None:
    """Fed only what docs/metrics.md marks as required (plus the families the alert is about),
    with no optional helper series such as llm_gpu_up or llm_objective_*, the alert still fires
    in at least one of its firing cases: it never waits for a series a source may not expose."""
    cases = _firing_cases(alert.name)
    assert cases, f"{alert.name} has no firing promtool case"
    outcomes = []
    for index, (path, test, case) in enumerate(cases):
        result = promtool_cases.run(_required_only(path, test, case, alert), tmp_path, f"{index}.test.yml")
        if result.returncode == 0:
            return
        outcomes.append(f"{path.name} at {case['eval_time']}: {result.stdout[-600:]}")
    pytest.fail(f"{alert.name} cannot fire from required families alone:\n" + "\n".join(outcomes))


def test_required_families_check_notices_an_optional_gate(tmp_path: Path) -> None:
    """The check above fails for an alert gated on an optional series (the old GPU rule)."""
    gated = Alert("LLMGPUUnderutilized", "llm_gpu_utilization_ratio < 0.5 and on (job, instance) llm_gpu_up == 1",
                  "warning", summary="s $value", description="d $value", dashboard=uids.GPU, fires_when="",
                  reads=("llm_gpu_utilization_ratio",))
    rules = tmp_path / "gated.yml"
    rules.write_text(render_rule_file(RuleFile("gated.yml", "", (Group("g", (gated,)),))))
    path, test, case = _firing_cases("LLMGPUUnderutilized")[0]
    stripped = _required_only(path, test, case, gated)
    stripped["rule_files"], stripped["group_eval_order"] = [str(rules)], ["g"]
    (tmp_path / "t.test.yml").write_text(yaml.safe_dump(stripped))
    assert run(promtool(), "test", "rules", str(tmp_path / "t.test.yml")).returncode != 0


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
        "llm-recording.yml", "budget-long.test.yml", "increase(llm_cost_usd_total[1d])", "llm_cost_usd_total"),
    "GPU alert gated on llm_gpu_up == 1": (
        "llm-alerts.yml", "gpu.test.yml", "unless on (job, instance) llm_gpu_up == 0",
        "and on (job, instance) llm_gpu_up == 1"),
    "GPU alert firing for unreadable GPUs": (
        "llm-alerts.yml", "gpu.test.yml", "unless on (job, instance) llm_gpu_up == 0", ""),
    "quantile without rate() over buckets": (
        "llm-recording.yml", "latency.test.yml",
        "rate(llm_request_duration_seconds_bucket[5m])", "llm_request_duration_seconds_bucket"),
    "heatmap minutes overlapping (2-minute increases every minute)": (
        "llm-recording.yml", "latency.test.yml",
        "increase(llm_request_duration_seconds_bucket[1m])", "increase(llm_request_duration_seconds_bucket[2m])"),
    "burn-rate page at 10x instead of 14.4x": (
        "llm-alerts.yml", "slo.test.yml",
        "app_model:llm_error_budget_burn_rate:rate1h > 14.4", "app_model:llm_error_budget_burn_rate:rate1h > 10"),
    "cost bucket matched as le=\"1.0\" only": (
        "llm-recording.yml", "budget.test.yml", 'le=~"1(\\\\.0)?"', 'le="1.0"'),
    "quality alert without the traffic gate": (
        "llm-alerts.yml", "quality.test.yml",
        "and on (job, app_id) sum by (job, app_id) (app:llm_requests:rate5m) > 0", ""),
    "one latency threshold for every model": (
        "llm-alerts.yml", "objectives.test.yml",
        "> app_model:llm_objective_latency_p95_seconds:resolved", "> 10"),
    "app-and-model objective ignored": (
        "llm-recording.yml", "objectives.test.yml",
        'app_model:llm_pairs_seen:zero + on (app_id, model) group_left max by (app_id, model) '
        '(llm_objective_latency_p95_seconds{app_id!="", model!=""})\n            or ', ""),
    "model objective ignored": (
        "llm-recording.yml", "objectives.test.yml",
        '(llm_objective_latency_p95_seconds{app_id="", model!=""})', '(llm_objective_latency_p95_seconds{app_id="x"})'),
    "no built-in default": (
        "llm-recording.yml", "objectives.test.yml",
        "\n            or app_model:llm_pairs_seen:zero + 10\n", "\n"),
    "burn rate against a fixed 99.5% objective": (
        "llm-recording.yml", "objectives.test.yml",
        "expr: 1 - app_model:llm_objective_availability_ratio:resolved",
        "expr: app_model:llm_pairs_seen:zero + 0.005"),
}


def _a_case_fails(test_file: Path, rule_file: str, old: str, new: str, directory: Path) -> bool:
    """promtool on each case of the test file alone, with `old` replaced by `new` in `rule_file`,
    until one fails: a broken rule is caught as soon as one case notices."""
    def broken(name: str, text: str) -> str:
        return text.replace(old, new) if name == rule_file else text

    return any(promtool_cases.run(_alone(test_file, index), directory, f"case{index}.test.yml", broken).returncode
               for index in range(len(load(test_file)["tests"])))


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_unit_tests_catch_broken_rules(mutation: str, tmp_path: Path) -> None:
    rule_file, test_file, old, new = MUTATIONS[mutation]
    text = (PROM / "rules" / rule_file).read_text()
    assert old in text, f"mutation no longer applies: {old!r}"
    target = tmp_path / rule_file
    target.write_text(text.replace(old, new))
    if run(promtool(), "check", "rules", str(target)).returncode != 0:
        return  # a mutation promtool itself rejects is caught too
    assert _a_case_fails(PROM / "tests" / test_file, rule_file, old, new, tmp_path), \
        f"{test_file} did not notice: {mutation}"

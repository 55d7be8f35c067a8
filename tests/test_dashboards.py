"""Static checks of the Grafana dashboards: generated = committed, datasources, panel types,
metric names, template variables, thresholds equal to the alert thresholds, layout."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from grafana import generator as dashboards_generator
from prometheus import generator
from prometheus.generator import config as cfg
from prometheus.generator import recording
from tests.support import dashboards as ds
from tests.support import promql

EXPECTED_UIDS = {"llm-overview", "llm-latency", "llm-cost", "llm-errors", "llm-gpu", "llm-slo", "llm-logs-traces"}
CURRENT_PANEL_TYPES = {"timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "logs", "traces", "alertlist",
                       "text"}
# Series Prometheus itself makes from the shipped alerting rules.
PROMETHEUS_BUILTINS = {"ALERTS", "ALERTS_FOR_STATE"}
GRAFANA_DATASOURCE = {"type": "grafana", "uid": "-- Grafana --"}  # built-in annotations only

DASHBOARDS = ds.load_dashboards()


def _walk(node: Any, path: str = "") -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}", key, value
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


def test_committed_json_is_what_the_generator_emits() -> None:
    files = dashboards_generator.rendered()
    committed = {p.name: p.read_text() for p in ds.DASHBOARD_DIR.glob("*.json")}
    assert set(committed) == set(files), "run `python -m grafana.generator` (extra or missing dashboard files)"
    stale = [name for name, text in files.items() if committed[name] != text]
    assert not stale, f"out of date, run `python -m grafana.generator`: {stale}"


def test_the_seven_dashboards_link_to_each_other() -> None:
    assert set(DASHBOARDS) == EXPECTED_UIDS
    for uid, dashboard in DASHBOARDS.items():
        assert "llm-observability" in dashboard["tags"], uid
        assert any(link["type"] == "dashboards" and "llm-observability" in link["tags"] and link["includeVars"]
                   and link["keepTime"] for link in dashboard["links"]), f"{uid}: no link to the other dashboards"
        assert dashboard.get("id") is None, f"{uid}: a provisioned dashboard must not carry a database id"
        for panel in dashboard["panels"]:
            for link in panel.get("links", []):
                target = re.match(r"/d/([\w-]+)\?", link["url"])
                assert target and target.group(1) in EXPECTED_UIDS, f"{uid}: broken panel link {link}"


def test_datasources_are_provisioned_uids_only() -> None:
    provisioned = {d["uid"]: d for d in ds.datasources()}
    assert set(provisioned) == {"prometheus", "loki", "tempo", "alertmanager"}
    names = {d["name"] for d in provisioned.values()}
    for uid, dashboard in DASHBOARDS.items():
        text = json.dumps(dashboard)
        assert "${DS_" not in text and "__inputs" not in text and "__requires" not in text, uid
        for where, key, value in _walk(dashboard):
            if key != "datasource" or (isinstance(value, str) and where.endswith("options.datasource")):
                continue
            if value == GRAFANA_DATASOURCE and ".annotations." in where:
                continue
            assert isinstance(value, dict), f"{uid}{where}: datasource must be a {{type, uid}} reference"
            assert value.get("uid") in provisioned, f"{uid}{where}: datasource {value} is not provisioned"
            assert value.get("type") == provisioned[value["uid"]]["type"], f"{uid}{where}: type mismatch {value}"
        for panel in dashboard["panels"]:
            if panel["type"] == "alertlist":
                # The alert list picks its rule source by datasource name.
                assert panel["options"]["datasource"] in names, f"{uid}: alert list source not provisioned"
                assert provisioned["prometheus"]["name"] == panel["options"]["datasource"]


def test_only_current_panel_types() -> None:
    for uid, dashboard in DASHBOARDS.items():
        types = {panel["type"] for panel in dashboard["panels"]}
        assert types <= CURRENT_PANEL_TYPES, f"{uid}: {types - CURRENT_PANEL_TYPES}"
        assert "graph" not in types and "singlestat" not in types


def test_every_metric_is_in_the_contract_or_a_shipped_recording_rule() -> None:
    allowed = set(ds.contract_series()) | set(ds.recording_rules()) | PROMETHEUS_BUILTINS
    unknown = []
    checked = 0
    prometheus_targets = [t for t in ds.targets(DASHBOARDS) if t.datasource == "prometheus"]
    promql.analyse(ds.parsable(t.query) for t in prometheus_targets)  # parsed in one run of the grammar
    for target in prometheus_targets:
        for name in ds.metric_names(target.query):
            checked += 1
            if name not in allowed:
                unknown.append(f"{target.where}: {name}")
    assert checked > 100
    assert not unknown, "not in docs/metrics.md nor produced by prometheus/rules/*.yml:\n" + "\n".join(unknown)


def test_contract_metric_selectors_use_their_own_labels() -> None:
    """Raw contract series are filtered only by their own labels, and by `source`, which they do
    not carry: `source=~"$source"` matches them (an absent label is empty) only at "All"."""
    series = ds.contract_series()
    problems = []
    for target in ds.targets(DASHBOARDS):
        if target.datasource != "prometheus":
            continue
        for name, labels in ds.selectors(target.query):
            if name in series:
                known = set(series[name].labels) | {"job", "instance", "source"} | (
                    {"le"} if name.endswith("_bucket") else set())
                if labels - known:
                    problems.append(f"{target.where}: {name} has no label {sorted(labels - known)}")
    assert not problems, "\n".join(problems)


def test_metric_check_rejects_names_outside_the_contract() -> None:
    """The name extraction the contract test relies on finds the names (and only the names)."""
    expr = ('histogram_quantile(0.95, sum by (le, model) (rate(llm_request_duration_seconds_bucket'
            '{model=~"$model"}[$__rate_interval]))) / ignoring (x) llm_cost_dollars offset 1h '
            'or on (job) vector(0) and llm:slo_availability_target')
    assert ds.metric_names(expr) == {"llm_request_duration_seconds_bucket", "llm_cost_dollars",
                                     "llm:slo_availability_target"}


def test_template_variables() -> None:
    for uid, dashboard in DASHBOARDS.items():
        defined = ds.variable_names(dashboard)
        for variable in dashboard["templating"]["list"]:
            assert variable["multi"] and variable["includeAll"] and variable["allValue"] == ".*", variable["name"]
            assert variable["datasource"]["uid"] == "prometheus"
            assert ds.used_variables(variable["definition"]) <= defined - {variable["name"]}, variable["definition"]
        used = set()
        for target in ds.targets({uid: dashboard}):
            names = ds.used_variables(target.query)
            assert names <= defined | set(ds.BUILTIN_VALUES), f"{target.where}: undefined {names - defined}"
            used |= names & defined
            ds.expand(target.query, dashboard)
        assert used == defined, f"{uid}: variables never used by a query: {defined - used}"
    for uid in ("llm-overview", "llm-cost", "llm-errors"):
        assert ds.variable_names(DASHBOARDS[uid]) == {"source", "model", "app_id", "department"}, uid
    for uid in ("llm-latency", "llm-slo"):  # histograms and SLO pairs: no department
        assert ds.variable_names(DASHBOARDS[uid]) == {"source", "model", "app_id"}, uid
    assert ds.variable_names(DASHBOARDS["llm-logs-traces"]) == {"model", "app_id", "department"}
    assert ds.variable_names(DASHBOARDS["llm-gpu"]) == {"source", "gpu"}


def test_units_and_decimals_are_set() -> None:
    for uid, dashboard in DASHBOARDS.items():
        for panel in dashboard["panels"]:
            if panel["type"] in ("logs", "traces", "alertlist", "text", "heatmap"):
                continue
            if panel["targets"][0]["datasource"]["uid"] == "tempo":
                continue
            defaults = panel["fieldConfig"]["defaults"]
            assert "unit" in defaults and "decimals" in defaults, f"{uid} / {panel['title']}"
            assert defaults["thresholds"]["steps"][0]["value"] is None


def _steps(panel: dict[str, Any]) -> set[float]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return {step["value"] for step in steps if step["value"] is not None}


def _alert_threshold(alert: str, series: str) -> float:
    """The number `series` is compared with in the alert's expression, read by the PromQL parser."""
    return promql.analysis(generator.alert(alert).expr).threshold(series)


# (dashboard, panel title) -> the alert and the series whose threshold the panel must show. Objectives
# are per app and model: single-stat panels colour against the default objective.
THRESHOLD_PANELS = {
    ("llm-overview", "Lowest quality score"): ("LLMQualityScoreLow", "app:llm_quality_score:min"),
    ("llm-gpu", "Utilisation per GPU"): ("LLMGPUUnderutilized", recording.GPU_SIGNALS["utilization"]),
    ("llm-errors", "Negative feedback share by app"):
        ("LLMNegativeFeedbackHigh", "app:llm_feedback_negative_ratio:rate1h"),
    ("llm-cost", "Daily budget used, last 24 h"):
        ("LLMDailyBudgetNearlySpent", "department:llm_budget_daily_usage:ratio"),
    ("llm-slo", "Burn rate 1h and 5m (page above 14.4)"):
        ("LLMErrorBudgetBurnFast", "app_model:llm_error_budget_burn_rate:rate1h"),
    ("llm-slo", "Burn rate 3d and 6h (ticket above 1)"):
        ("LLMErrorBudgetBurnSlow", "app_model:llm_error_budget_burn_rate:rate3d"),
}
DEFAULT_OBJECTIVE_PANELS = {
    ("llm-overview", "Error ratio"): cfg.ERROR_RATIO_OBJECTIVE,
    ("llm-errors", "Error ratio"): cfg.ERROR_RATIO_OBJECTIVE,
    ("llm-overview", "P95 latency"): cfg.LATENCY_OBJECTIVE,
    ("llm-latency", "P95 latency"): cfg.LATENCY_OBJECTIVE,
    ("llm-overview", "P95 time to first token"): cfg.TTFT_OBJECTIVE,
    ("llm-latency", "P95 time to first token"): cfg.TTFT_OBJECTIVE,
    ("llm-slo", "Availability, 30 days"): cfg.AVAILABILITY_OBJECTIVE,
}
# Per-model or per-app panels draw each one's own objective as a dashed series.
OBJECTIVE_LINE_PANELS = {
    ("llm-latency", "P95 end-to-end latency by model"): cfg.LATENCY_OBJECTIVE,
    ("llm-latency", "P95 time to first token by model"): cfg.TTFT_OBJECTIVE,
    ("llm-latency", "P95 time per output token by model"): cfg.TPOT_OBJECTIVE,
    ("llm-overview", "P95 latency by model"): cfg.LATENCY_OBJECTIVE,
    ("llm-overview", "Error ratio by model"): cfg.ERROR_RATIO_OBJECTIVE,
    ("llm-errors", "Error ratio by model"): cfg.ERROR_RATIO_OBJECTIVE,
    ("llm-errors", "Error ratio by app"): cfg.ERROR_RATIO_OBJECTIVE,
}


def _panel(uid: str, title: str) -> dict[str, Any]:
    panel = next((p for p in DASHBOARDS[uid]["panels"] if p["title"] == title), None)
    assert panel is not None, f"{uid}: no panel {title!r}"
    return panel


@pytest.mark.parametrize(("uid", "title"), sorted(THRESHOLD_PANELS))
def test_thresholds_equal_the_alert_thresholds(uid: str, title: str) -> None:
    alert, series = THRESHOLD_PANELS[(uid, title)]
    assert _alert_threshold(alert, series) in _steps(_panel(uid, title)), (alert, _steps(_panel(uid, title)))


@pytest.mark.parametrize(("uid", "title"), sorted(DEFAULT_OBJECTIVE_PANELS))
def test_single_stats_colour_at_the_default_objective(uid: str, title: str) -> None:
    """The default objective is what the resolved objectives fall back to (objectives.test.yml pins
    those fallbacks by value)."""
    assert DEFAULT_OBJECTIVE_PANELS[(uid, title)].default in _steps(_panel(uid, title))


@pytest.mark.parametrize(("uid", "title"), sorted(OBJECTIVE_LINE_PANELS))
def test_per_model_panels_draw_each_objective(uid: str, title: str) -> None:
    panel = _panel(uid, title)
    objective = OBJECTIVE_LINE_PANELS[(uid, title)]
    lines = [t for t in panel["targets"] if recording.resolved(objective) in ds.metric_names(t["expr"])]
    assert len(lines) == 1, f"{uid} / {title}: no series of {recording.resolved(objective)}"
    dashed = [o for o in panel["fieldConfig"]["overrides"] if o["matcher"]["id"] == "byRegexp"
              and re.match(o["matcher"]["options"], lines[0]["legendFormat"].replace("{{", "").replace("}}", ""))]
    assert dashed and any(p["id"] == "custom.lineStyle" for p in dashed[0]["properties"]), f"{uid} / {title}"


def test_budget_panels_show_both_daily_budget_alerts() -> None:
    series = "department:llm_budget_daily_usage:ratio"
    assert _steps(_panel("llm-cost", "Daily budget used, last 24 h")) == {
        _alert_threshold("LLMDailyBudgetNearlySpent", series), _alert_threshold("LLMDailyBudgetExceeded", series)}


def test_heatmaps_read_recorded_minutes_and_ask_for_the_raw_buckets_exemplars() -> None:
    heatmaps = [p for d in DASHBOARDS.values() for p in d["panels"] if p["type"] == "heatmap"]
    assert len(heatmaps) >= 3
    records = {r.name: r for r in generator.records()}
    group_of = {r.name: g for g in generator.groups() for r in g.rules}
    for panel in heatmaps:
        (target,) = panel["targets"]
        assert target["exemplar"] is True and target["format"] == "heatmap"
        assert panel["options"]["calculate"] is False
        names = ds.metric_names(target["expr"])
        recorded = {name for name in names if name in records}
        raw = names - recorded
        # Recording rules carry no exemplars: the query also names the exporter's own raw buckets ...
        assert len(raw) == 1 and all(n.startswith("llm_") and n.endswith("_bucket") for n in raw), names
        # ... whose increases the recorded series hold, in windows the cells tile: the query's
        # minimum interval is the group's evaluation interval and the window it reads.
        (name,) = recorded
        group = group_of[name]
        assert records[name].expr.count(f"[{group.interval}]") == 1 and raw.pop() in records[name].expr, name
        assert target["interval"] == group.interval and "[$__interval]" in target["expr"], target


def test_layout_fits_the_grid_without_overlaps() -> None:
    for uid, dashboard in DASHBOARDS.items():
        cells: set[tuple[int, int]] = set()
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), uid
        for panel in dashboard["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, f"{uid} / {panel['title']}"
            mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                    for y in range(grid["y"], grid["y"] + grid["h"])}
            assert not cells & mine, f"{uid} / {panel['title']} overlaps another panel"
            cells |= mine



def test_logs_panel_states_the_level_of_a_successful_call() -> None:
    """The exporter's own choice of level (telemetry.pipeline), as the logs panel describes it."""
    import logging

    from llm_exporter.config import load_budgets, load_pricing
    from llm_exporter.recorder import Recorder
    from llm_exporter.telemetry.config import TelemetryConfig
    from llm_exporter.telemetry.pipeline import Telemetry
    from tests.support.processes import CONFIG_DIR

    recorder = Recorder(load_pricing(CONFIG_DIR / "pricing.yaml"), load_budgets(CONFIG_DIR / "budgets.yaml"),
                        mode="mock", version="test")
    level = {mode: logging.getLevelName(Telemetry(recorder, TelemetryConfig.from_env({}), mode=mode).success_level)
             for mode in ("mock", "proxy")}
    description = _panel("llm-logs-traces", "Exporter logs")["description"]
    assert f"{level['proxy'].lower()} when it succeeded, warning when it failed" in description
    assert f"the mock fleet's successful calls are simulated and logged at {level['mock'].lower()}" in description

"""Every alert each mock scenario raises, as the README's scenario table (and docs/scenarios.md)
lists it: no alert left out, none added.

The compose stack's mock exporter is replayed minute by minute: the seeded fleet at its default
rate (`--mock-rps`) goes through the real recording path, and the exporter's own /metrics page
(calls, GPUs, quality, prices, budgets, objectives, from the shipped configuration) is
snapshotted every simulated minute, for half an hour of normal traffic and then two hours of the
scenario. promtool evaluates the shipped rules over it (as test_sources_rules.py does per source):
what fires during the scenario's two hours is what the scenario raises (an alert with a 1-hour
`for:` included), and nothing may fire during the normal half hour (the `normal` row: none).
Alerts that need a day of history cannot fire in it (HISTORY_NEEDED); the README says so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from llm_exporter.config import load_budgets, load_pricing
from llm_exporter.mock.gpus import MockGPUSource
from llm_exporter.mock.scenarios import SCENARIOS
from llm_exporter.mock.simulator import Simulator
from llm_exporter.objectives import ObjectivesCollector, load_objectives
from llm_exporter.recorder import Recorder
from llm_exporter.settings import Settings
from prometheus import generator
from prometheus.generator import config as cfg
from prometheus.generator import outputs
from tests.e2e_support import alerting
from tests.support.processes import CONFIG_DIR, REPO
from tests.test_sources_rules import START

NORMAL_MINUTES, FAULT_MINUTES = 30, 120
STEP_S = 5.0
# The rules every third minute over snapshots of every minute: a third of promtool's work, and an
# alert with a `for:` (2 minutes and up) still has to hold over two evaluations at least.
EVALUATION_INTERVAL = "3m"
TARGET = 'job="llm-exporter",instance="exporter:9101"'  # the compose stack's scrape job
RAISED = 'group by (alertname) (max_over_time(ALERTS{{alertstate="firing"}}[{window}]))'
# Alerts whose expressions need more than the replay's two hours of history.
HISTORY_NEEDED = {"LLMTokenUsageAnomaly": "it compares with the same time a day earlier (offset 23h)"}
ABOUT_THE_STACK = {"TargetDown", "AlertmanagerNotificationsFailing"}  # not driven by the mock's traffic


def page(registry: CollectorRegistry) -> Iterator[tuple[str, float]]:
    """(series as a promtool selector with the scrape job's labels, value) for every sample /metrics
    would show: the collectors' own samples, without the text format's round trip (half the replay's time)."""
    for family in registry.collect():
        for sample in family.samples:
            labels = "".join(f",{name}={json.dumps(value)}" for name, value in sample.labels.items())
            yield f"{sample.name}{{{TARGET}{labels}}}", sample.value


def replay(scenario: str, seed: int) -> dict[str, list[float | None]]:
    """The mock exporter's /metrics, minute by minute: normal traffic, then `scenario` (series -> values)."""
    clock = {"now": START}
    recorder = Recorder(load_pricing(CONFIG_DIR / "pricing.yaml"), load_budgets(CONFIG_DIR / "budgets.yaml"),
                        mode="mock", version="test")
    defaults = Settings()
    simulator = Simulator(recorder, rps=defaults.mock_rps, seed=seed, clock=lambda: clock["now"])
    simulator.started_at = START
    recorder.gpu_source = MockGPUSource(simulator, count=defaults.mock_gpus, seed=seed)
    recorder.scenario = lambda: simulator.scenario.name
    registry = CollectorRegistry(auto_describe=False)
    registry.register(recorder)
    registry.register(ObjectivesCollector(load_objectives(CONFIG_DIR / "objectives.yaml")))
    minutes = NORMAL_MINUTES + FAULT_MINUTES
    series: dict[str, list[float | None]] = {}
    for minute in range(minutes + 1):
        for key, value in page(registry):  # the page at the minute's start
            series.setdefault(key, [None] * (minutes + 1))[minute] = value
        if minute == NORMAL_MINUTES:
            simulator.set_scenario(scenario)
        for step in range(int(60 / STEP_S)):
            clock["now"] = START + minute * 60 + step * STEP_S
            for call in simulator.arrivals(clock["now"], STEP_S):
                recorder.record(call)
    return series


def promtool_case(scenario: str, seed: int, directory: Path) -> Path:
    """A promtool test: nothing fires in the normal half hour; the scenario's two hours raise Scenario.alerts."""
    header = yaml.safe_load(outputs.test_header("scenarios.test.yml"))
    header["rule_files"] = [str(path) for path in alerting.shipped_rule_files()]
    header["evaluation_interval"] = EVALUATION_INTERVAL
    end = NORMAL_MINUTES + FAULT_MINUTES
    test = {
        "interval": "1m",
        "input_series": [{"series": key, "values": " ".join("_" if v is None else repr(v) for v in values)}
                         for key, values in sorted(replay(scenario, seed).items())],
        "promql_expr_test": [
            {"expr": RAISED.format(window=f"{NORMAL_MINUTES}m"), "eval_time": f"{NORMAL_MINUTES}m",
             "exp_samples": []},
            {"expr": RAISED.format(window=f"{FAULT_MINUTES - 1}m"), "eval_time": f"{end}m",
             "exp_samples": [{"labels": f'{{alertname="{name}"}}', "value": 1}
                             for name in sorted(SCENARIOS[scenario].alerts)]},
        ],
    }
    path = directory / f"{scenario}-{seed}.test.yml"
    path.write_text(json.dumps({**header, "tests": [test]}))  # JSON is YAML, and much faster to write
    return path


FAULTS = [name for name in SCENARIOS if name != "normal"]


@pytest.mark.parametrize("scenario", FAULTS)
def test_each_scenario_raises_exactly_its_listed_alerts(scenario: str, tmp_path: Path) -> None:
    """One promtool case per fault scenario, each seeded differently (`make test` spreads them over
    its workers)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run `make deps`")
    path = promtool_case(scenario, 5 + FAULTS.index(scenario), tmp_path)
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-1500:]


def test_alerts_left_out_need_more_history_or_watch_the_stack() -> None:
    raised = set().union(*(s.alerts for s in SCENARIOS.values()))
    never = {alert.name for alert in generator.alerts()} - raised
    # the mock prices every model it calls, so LLMUnpricedRequests is proven by budget.test.yml only
    assert never == set(HISTORY_NEEDED) | ABOUT_THE_STACK | {"LLMUnpricedRequests"}, never
    assert "offset 23h" in generator.alert("LLMTokenUsageAnomaly").expr
    assert cfg.seconds("1d") > 60 * (NORMAL_MINUTES + FAULT_MINUTES)


def table_alerts(text: str, columns: int, alert_column: int) -> dict[str, set[str]]:
    """scenario -> the alerts its row lists, from a markdown table with `columns` cells."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = cells[0].strip("`")
        if len(cells) == columns and name in SCENARIOS:
            rows[name] = set(re.findall(r"\b((?:LLM|Target|Alertmanager)[A-Za-z0-9]+)\b", cells[alert_column]))
    return rows


@pytest.mark.parametrize(("doc", "columns", "alert_column"), [("README.md", 3, 2), ("docs/scenarios.md", 6, 5)])
def test_the_docs_list_every_alert_each_scenario_raises(doc: str, columns: int, alert_column: int) -> None:
    listed = table_alerts((REPO / doc).read_text(), columns, alert_column)
    assert set(listed) == set(SCENARIOS), f"{doc}: a row per scenario"
    for name, scenario in SCENARIOS.items():
        assert listed[name] == set(scenario.alerts), (doc, name, listed[name] ^ set(scenario.alerts))


def test_the_readme_notes_under_the_table_hold() -> None:
    """When and why, as the README's table says it: the slow burn waits for 2 h of history and is
    the fast burn's inhibited twin, the nearly-spent budget is the exceeded one's, the forecast
    waits an hour, the error ratio reads 5 minutes and the daily budget a day."""
    assert cfg.BURN_SLOW.needs_history and cfg.BURN_SLOW.windows[0].short == "2h"
    for warning, critical in (("LLMErrorBudgetBurnSlow", "LLMErrorBudgetBurnFast"),
                              ("LLMDailyBudgetNearlySpent", "LLMDailyBudgetExceeded")):
        twins = generator.alert(warning), generator.alert(critical)
        assert twins[0].family == twins[1].family and (twins[0].severity, twins[1].severity) == ("warning", "critical")
    assert cfg.FOR["LLMMonthlyBudgetForecastExceeded"] == "1h"
    assert "rate5m" in generator.alert("LLMErrorRatioHigh").expr
    assert "increase1d" in generator.record("department:llm_budget_daily_usage:ratio").expr

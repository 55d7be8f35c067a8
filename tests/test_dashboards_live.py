"""Every PromQL panel returns real data: a real Prometheus 2.42 scrapes the real mock exporter and
evaluates the shipped recording and alerting rules, then each dashboard query (template
variables at All) must return non-empty, finite values inside the bounds its panel implies.

The rule files are used as shipped except for each group's evaluation interval, which is set to
the test's 1 s so that groups that normally run once a minute are evaluated within the test.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from grafana import generator
from grafana.generator.builder import Dashboard, PromQuery
from prometheus.generator import capability
from prometheus.generator.adapters import CONTRACT
from tests.e2e_support import alerting
from tests.support import dashboards as ds
from tests.support.processes import Running, run_prometheus, wait_for

pytestmark = pytest.mark.e2e

INTERVAL = "1s"
SETTLE_TIMEOUT_S = 60
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
Case = tuple[Any, ...]  # (where, PromQL, ...): the PromQL second


def _fast_rule_copies(directory: Path) -> list[Path]:
    out = []
    for path in alerting.shipped_rule_files():
        document = yaml.safe_load(path.read_text())
        for group in document.get("groups", []):
            group["interval"] = INTERVAL
        copy = directory / path.name
        copy.write_text(yaml.safe_dump(document, sort_keys=False))
        out.append(copy)
    return out


@pytest.fixture(scope="module")
def prometheus(mock_exporter: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    host_port = mock_exporter.url.removeprefix("http://")
    config = {
        "global": {"scrape_interval": INTERVAL, "scrape_timeout": INTERVAL, "evaluation_interval": INTERVAL},
        "scrape_configs": [{"job_name": "llm-exporter", "static_configs": [{"targets": [host_port]}]}],
    }
    rule_files = _fast_rule_copies(tmp_path_factory.mktemp("rules"))
    with run_prometheus(config, rule_files) as running:
        # Every test starts once the rules have recorded the series the variables read.
        wait_for(lambda: _query(running, "app_model:llm_requests:rate5m"), timeout=SETTLE_TIMEOUT_S,
                 what="the recorded per-pair request rate")
        yield running


def _query(prometheus: Running, expr: str) -> list[dict]:
    response = requests.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert body.get("status") == "success", f"{expr!r}: {body.get('errorType')}: {body.get('error')}"
    data = body["data"]
    if data["resultType"] == "scalar":
        return [{"metric": {}, "value": data["result"]}]
    return data["result"]


def _values(result: list[dict]) -> list[float]:
    return [float(sample["value"][1]) for sample in result]


def _per_source(expr: str) -> bool:
    """Panels of calls, by source, app or model. Department spend and budgets (every source
    summed), quality (this project's own signal, per app), GPUs and alerts ignore the source."""
    return "$source" in expr or "$model" in expr


def _still_failing(cases: list[Case], failing: Callable[[Case], bool]) -> list[Case]:
    """The cases `failing` still holds for after polling them for SETTLE_TIMEOUT_S: the rule
    groups start one after another and need a few evaluations."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    pending = cases
    while pending and time.monotonic() < deadline:
        pending = [case for case in pending if failing(case)]
        if pending:
            time.sleep(1)
    return pending


def _prom_queries() -> list[tuple[Dashboard, str, PromQuery]]:
    out = []
    for dashboard in generator.dashboards():
        for panel, query in dashboard.queries():
            if isinstance(query, PromQuery):
                out.append((dashboard, panel.title, query))
    return out


def _bounds(panel_bounds: tuple[float, float], expr: str, rules: dict[str, str]) -> tuple[float, float]:
    low, high = panel_bounds
    if ds.uses_quantile(expr, rules):
        edges = ds.bucket_edges()
        histograms = [edges[name] for name in ds.underlying_metrics(expr, rules) if name.endswith("_bucket")]
        assert histograms, f"quantile without a histogram: {expr}"
        high = min(high, max(max(buckets) for buckets in histograms))
    return low, high


def _fed_by_this_exporter(query: PromQuery) -> bool:
    """The mock exporter's own page is this project's contract (source `llm`), with the stack's own
    configuration (budgets, objectives; queries no source feeds); panels only other sources feed
    (engines' queues and KV cache) are checked by tests/test_sources_live.py."""
    sources = capability.sources_of(query.expr)
    return not sources or CONTRACT in sources


def test_panels_the_contract_cannot_feed_are_the_engine_panels() -> None:
    unfed = {title for _dashboard, title, query in _prom_queries() if not _fed_by_this_exporter(query)}
    assert unfed == {"Running and queued calls (engines)", "KV-cache usage (engines)"}, unfed


def test_every_prometheus_panel_returns_finite_data_within_bounds(prometheus: Running) -> None:
    rules = ds.recording_rules()
    committed = ds.load_dashboards()
    cases = []
    for dashboard, title, query in _prom_queries():
        if not _fed_by_this_exporter(query):
            continue
        panel = next(p for p in dashboard.panels if p.title == title)
        expr = ds.expand(query.expr, committed[dashboard.uid])
        cases.append((f"{dashboard.uid} / {title!r}", expr, _bounds(panel.expected_bounds(query), query.expr, rules)))
    assert len(cases) > 50

    # Poll until every query has data, then judge them all.
    empty = _still_failing(cases, lambda case: not _query(prometheus, case[1]))
    problems = [f"{where}: no data\n    {expr}" for where, expr, _ in empty]
    for where, expr, (low, high) in cases:
        result = _query(prometheus, expr)
        for sample, value in zip(result, _values(result), strict=True):
            if not math.isfinite(value):
                problems.append(f"{where}: {value} for {sample['metric']}\n    {expr}")
            elif not low <= value <= high:
                problems.append(f"{where}: {value} outside [{low}, {high}] for {sample['metric']}\n    {expr}")
    assert not problems, "\n".join(problems)


def _range_points(prometheus: Running, expr: str) -> list[dict]:
    now = time.time()
    response = requests.get(f"{prometheus.url}/api/v1/query_range",
                            params={"query": expr, "start": now - 20, "end": now, "step": "2s"}, timeout=10)
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_range_queries_return_series(prometheus: Running) -> None:
    """Time-series panels run range queries: each over the last 20 s has points once the rules
    have recorded what it reads (polled, as the rule groups start one after another)."""
    committed = ds.load_dashboards()
    cases = [(dashboard.uid, ds.expand(query.expr, committed[dashboard.uid]))
             for dashboard, _title, query in _prom_queries() if not query.instant and _fed_by_this_exporter(query)]
    assert len(cases) > 20
    empty = _still_failing(cases, lambda case: not _range_points(prometheus, case[1]))
    assert not empty, "\n".join(f"{uid}: no range data for {expr}" for uid, expr in empty)


@pytest.mark.parametrize(("source", "has_data"), [("llm", True), ("vllm", False)])
def test_the_source_variable_keeps_or_drops_this_exporters_panels(prometheus: Running, source: str,
                                                                   has_data: bool) -> None:
    """Source "llm" alone keeps every per-source panel this exporter feeds, those over its raw series
    (which carry no `source` label) included; a source that sends nothing here empties them all."""
    committed = ds.load_dashboards()
    cases = [(f"{d.uid} / {title!r}", ds.expand(q.expr.replace("$source", source), committed[d.uid]))
             for d, title, q in _prom_queries() if _per_source(q.expr) and _fed_by_this_exporter(q)]
    assert len(cases) > 40
    wrong = _still_failing(cases, lambda case: bool(_query(prometheus, case[1])) != has_data)
    assert not wrong, f"source={source}: " + ("no data" if has_data else "data") + " from\n" + "\n".join(
        f"{where}\n    {expr}" for where, expr in wrong)


def test_template_variables_have_options(prometheus: Running) -> None:
    for uid, dashboard in ds.load_dashboards().items():
        for variable in dashboard["templating"]["list"]:
            match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", variable["definition"])
            assert match, f"{uid}: unexpected variable query {variable['definition']}"
            selector = ds.expand(match.group(1), dashboard)
            response = requests.get(f"{prometheus.url}/api/v1/label/{match.group(2)}/values",
                                    params={"match[]": selector}, timeout=10)
            assert response.json()["data"], f"{uid}: variable {variable['name']} has no values"


def test_heatmaps_return_their_cells_only(prometheus: Running) -> None:
    """The raw-bucket term a heatmap names for its exemplars adds no series: one per bucket."""
    committed = ds.load_dashboards()
    heatmaps = [(d, t, q) for d, t, q in _prom_queries() if q.format == "heatmap"]
    assert len(heatmaps) >= 3
    for dashboard, title, query in heatmaps:
        expr = ds.expand(query.expr, committed[dashboard.uid])
        wait_for(lambda expr=expr: _query(prometheus, expr), timeout=SETTLE_TIMEOUT_S, what=title)
        result = _query(prometheus, expr)
        assert {frozenset(sample["metric"]) for sample in result} == {frozenset({"le"})}, (title, result[:3])


def test_exemplars_are_stored_with_trace_ids(prometheus: Running) -> None:
    """The heatmaps ask for exemplars: Prometheus (exemplar storage on) must hold some with trace_id."""
    committed = ds.load_dashboards()
    exemplar_queries = [(d, q) for d, _t, q in _prom_queries() if q.exemplar]
    assert {m for _d, q in exemplar_queries for m in ds.metric_names(q.expr)} >= {
        "llm_request_duration_seconds_bucket", "llm_time_to_first_token_seconds_bucket",
        "llm_request_cost_usd_bucket"}
    for dashboard, query in exemplar_queries:
        expr = ds.expand(query.expr, committed[dashboard.uid])
        found: list[dict] = []
        deadline = time.monotonic() + 20
        while not found and time.monotonic() < deadline:
            now = time.time()
            response = requests.get(f"{prometheus.url}/api/v1/query_exemplars",
                                    params={"query": expr, "start": now - 600, "end": now}, timeout=10)
            body = response.json()
            assert body["status"] == "success", body
            found = [e for series in body["data"] for e in series["exemplars"]]
            if not found:
                time.sleep(1)
        assert found, f"{dashboard.uid}: no exemplars for {expr}"
        assert all(TRACE_ID.match(e["labels"].get("trace_id", "")) for e in found), found[:3]

"""Each source, live: a real Prometheus scrapes the mock fleet in that source's dialect, with the
shipped rules, and the dashboards read it as they read this project's own series.

One mock exporter serves the contract (/metrics) and every dialect (/sources/<name>/metrics) for
the same simulated calls. Each source gets its own Prometheus with two jobs: the dialect page, with
the labels of the source's target-file example; and the exporter's own page, keeping only the
stack's configuration (budgets, prices, objectives) under their names and the contract's call
series renamed `mock_*`, out of the rules' reach, to compare with. Then:

- every dashboard query the source can feed (prometheus.generator.capability) returns data, and
  every query neither the source nor the configuration feeds returns none: "no data from this
  source", never a wrong number;
- the source's calls, failed calls, tokens and spend, read through its adapter, equal what the
  contract counted for the calls that source sees (engines see the self-hosted model's calls that
  reached them), once the mock has stopped sending and both pages are scraped (two pages are never
  scraped at the same instant while calls flow), and its P95 latency is within one of the source's
  buckets of the contract's.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
import yaml

from grafana import generator as dashboards
from grafana.generator.builder import PromQuery
from llm_exporter.mock.fleet import MODELS
from llm_exporter.sources import SOURCES as SOURCE_RECORDS
from prometheus.generator import capability
from prometheus.generator.adapters import ADAPTERS
from prometheus.generator.normalize import read, relabel
from tests.e2e_support import alerting
from tests.support import dashboards as ds
from tests.support.processes import REPO, Running, run_exporter, run_prometheus, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

INTERVAL_S = 2
INTERVAL = f"{INTERVAL_S}s"
SELF_HOSTED = next(name for name, profile in MODELS.items() if profile.self_hosted)
ENGINE_FAILURES = "server_error|timeout"  # the failures the mock's engines see (docs/sources.md)
SOURCES = ("vllm", "sglang", "tgi", "nim", "litellm", "otel")  # dcgm: GPUs, checked by the GPU panels only
# Signals a source's adapter reads that the mock's page for it does not show: its otel page is
# openai-v2 2.4b0, which records neither (OpenLIT's are proved in test_sources_rules.py).
MOCK_PAGE_LACKS = {"otel": ("llm_time_to_first_token_seconds", "llm_time_per_output_token_seconds")}
DEPARTMENT = "engineering"  # has a daily budget in exporter/config/budgets.yaml
CONFIGURATION = "|".join(spec.exposed_name for spec in capability.CONFIGURATION)
CONTRACT_CALLS = "llm_(requests_total|errors_total|tokens_total|cost_usd_total|request_duration_seconds_bucket)"


def target(source: str, exporter: Running) -> dict:
    """The source's target-file example, pointed at the mock's page for it. A source without
    departments of its own gets the optional `department` target label its example describes, so
    that its spend meets that department's budget."""
    path = REPO / "prometheus" / "targets" / f"{source}.yml.example"
    (entry,) = yaml.safe_load(path.read_text())
    labels = {k: v for k, v in entry["labels"].items() if not k.startswith("__")}
    if "model" in labels:  # TGI: the target names its model
        labels["model"] = SELF_HOSTED
    if not next(a for a in ADAPTERS if a.name == source).labels.department:
        labels["department"] = DEPARTMENT
    return {"job_name": labels.pop("job"), "metrics_path": f"/sources/{source}/metrics",
            "static_configs": [{"targets": [exporter.url.removeprefix("http://")], "labels": labels}]}


def config(source: str, exporter: Running) -> dict:
    own_page = {
        "job_name": "llm-exporter", "static_configs": [{"targets": [exporter.url.removeprefix("http://")]}],
        "metric_relabel_configs": [
            {"source_labels": ["__name__"], "regex": CONTRACT_CALLS, "target_label": "__name__",
             "replacement": "mock_llm_$1"},
            {"source_labels": ["__name__"], "regex": f"mock_.*|{CONFIGURATION}", "action": "keep"},
        ],
    }
    return {"global": {"scrape_interval": INTERVAL, "scrape_timeout": INTERVAL, "evaluation_interval": INTERVAL},
            "scrape_configs": [target(source, exporter), own_page]}


@pytest.fixture(scope="module")
def exporter() -> Iterator[Running]:
    with run_exporter("--mode", "mock", "--mock-rps", "20", "--seed", "3") as running:
        yield running


@pytest.fixture(scope="module")
def fleet(exporter: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Running]]:
    rules = alerting.rule_files_evaluated_every(INTERVAL, tmp_path_factory.mktemp("rules"))
    with contextlib.ExitStack() as stack:
        proms = {source: stack.enter_context(run_prometheus(config(source, exporter), rules)) for source in SOURCES}
        yield proms


@pytest.fixture(scope="module")
def settled(exporter: Running, fleet: dict[str, Running]) -> dict[str, Running]:
    """The fleet once the mock has stopped sending calls and every call has been scraped from both
    pages: totals since the start no longer move, so the two pages' totals can be compared
    exactly (two pages are never scraped at the same instant while calls flow). The module's
    panel checks run first, on live traffic."""
    for source, prometheus in fleet.items():
        wait_for(lambda p=prometheus, s=source: value(p, _source(s, "requests")) > 200, timeout=90,
                 what=f"{source}: calls")
    response = requests.post(exporter.url + "/mock/scenario", json={"scenario": "traffic_stop"}, timeout=10)
    assert response.ok, response.text
    previous: list[dict[str, tuple[float, float]]] = [{}]

    def totals_stopped_moving() -> bool:
        """Both pages' call totals, per source, the same as one check (three scrapes) earlier."""
        totals = {s: (value(p, _seen(s, "requests")), value(p, _source(s, "requests"))) for s, p in fleet.items()}
        stopped, previous[0] = totals == previous[0], totals
        return stopped

    wait_for(totals_stopped_moving, timeout=120, what="every mock call finished and scraped",
             interval=3 * INTERVAL_S)
    return fleet


def query(prometheus: Running, expr: str) -> list[dict]:
    body = requests.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]


def value(prometheus: Running, expr: str) -> float:
    result = query(prometheus, expr)
    return float(result[0]["value"][1]) if result else math.nan


@dataclass(frozen=True)
class Case:
    where: str
    expr: str
    fed: bool


def cases(source: str) -> list[Case]:
    committed = ds.load_dashboards()
    out = []
    for dashboard in dashboards.dashboards():
        for panel, query_ in dashboard.queries():
            if not isinstance(query_, PromQuery):
                continue
            sources = capability.sources_of(query_.expr)
            lacking = any(signal in query_.expr for signal in MOCK_PAGE_LACKS.get(source, ()))
            out.append(Case(f"{dashboard.uid} / {panel.title!r}", ds.expand(query_.expr, committed[dashboard.uid]),
                            fed=(not sources or source in sources) and not lacking))
    return out


@pytest.mark.parametrize("source", SOURCES)
def test_dashboards_show_what_the_source_feeds_and_nothing_else(fleet: dict[str, Running], source: str) -> None:
    prometheus = fleet[source]
    checks = cases(source)
    fed = [c for c in checks if c.fed]
    wait_for(lambda: all(query(prometheus, c.expr) for c in fed[:8]), timeout=60, what=f"{source}: first panels")
    deadline = time.monotonic() + 60
    empty = fed
    while empty and time.monotonic() < deadline:
        empty = [c for c in empty if not query(prometheus, c.expr)]
        time.sleep(1)
    # The contract's own series are renamed mock_*, out of the rules' and dashboards' reach: a panel
    # only the contract feeds (quality, exemplars, error types) must stay empty.
    unfed_with_data = [c for c in checks if not c.fed and query(prometheus, c.expr)]
    assert not empty, "no data from a panel the source feeds:\n" + "\n".join(f"{c.where}\n    {c.expr}" for c in empty)
    assert not unfed_with_data, "data from a panel the source cannot feed:\n" + "\n".join(
        f"{c.where}\n    {c.expr}" for c in unfed_with_data)


def _seen(source: str, family: str) -> str:
    """The contract's own count, since the start, of the calls `source` sees (its mock_* copy)."""
    layer = next(a.layer for a in ADAPTERS if a.name == source)
    model = f'model="{SELF_HOSTED}"' if layer == "engine" else ""
    errors = (f'mock_llm_errors_total{{{model}, error_type=~"{ENGINE_FAILURES}"}}' if model
              else 'mock_llm_requests_total{status="error"}')
    if family == "requests" and model:
        return f'sum(mock_llm_requests_total{{{model}, status="success"}}) + {_seen(source, "errors")}'
    return {"requests": "sum(mock_llm_requests_total)", "errors": f"(sum({errors}) or vector(0))",
            "tokens": f"sum(mock_llm_tokens_total{{{model}}})", "cost": "sum(mock_llm_cost_usd_total)"}[family]


def _source(source: str, family: str) -> str:
    """The source's own count since the start, read through its adapter's series and labels."""
    adapter = next(a for a in ADAPTERS if a.name == source)
    series = {"requests": [adapter.requests], "errors": [adapter.errors], "cost": [adapter.cost],
              "tokens": [adapter.input_tokens, adapter.output_tokens]}[family]
    total = " + ".join(f"(sum({relabel(read(s, '', ''), adapter.labels)}) or vector(0))" for s in series)
    return total


def _totals(prometheus: Running, source: str, family: str) -> tuple[float, float]:
    """The contract's and the source's totals, re-read for a few intervals until they agree: a scrape
    that fails (a timeout on a loaded machine) leaves a page stale for an interval."""
    deadline = time.monotonic() + 5 * INTERVAL_S
    while True:
        ours, theirs = value(prometheus, _seen(source, family)), value(prometheus, _source(source, family))
        if theirs == pytest.approx(ours, rel=1e-9, abs=1e-6) or time.monotonic() > deadline:
            return ours, theirs
        time.sleep(INTERVAL_S)


@pytest.mark.parametrize("source", SOURCES)
def test_the_same_calls_count_the_same(settled: dict[str, Running], source: str) -> None:
    """Totals since the start, once every call is scraped from both pages: equal."""
    prometheus = settled[source]
    families = ["requests", "errors"] + (["tokens"] if source != "otel" else []) + (
        ["cost"] if source == "litellm" else [])  # openai-v2 counts no streamed tokens; LiteLLM prices calls
    for family in families:
        ours, theirs = _totals(prometheus, source, family)
        assert ours > 0 or family == "errors", (family, ours)
        assert theirs == pytest.approx(ours, rel=1e-9, abs=1e-6), f"{source} {family}: {theirs} vs contract {ours}"


def _bucket(value: float, edges: tuple[float, ...]) -> int:
    """Index of the bucket (of the source's edges) that holds `value`."""
    return bisect.bisect_left(edges, value)


@pytest.mark.parametrize("source", SOURCES)
def test_the_same_calls_have_the_same_p95_latency_within_a_bucket(settled: dict[str, Running], source: str) -> None:
    """P95 end-to-end latency since the start, from the source's histogram and from the contract's
    for the calls it sees: in the same bucket of the source's edges, or the next one (each is
    interpolated within its own buckets)."""
    prometheus = settled[source]
    adapter = next(a for a in ADAPTERS if a.name == source)
    edges = SOURCE_RECORDS[source].metric(adapter.duration.names[0]).buckets
    layer_model = f'model="{SELF_HOSTED}"' if adapter.layer == "engine" else ""
    ours = value(prometheus, "histogram_quantile(0.95, sum by (le) "
                             f"(mock_llm_request_duration_seconds_bucket{{{layer_model}}}))")
    theirs = value(prometheus, "histogram_quantile(0.95, sum by (le) "
                               f"({relabel(read(adapter.duration, '', '', '_bucket'), adapter.labels)}))")
    assert ours > 0 and theirs > 0, (ours, theirs)
    assert abs(_bucket(theirs, edges) - _bucket(ours, edges)) <= 1, f"{source}: P95 {theirs} vs contract {ours}"

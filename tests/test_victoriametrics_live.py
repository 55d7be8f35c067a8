"""The stack on a clustered time-series database, live: a Prometheus pair in high availability
remote-writes to VictoriaMetrics (Debian's 1.79), vmalert evaluates the shipped recording and
alerting rules against it, and every dashboard query returns the same answer from
VictoriaMetrics as from Prometheus.

    two mock exporters (one job, two instances: replicas behind one service)
        -> Prometheus "a" and "b" (external label prometheus_replica, 1 s scrapes)
        -> remote_write: the shipped VictoriaMetrics block of prometheus/prometheus.yml, with its
           raw-series-only relabeling (vmalert evaluates the rules, not the Prometheus pair)
        -> VictoriaMetrics: drops prometheus_replica on ingestion (the relabeling docs/scaling.md
           shows), keeps one sample per second
        <- vmalert: the shipped rule files, recorded series and alert states written back

Prometheus "a" also evaluates the shipped rules on its own TSDB: it is the reference. Both
engines start from the same synthetic history (tests/support/history.py), so that every series is
older than every window below a day, as in steady operation.

The stated tolerance: VictoriaMetrics' answer equals, within 5% (or 0.001 absolute), Prometheus'
answer at some instant of the LAG_S seconds before, because vmalert reads what remote write
delivered, one evaluation and a flush behind Prometheus' own rules. One documented difference is
checked rather than tolerated: over a range longer than the data's history, VictoriaMetrics'
rate() divides by the time its samples cover, Prometheus' by the whole range (docs/scaling.md).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from grafana import generator
from grafana.generator.builder import PromQuery
from llm_exporter.config import load_budgets
from prometheus import generator as rules_generator
from prometheus.generator import config as cfg
from tests.e2e_support import alerting
from tests.support import dashboards as ds
from tests.support import history, promql, remote_write
from tests.support.doc_blocks import doc_block
from tests.support.processes import (
    CONFIG_DIR,
    Running,
    run_alertmanager,
    run_exporter,
    run_prometheus,
    wait_for,
)
from tests.support.victoriametrics import run_victoria_metrics, run_vmalert

pytestmark = pytest.mark.e2e

SCALING_DOC = Path(__file__).resolve().parents[1] / "docs" / "scaling.md"
INTERVAL = "1s"
JOB = "llm-exporter"
REPLICA_LABEL = "prometheus_replica"
WARM_UP_S = 3
LIVE_S = 15  # seconds of live scrapes at least, then until vmalert's chains have reached every query
SETTLE_TIMEOUT_S = 60
LAG_S = 4
RELATIVE_TOLERANCE = 0.05
ABSOLUTE_TOLERANCE = 1e-3
REGISTER_AGE_S = 600
RECHECKS = 2  # a difference that lag explains is gone a few seconds later; a real one stays
RATE_INTERVAL = "60s"  # Grafana's $__rate_interval at the shipped 15 s scrape interval (4 scrapes)
# Read through rate() over FORECAST_RATE_WINDOW, longer than the test's history: see the module doc.
RUN_RATE_SERIES = "department:llm_cost_usd:forecast_month"


@dataclass
class Stack:
    prometheus: Running  # replica "a": the reference
    victoria_metrics: Running
    vmalert: Running
    exporters: list[Running]
    history_start: float


def _fast_rule_copies(directory: Path) -> list[Path]:
    """The shipped rule files with every group evaluated each second (alerts' `for` unchanged)."""
    out = []
    for path in alerting.shipped_rule_files():
        document = yaml.safe_load(path.read_text())
        for group in document["groups"]:
            group["interval"] = INTERVAL
        copy = directory / path.name
        copy.write_text(yaml.safe_dump(document, sort_keys=False))
        out.append(copy)
    return out


def _prometheus_config(replica: str, targets: list[str], victoria_metrics: Running) -> dict:
    shipped = remote_write.block("VictoriaMetrics", optional=True)
    for entry in shipped:
        entry["url"] = victoria_metrics.url + "/api/v1/write"
        entry.setdefault("queue_config", {})["batch_send_deadline"] = "200ms"
    return {
        "global": {"scrape_interval": INTERVAL, "scrape_timeout": INTERVAL, "evaluation_interval": INTERVAL,
                   "external_labels": {REPLICA_LABEL: replica}},
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": targets}]}],
        "remote_write": shipped,
    }


def _history_series(exporters: list[Running]) -> list[history.Series]:
    """What each exporter exposes now, plus every label set it could expose later, at 0."""
    label_sets = history.mock_label_sets()
    time.sleep(WARM_UP_S)
    series = []
    for exporter in exporters:
        instance = exporter.url.removeprefix("http://")
        scraped = history.scraped_series(requests.get(exporter.url + "/metrics", timeout=5).text, JOB, instance)
        series += history.with_label_sets(scraped, label_sets, JOB, instance)
    return series


def _import(victoria_metrics: Running, text: str) -> None:
    response = requests.post(victoria_metrics.url + "/api/v1/import/prometheus", data=text.encode(), timeout=120)
    assert response.status_code == 204, response.text


def _read_over_ranges() -> set[str]:
    """Recorded series some rule or panel reads through a range ([1h], [7d]...)."""
    exprs = [r.expr for r in rules_generator.records()] + [expr for _, expr in dashboard_queries()]
    return {s.name for a in promql.analyse(ds.parsable(e) for e in exprs).values() for s in a.selectors if s.range}


def _register_recorded_series(prometheus: Running, victoria_metrics: Running) -> None:
    """VictoriaMetrics 1.79 makes a new series searchable about 10 s after its first sample, and
    the SLO panels read five levels of recorded series: vmalert would need most of a minute to
    fill them. One sample per recorded label set, REGISTER_AGE_S old, registers them: outside
    every instant query's 5-minute lookback, so it never stands in for a value vmalert has to
    compute; series read over a range (which would include it) are left to register themselves."""
    _wait_until_recorded(prometheus)
    response = requests.get(prometheus.url + "/api/v1/series", params={"match[]": '{__name__=~".+:.+"}'}, timeout=10)
    at_ms, ranged = round((time.time() - REGISTER_AGE_S) * 1000), _read_over_ranges()
    lines = [history.Series(labels.pop("__name__"), labels, 0.0).selector() + f" 0 {at_ms}\n"
             for labels in response.json()["data"] if labels["__name__"] not in ranged]
    _import(victoria_metrics, "".join(lines))


def _recorded_names(prometheus: Running) -> set[str]:
    response = requests.get(prometheus.url + "/api/v1/label/__name__/values", timeout=10)
    return {name for name in response.json()["data"] if ":" in name}


def _wait_until_recorded(prometheus: Running, timeout_s: float = 20) -> None:
    """Until two evaluations a second apart have recorded the same, non-empty set of names."""
    deadline, previous = time.monotonic() + timeout_s, set()
    while time.monotonic() < deadline:
        current = _recorded_names(prometheus)
        if current and current == previous:
            return
        previous = current
        time.sleep(1)
    raise TimeoutError("Prometheus' recorded series did not settle")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    rules = _fast_rule_copies(tmp_path_factory.mktemp("rules"))
    with contextlib.ExitStack() as processes:
        exporters = [processes.enter_context(run_exporter("--mode", "mock", "--mock-rps", "20", "--seed", seed))
                     for seed in ("11", "12")]
        victoria_metrics = processes.enter_context(run_victoria_metrics(
            relabel_config=doc_block(SCALING_DOC, "victoriametrics-relabel"),
            extra_args=["-dedup.minScrapeInterval=1s", "-search.latencyOffset=1s"]))
        alertmanager = processes.enter_context(run_alertmanager("route: {receiver: 'null'}\n"
                                                                "receivers: [{name: 'null'}]\n"))
        series = _history_series(exporters)
        end = time.time()
        _import(victoria_metrics, history.prometheus_import(series, end))
        storage = history.create_blocks(series, end, tmp_path_factory.mktemp("history"))
        targets = [e.url.removeprefix("http://") for e in exporters]
        prometheus = processes.enter_context(run_prometheus(_prometheus_config("a", targets, victoria_metrics),
                                                            rules, storage=storage))
        processes.enter_context(run_prometheus(_prometheus_config("b", targets, victoria_metrics), rules))
        _register_recorded_series(prometheus, victoria_metrics)
        vmalert = processes.enter_context(run_vmalert(
            rules, victoria_metrics.url, victoria_metrics.url, alertmanager.url,
            ["-evaluationInterval=1s", "-remoteWrite.flushInterval=200ms"]))
        time.sleep(LIVE_S)
        yield Stack(prometheus, victoria_metrics, vmalert, exporters, end - history.HISTORY_S)


# -- querying ----------------------------------------------------------------------------------


Result = dict[frozenset, float]


def query(server: Running, expr: str, at: float) -> Result:
    response = requests.get(f"{server.url}/api/v1/query", params={"query": expr, "time": f"{at:.3f}"}, timeout=20)
    body = response.json()
    assert body.get("status") == "success", f"{server.url}: {expr!r}: {body}"
    data = body["data"]
    if data["resultType"] == "scalar":
        return {frozenset(): float(data["result"][1])}
    return {frozenset(s["metric"].items()): float(s["value"][1]) for s in data["result"]}


def query_range(server: Running, expr: str, start: float, end: float) -> list[Result]:
    """The answer at each second from `start` to `end`, as instant queries would give it."""
    response = requests.get(f"{server.url}/api/v1/query_range", timeout=20,
                            params={"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": "1"})
    body = response.json()
    assert body.get("status") == "success", f"{server.url}: {expr!r}: {body}"
    steps = round(end - start) + 1
    out: list[Result] = [{} for _ in range(steps)]
    for series in body["data"]["result"]:
        labels = frozenset(series["metric"].items())
        for t, value in series["values"]:
            out[round(float(t) - start)][labels] = float(value)
    return out


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every Prometheus query of every dashboard, variables at All."""
    committed = ds.load_dashboards()
    out = []
    for dashboard in generator.dashboards():
        for panel, target in dashboard.queries():
            if isinstance(target, PromQuery):
                expr = target.expr.replace("$__rate_interval", RATE_INTERVAL)
                out.append((f"{dashboard.uid} / {panel.title!r}", ds.expand(expr, committed[dashboard.uid])))
    # Parse every query and rule in one node run (series_read would start node once per miss).
    promql.analyse(ds.parsable(e) for e in [*(expr for _, expr in out), *ds.recording_rules().values()])
    return out


def series_read(expr: str) -> set[str]:
    """Every series name `expr` reads, recorded series and what their rules read included."""
    rules, seen = ds.recording_rules(), set()
    pending = list(ds.metric_names(expr))
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending += ds.metric_names(rules[name]) if name in rules else []
    return seen


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= max(ABSOLUTE_TOLERANCE, RELATIVE_TOLERANCE * max(abs(a), abs(b)))


def _within(value: float, references: list[float]) -> bool:
    """`value` equals one of the references, or lies between two of them, within the tolerance."""
    finite = [r for r in references if not math.isnan(r)]
    if any(_close(value, r) for r in references):
        return True
    return bool(finite) and min(finite) <= value <= max(finite)


def run_rate_factor(stack: Stack, at: float) -> float:
    """VictoriaMetrics / Prometheus for rate() over FORECAST_RATE_WINDOW on this history: the
    window over the time the samples cover."""
    return cfg.seconds(cfg.FORECAST_RATE_WINDOW) / (at - stack.history_start)


def compare(stack: Stack, where: str, expr: str, at: float) -> list[str]:
    victoria = query(stack.victoria_metrics, expr, at)
    # Newest first. One second ahead too: the other replica may have scraped a call "a" has not yet.
    references = query_range(stack.prometheus, expr, at - LAG_S, at + 1)[::-1]
    factor = run_rate_factor(stack, at) if RUN_RATE_SERIES in series_read(expr) else 1.0
    problems = []
    known = set().union(*references)
    if not set(victoria) <= known or not set(references[-1]) <= set(victoria):
        problems.append(f"{where}: series differ: only Prometheus {set(references[0]) - set(victoria)}, "
                        f"only VictoriaMetrics {set(victoria) - known}")
    for labels, value in victoria.items():
        candidates = [r[labels] * factor for r in references if labels in r]
        if candidates and not _within(value, candidates):
            problems.append(f"{where}: {dict(labels)}: VictoriaMetrics {value:.6g}, Prometheus over the last "
                            f"{LAG_S} s {min(candidates):.6g}..{max(candidates):.6g}"
                            + (f" (x{factor:.2f}, rate over a window longer than the history)" if factor != 1 else ""))
    return [f"{p}\n    {expr}" for p in problems]


# -- tests -------------------------------------------------------------------------------------


def test_every_dashboard_query_gives_the_same_answer(stack: Stack) -> None:
    pending = dashboard_queries()
    assert len(pending) > 50
    empty = [(w, e) for w, e in pending if not query(stack.prometheus, e, time.time() - 1)]
    assert not empty, f"queries without data in Prometheus: {empty}"
    # vmalert's recorded series reach VictoriaMetrics one chain level at a time (the SLO panels
    # read five levels of recording rules); wait until every query has an answer there too.
    wait_for(lambda: all(query(stack.victoria_metrics, e, time.time() - 2) for _, e in pending),
             SETTLE_TIMEOUT_S, "every dashboard query to have data in VictoriaMetrics", interval=1)
    problems: list[list[str]] = []
    for attempt in range(RECHECKS + 1):
        if attempt:
            time.sleep(LAG_S)
        at = time.time() - 2
        started = time.monotonic()
        results = [(where, expr, compare(stack, where, expr, at)) for where, expr in pending]
        print(f"attempt {attempt}: {len(pending)} queries in {time.monotonic() - started:.1f} s, "
              f"{sum(1 for r in results if r[2])} differ")
        pending = [(where, expr) for where, expr, found in results if found]
        problems = [found for _, _, found in results if found]
        if not pending:
            break
    assert not problems, "\n".join(p for found in problems for p in found)


def test_vmalert_evaluates_every_shipped_rule_without_error(stack: Stack) -> None:
    groups = requests.get(stack.vmalert.url + "/api/v1/rules", timeout=10).json()["data"]["groups"]
    loaded = sorted((g["name"], r["name"]) for g in groups for r in g["rules"])
    assert loaded == sorted((g.name, r.name) for g in rules_generator.groups() for r in g.rules)
    failing = [(r["name"], r["lastError"]) for g in groups for r in g["rules"] if r["health"] != "ok" or r["lastError"]]
    assert not failing, failing


def test_the_ha_pair_is_stored_once(stack: Stack) -> None:
    """Both Prometheus servers write every raw series; VictoriaMetrics keeps one series per label
    set (the replica label dropped) and one sample per scrape interval."""
    at = time.time() - 2
    every_series = f'count({{__name__=~"llm_.+", job="{JOB}"}})'
    assert query(stack.victoria_metrics, every_series, at) == query(stack.prometheus, every_series, at)
    assert not query(stack.victoria_metrics, f'count({{{REPLICA_LABEL}!=""}})', at)
    samples = f'sum(count_over_time(llm_requests_total{{job="{JOB}"}}[20s]))'
    stored, scraped = query(stack.victoria_metrics, samples, at)[frozenset()], query(stack.prometheus, samples, at)[
        frozenset()]
    assert stored <= scraped * 1.1, f"{stored} samples stored for {scraped} scraped by one replica: not deduplicated"


def test_two_exporter_replicas_count_once(stack: Stack) -> None:
    """Traffic is the sum over the replicas; what every replica repeats (budgets, objectives)
    is counted once, in both engines."""
    budgets = load_budgets(CONFIG_DIR / "budgets.yaml").departments
    at = time.time() - 2
    per_instance = f'sum by (instance) (rate(llm_requests_total{{job="{JOB}"}}[5m]))'
    for engine in (stack.prometheus, stack.victoria_metrics):
        assert len(query(engine, per_instance, at)) == len(stack.exporters)
        recorded = query(engine, "sum(app_model:llm_requests:rate5m)", at)[frozenset()]
        # The recorded total, against the replicas' raw rates added up over the last LAG_S seconds.
        raw_totals = [sum(r.values()) for r in query_range(engine, per_instance, at - LAG_S, at + 1)]
        assert _within(recorded, raw_totals), (engine.url, recorded, raw_totals)
        daily = {dict(k)["department"]: v for k, v in query(engine, "department:llm_budget_usd:daily", at).items()}
        assert daily == {name: budget.daily for name, budget in budgets.items()}, engine.url
        target = query(engine, "llm:slo_availability_target", at)
        assert list(target.values()) == [cfg.AVAILABILITY_OBJECTIVE.default], engine.url

"""The stack on a clustered time-series database, live: a Prometheus pair in high availability
remote-writes to VictoriaMetrics (Debian's 1.79), vmalert evaluates the shipped recording and
alerting rules against it, and every dashboard query returns the same answer from
VictoriaMetrics as from Prometheus.

    two mock exporters (one job, two instances: replicas behind one service), each also serving
    its calls as a vLLM engine shows them (job "vllm", prometheus/targets/vllm.yml.example: the
    engine panels and the engine adapter's rules get data)
        -> Prometheus "a" and "b" (external label prometheus_replica, 1 s scrapes)
        -> remote_write: the shipped VictoriaMetrics block of prometheus/prometheus.yml, with its
           raw-series-only relabeling (vmalert evaluates the rules, not the Prometheus pair)
        -> VictoriaMetrics: drops prometheus_replica on ingestion (the relabeling docs/scaling.md
           shows), keeps one sample per second
        <- vmalert: the shipped rule files, recorded series and alert states written back

Prometheus "a" also evaluates the shipped rules on its own TSDB: it is the reference. Both
engines start from the same synthetic history (tests/support/history.py), so that every series is
older than every window below a day, as in steady operation. The SLO windows (1 h to 30 d) average
recorded 5-minute rates, so their figures depend on when rule evaluation began: before vmalert
starts, the recorded samples Prometheus "a" has made so far are copied into VictoriaMetrics (as
`vmalert -replay` would backfill them), and once more just after, so that both engines average the
same samples and vmalert carries on from there. The copy also registers every recorded series:
VictoriaMetrics 1.79 makes a new series searchable only seconds after its first sample, and
vmalert's chains (up to six levels under a panel) would otherwise start level by level, each
later than Prometheus'.

The stated tolerance: VictoriaMetrics' answer equals, within 5% (or 0.001 absolute), the answer
of one of the pair (both start from the history) at some instant of the seconds before: LAG_S,
plus LEVEL_LAG_S for each level of recorded series under the query, because vmalert reads what
remote write delivered, and each level is one evaluation, a flush and VictoriaMetrics' latency
offset behind the one it reads (Prometheus evaluates a chain in one pass). Young data moves fast:
the month-end forecast, five levels deep, grows by a few percent a second in this test.
VictoriaMetrics keeps one sample a second from either replica's scrapes, so a gauge that moves
within a second (calls in flight) may match "b" where it misses "a".

One documented difference is checked rather than tolerated (no shipped rule or panel meets it):
over a range longer than the data's history, VictoriaMetrics' rate() divides by the time its
samples cover, Prometheus' by the whole range (docs/scaling.md).
"""

from __future__ import annotations

import contextlib
import math
import shutil
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

REPO = Path(__file__).resolve().parents[1]
SCALING_DOC = REPO / "docs" / "scaling.md"
INTERVAL = "1s"
JOB = "llm-exporter"
ENGINE = "vllm"  # the engine dialect the exporters also serve (/sources/vllm/metrics)
REPLICA_LABEL = "prometheus_replica"
WARM_UP_S = 3
LIVE_S = 15  # after vmalert starts: every level (up to six, LEVEL_LAG_S each) has been recomputed by vmalert,
# so that the answers compared are its own, not the copied samples
SETTLE_TIMEOUT_S = 60
LAG_S = 4
LEVEL_LAG_S = 2.5  # the 1 s evaluation interval, the 200 ms flush, the 1 s latency offset
RELATIVE_TOLERANCE = 0.05
ABSOLUTE_TOLERANCE = 1e-3
RECHECKS = 2  # a difference that lag explains is gone a few seconds later; a real one stays
RATE_INTERVAL = "60s"  # Grafana's $__rate_interval at the shipped 15 s scrape interval (4 scrapes)
# A heatmap cell: sum_over_time() of the recorded minutes (evaluated each second here) over many
# samples, so that one sample more or less at the window's edge (the engines differ) stays small.
CELL_INTERVAL = "60s"
LONG_RANGE = "7d"  # longer than the test's history: the documented rate() difference
# Every series the shipped rules record (vLLM's and SGLang's raw names have colons too).
RECORDED_NAMES = frozenset(r.name for r in rules_generator.records())
RECORDED = f'{{__name__=~"{"|".join(sorted(RECORDED_NAMES))}"}}'


@dataclass
class Stack:
    prometheus: Running  # replica "a": the reference
    replica_b: Running
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
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": targets}]}, _engine_job(targets)],
        "remote_write": shipped,
    }


def _engine_job(targets: list[str]) -> dict:
    """The engine's target-file example (its job name and labels), pointed at the exporters' pages."""
    (entry,) = yaml.safe_load((REPO / "prometheus" / "targets" / f"{ENGINE}.yml.example").read_text())
    labels = dict(entry["labels"])
    return {"job_name": labels.pop("job"), "metrics_path": f"/sources/{ENGINE}/metrics",
            "static_configs": [{"targets": targets, "labels": labels}]}


def _history_series(exporters: list[Running]) -> list[history.Series]:
    """What each exporter exposes now, plus every label set it could expose later, at 0. The
    engine's page has every series of a model from that model's first call on (finish reasons
    up front, every bucket), and the fleet has one self-hosted model: once the page shows
    anything, it shows every series it will."""
    label_sets = history.mock_label_sets()
    engine_job = _engine_job([])
    engine_labels = engine_job["static_configs"][0]["labels"]

    def engine_page(exporter: Running) -> str:
        return requests.get(exporter.url + engine_job["metrics_path"], timeout=5).text

    time.sleep(WARM_UP_S)
    wait_for(lambda: all(engine_page(e) for e in exporters), 30, f"a self-hosted call on each {ENGINE} page")
    series = []
    for exporter in exporters:
        instance = exporter.url.removeprefix("http://")
        scraped = history.scraped_series(requests.get(exporter.url + "/metrics", timeout=5).text, JOB, instance)
        series += history.with_label_sets(scraped, label_sets, JOB, instance)
        engine = history.scraped_series(engine_page(exporter), engine_job["job_name"], instance)
        series += [history.Series(s.name, {**s.labels, **engine_labels}, s.value) for s in engine]
    return series


def _import(victoria_metrics: Running, text: str) -> None:
    response = requests.post(victoria_metrics.url + "/api/v1/import/prometheus", data=text.encode(), timeout=120)
    assert response.status_code == 204, response.text


@dataclass
class Copy:
    text: str  # VictoriaMetrics import text
    names: set[str]  # the recorded names with a number among them (VictoriaMetrics drops NaN samples)
    at: float  # the time Prometheus was read at


def _recorded_samples(prometheus: Running, after: float | None) -> Copy:
    """Every sample of every recorded series Prometheus holds, newer than `after` (all when None)."""
    at = time.time()
    window = f"{math.ceil(at - after) + 1}s" if after is not None else "1h"
    response = requests.get(prometheus.url + "/api/v1/query", timeout=30,
                            params={"query": f"{RECORDED}[{window}]", "time": f"{at:.3f}"})
    lines, names = [], set()
    for series in response.json()["data"]["result"]:
        labels = dict(series["metric"])
        name = labels.pop("__name__")
        selector = history.Series(name, labels, 0.0).selector()
        samples = [(float(t), value) for t, value in series["values"] if after is None or float(t) > after]
        lines += [f"{selector} {value} {round(t * 1000)}\n" for t, value in samples]
        names |= {name} if any(value != "NaN" for _, value in samples) else set()
    return Copy("".join(lines), names, at)


def _copy_recorded_series(prometheus: Running, victoria_metrics: Running) -> float:
    """Copies what Prometheus has recorded into VictoriaMetrics and waits until every copied name
    is searchable there; returns the time copied up to."""
    _wait_until_recorded(prometheus)
    copy = _recorded_samples(prometheus, None)
    _import(victoria_metrics, copy.text)
    wait_for(lambda: _recorded_names(victoria_metrics) >= copy.names, 30, "the copied recorded series to be searchable")
    return copy.at


def _recorded_names(prometheus: Running) -> set[str]:
    response = requests.get(prometheus.url + "/api/v1/label/__name__/values", timeout=10)
    return set(response.json()["data"]) & RECORDED_NAMES


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
        storage_b = shutil.copytree(storage, tmp_path_factory.mktemp("history-b") / "data")
        prometheus = processes.enter_context(run_prometheus(_prometheus_config("a", targets, victoria_metrics),
                                                            rules, storage=storage))
        replica_b = processes.enter_context(run_prometheus(_prometheus_config("b", targets, victoria_metrics),
                                                           rules, storage=storage_b))
        copied = _copy_recorded_series(prometheus, victoria_metrics)
        vmalert = processes.enter_context(run_vmalert(
            rules, victoria_metrics.url, victoria_metrics.url, alertmanager.url,
            ["-evaluationInterval=1s", "-remoteWrite.flushInterval=200ms"]))
        _import(victoria_metrics, _recorded_samples(prometheus, copied).text)  # what it recorded meanwhile
        time.sleep(LIVE_S)
        yield Stack(prometheus, replica_b, victoria_metrics, vmalert, exporters, end - history.HISTORY_S)


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
                expr = target.expr.replace("$__rate_interval", RATE_INTERVAL).replace("$__interval", CELL_INTERVAL)
                out.append((f"{dashboard.uid} / {panel.title!r}", ds.expand(expr, committed[dashboard.uid])))
    # Parse every query and rule in one node run (levels() would start node once per miss).
    promql.analyse(ds.parsable(e) for e in [*(expr for _, expr in out), *ds.recording_rules().values()])
    return out


def levels(expr: str) -> int:
    """How many levels of recorded series lie under `expr` (0: it reads raw series only)."""
    rules = ds.recording_rules()
    return max((1 + levels(rules[name]) for name in ds.metric_names(expr) if name in rules), default=0)


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


def compare(stack: Stack, where: str, expr: str, at: float) -> list[str]:
    victoria = query(stack.victoria_metrics, expr, at)
    # Each replica's answers, newest first. One second ahead too: a replica may have scraped a call
    # the other has not yet.
    lag = LAG_S + LEVEL_LAG_S * levels(expr)
    a, b = (query_range(p, expr, at - lag, at + 1)[::-1] for p in (stack.prometheus, stack.replica_b))
    problems = []
    known = set().union(*a, *b)
    if not set(victoria) <= known or not set(a[-1]) <= set(victoria):
        problems.append(f"{where}: series differ: only Prometheus {set(a[0]) - set(victoria)}, "
                        f"only VictoriaMetrics {set(victoria) - known}")
    for labels, value in victoria.items():
        candidates = [r[labels] for r in (*a, *b) if labels in r]
        if candidates and not _within(value, candidates):
            problems.append(f"{where}: {dict(labels)}: VictoriaMetrics {value:.6g}, the Prometheus pair over the "
                            f"last {lag:g} s {min(candidates):.6g}..{max(candidates):.6g}")
    return [f"{p}\n    {expr}" for p in problems]


def _wait_for_data(server: Running, queries: list[tuple[str, str]], engine: str) -> None:
    """Until every query has an answer from `server` (SETTLE_TIMEOUT_S at most)."""
    deadline, empty = time.monotonic() + SETTLE_TIMEOUT_S, queries
    while empty and time.monotonic() < deadline:
        empty = [(where, expr) for where, expr in empty if not query(server, expr, time.time() - 2)]
        time.sleep(1 if empty else 0)
    assert not empty, f"queries without data in {engine} after {SETTLE_TIMEOUT_S} s: {empty}"


# -- tests -------------------------------------------------------------------------------------


# Compared through their inputs, not on their own, in a test whose history is shorter than their
# windows. The 30-day error-budget panels divide a handful of errors by a budget of 0.5% of a few
# minutes' calls: one error scraped earlier or later moves them by a whole budget. The quality
# shares divide a rate of rare events, whose series is born at the first one, by the call rate:
# over less history than the 5-minute window the engines' rate() differs for series of different
# ages (docs/scaling.md). Their recorded numerators and denominators are in the other panels.
SHORT_HISTORY_PANELS = ("Error budget remaining", "Flagged share of calls", "Negative feedback share")


def test_every_dashboard_query_gives_the_same_answer(stack: Stack) -> None:
    every = dashboard_queries()
    pending = [(where, expr) for where, expr in every if not any(t in where for t in SHORT_HISTORY_PANELS)]
    print(f"not compared (a few minutes of history): {sorted(w for w, _ in every if (w, _) not in pending)}")
    assert len(pending) > 50
    # A scrape that misses its 1 s timeout on a loaded machine leaves a gap: wait it out.
    _wait_for_data(stack.prometheus, pending, "Prometheus")
    # vmalert's recorded series reach VictoriaMetrics one chain level at a time (the SLO panels
    # read up to six levels of recording rules); wait until every query has an answer there too.
    _wait_for_data(stack.victoria_metrics, pending, "VictoriaMetrics")
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
        total = "sum(app_model:llm_requests:rate5m)"
        recorded = query(engine, total, at)[frozenset()]
        # The recorded total, against the replicas' raw rates added up over the seconds it may lag.
        lag = LAG_S + LEVEL_LAG_S * levels(total)
        raw_totals = [sum(r.values()) for r in query_range(engine, per_instance, at - lag, at + 1)]
        assert _within(recorded, raw_totals), (engine.url, recorded, raw_totals)
        daily = {dict(k)["department"]: v for k, v in query(engine, "department:llm_budget_usd:daily", at).items()}
        assert daily == {name: budget.daily for name, budget in budgets.items()}, engine.url
        target = query(engine, "llm:slo_availability_target", at)
        assert list(target.values()) == [cfg.AVAILABILITY_OBJECTIVE.default], engine.url


def test_rate_over_a_range_longer_than_the_data(stack: Stack) -> None:
    """The documented difference (docs/scaling.md): VictoriaMetrics divides the increase by the
    time the samples cover, Prometheus by the whole range."""
    at = time.time() - 2
    expr = f'sum(rate(llm_requests_total{{job="{JOB}"}}[{LONG_RANGE}]))'
    victoria = query(stack.victoria_metrics, expr, at)[frozenset()]
    prometheus = [r[frozenset()] for r in query_range(stack.prometheus, expr, at - LAG_S, at + 1)]
    expected = cfg.seconds(LONG_RANGE) / (at - stack.history_start)
    assert _within(victoria, [p * expected for p in prometheus]), (victoria, prometheus, expected)

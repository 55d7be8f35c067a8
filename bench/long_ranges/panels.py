"""Every Prometheus query of every dashboard, timed as Grafana would send it over a long range.

Grafana asks a time-series panel for about one point per pixel of its width: the interval is
(range / width in pixels) rounded to a "nice" value by roundInterval (grafana-data
src/datetime/rangeutil.ts), never below the datasource's `timeInterval` (15 s in
grafana/provisioning/datasources/datasources.yaml) or the query's own minimum interval; the
Prometheus datasource sends it as `step`. `$__rate_interval` is max(interval + scrape interval,
4 x scrape interval). Instant queries (table and stat panels set so) run once, at the end.
Widths assume a 1920-pixel screen (a 24-column grid about 1900 pixels wide).
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from grafana import generator
from grafana.generator.builder import Panel, PromQuery

REPO = Path(__file__).resolve().parents[2]
DATASOURCES = REPO / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
GRID_PX = 1900
RANGES = {"24h": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}
ALL = ".*"  # every variable at All (allValue): the most series a panel ever reads
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# roundInterval: (below this many ms, use that many ms).
_ROUND = ((15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000), (3500, 2000),
          (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000), (90000, 60000),
          (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000), (1500000, 1200000),
          (2700000, 1800000), (5400000, 3600000), (9000000, 7200000), (16200000, 10800000),
          (32400000, 21600000), (86400000, 43200000), (604800000, 86400000), (1814400000, 604800000),
          (3628800000, 2592000000))


def seconds(duration: str) -> float:
    parts = _DURATION.findall(duration)
    return sum(int(n) * _UNITS[u] for n, u in parts)


def round_interval_ms(interval_ms: float) -> int:
    return next((nice for below, nice in _ROUND if interval_ms < below), 31_536_000_000)


def scrape_interval_s() -> float:
    prometheus = next(d for d in yaml.safe_load(DATASOURCES.read_text())["datasources"] if d["uid"] == "prometheus")
    return seconds(prometheus["jsonData"]["timeInterval"])


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref: str
    width: int  # grid columns of 24
    query: PromQuery
    min_interval_s: float

    def step(self, range_s: float, scrape_s: float) -> float:
        pixels = round(self.width * GRID_PX / 24)
        return max(round_interval_ms(range_s * 1000 / pixels) / 1000, scrape_s, self.min_interval_s)

    def expr(self, range_s: float, scrape_s: float) -> str:
        step = self.step(range_s, scrape_s)
        builtins = {"__interval": step, "__auto": step, "__range": range_s,
                    "__rate_interval": max(step + scrape_s, 4 * scrape_s)}
        text = self.query.expr
        for name, value in builtins.items():
            text = text.replace(f"${{{name}}}", f"{value:.0f}s").replace(f"${name}", f"{value:.0f}s")
        return re.sub(r"\$\{?\w+(?::\w+)?\}?", ALL, text)


def panel_queries() -> Iterator[PanelQuery]:
    for dashboard in generator.dashboards():
        for panel in dashboard.panels:
            for ref, query in zip("ABCDEFGHIJ", panel.targets, strict=False):
                if isinstance(query, PromQuery):
                    yield PanelQuery(dashboard.uid, panel.title, ref, panel.w, query, _min_interval(panel, query))


def _min_interval(panel: Panel, query: PromQuery) -> float:
    return max(seconds(query.interval or "0s"), seconds(panel.interval or "0s"))


@dataclass(frozen=True)
class Timing:
    seconds: float  # median of the timed runs
    series: int


def time_query(session: requests.Session, url: str, expr: str, *, instant: bool, end_s: float, range_s: float,
               step_s: float, runs: int) -> Timing:
    """Median wall time of `runs` executions after one untimed warm-up run."""
    if instant:
        path, params = "/api/v1/query", {"query": expr, "time": end_s}
    else:
        start = (end_s - range_s) // step_s * step_s  # Grafana aligns the range to the step
        path, params = "/api/v1/query_range", {"query": expr, "start": start, "end": end_s, "step": step_s}
    durations, series = [], 0
    for attempt in range(runs + 1):
        started = time.perf_counter()
        response = session.post(url + path, data=params, timeout=600)
        elapsed = time.perf_counter() - started
        body = response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"{expr!r}: {body.get('error')}")
        series = len(body["data"]["result"])
        if attempt:
            durations.append(elapsed)
    return Timing(statistics.median(durations), series)


_RECORDED = re.compile(r"[a-zA-Z_]\w*:[\w:]+")


def _instant(session: requests.Session, url: str, expr: str, at: float) -> dict[frozenset, float]:
    body = session.post(url + "/api/v1/query", data={"query": expr, "time": at}, timeout=600).json()
    if body.get("status") != "success":
        raise RuntimeError(f"{expr!r}: {body.get('error')}")
    result = body["data"]["result"]
    if body["data"]["resultType"] == "scalar":
        return {frozenset(): float(result[1])}
    return {frozenset(r["metric"].items()): float(r["value"][1]) for r in result}


def same_answer(session: requests.Session, url: str, raw: str, recorded: str, at: float,
                tolerance: float = 0.01, of_largest: bool = False) -> str:
    """"yes" when the query over recorded series at `at` gives the series and values (within
    `tolerance` of each value, or with `of_largest` of the largest value in the answer) that the
    raw query gives at the time those recorded series were last evaluated."""
    new = set(_RECORDED.findall(recorded)) - set(_RECORDED.findall(raw))
    evaluated = max(v for name in new for v in _instant(session, url, f"max(timestamp({name}))", at).values())
    a = _instant(session, url, raw, evaluated)
    b = _instant(session, url, recorded, at)
    if set(a) != set(b):
        return f"no: {len(a)} vs {len(b)} series"
    largest = max((abs(v) for v in (*a.values(), *b.values())), default=0.0)
    worst = max((abs(a[k] - b[k]) / max(largest if of_largest else max(abs(a[k]), abs(b[k])), 1e-12) for k in a),
                default=0.0)
    return "yes" if worst <= tolerance else f"no: differ by {worst:.1%}"

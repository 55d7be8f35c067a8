"""Synthetic history for live tests that compare query engines: every series an exporter exposes
now, with HISTORY_S of past samples at its current value.

Compared on series younger than a range window, two engines differ in how they treat a series
that starts inside the window (Prometheus divides the increase by the whole window,
VictoriaMetrics by the time its samples cover), which says nothing about the queries. With this
history every series is older than every window below a day. Counters stay at 0 and gauges at
their current value, so the history adds no increase of its own (the step from 0 to the first
live scrape is counted alike by both engines) and the spacing of its samples cannot matter. The
last TAIL_S are sampled about as often as the live scrapes, so that a 5-minute window starts in
uniformly spaced samples, as in steady operation.

A series the exporter has not exposed yet (the first timeout of a rarely used model) would still
be born during the test, so the history also holds, at 0, every label set the mock fleet can
produce (`mock_label_sets`: the exporter's own simulator and recorder, run offline through every
scenario).

Both engines receive the same samples: Prometheus as TSDB blocks
(`promtool tsdb create-blocks-from openmetrics`), VictoriaMetrics through /api/v1/import/prometheus.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from llm_exporter.config import load_budgets, load_pricing
from llm_exporter.mock.scenarios import SCENARIOS
from llm_exporter.mock.simulator import Simulator
from llm_exporter.recorder import Recorder
from tests.support.processes import CONFIG_DIR, require_binary

HISTORY_S = 7 * 3_600  # longer than every window below a day (burn-rate windows up to 6 h)
STEP_S = 1_800
TAIL_S = 300
TAIL_STEP_S = 2


COUNTER_TYPES = frozenset({"counter", "histogram", "summary"})


@dataclass(frozen=True)
class Series:
    name: str
    labels: dict[str, str]
    value: float  # what the history holds: 0 for counters, the scraped value for gauges

    def selector(self) -> str:
        labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(self.labels.items()))
        return f"{self.name}{{{labels}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def scraped_series(metrics_text: str, job: str, instance: str, counters_only: bool = False) -> list[Series]:
    """The series Prometheus would store from this scrape (`job` and `instance` added), with the
    value their history holds."""
    out = []
    for family in text_string_to_metric_families(metrics_text):
        counter = family.type in COUNTER_TYPES
        if counters_only and not counter:
            continue
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                out.append(Series(sample.name, {**sample.labels, "job": job, "instance": instance},
                                  0.0 if counter else float(sample.value)))
    return out


def mock_label_sets(calls_per_scenario: int = 4_000, seed: int = 5) -> list[Series]:
    """Every counter and histogram series the mock fleet's calls produce, through every scenario,
    at value 0 (gauges hold a value from their first scrape on: they are never born late)."""
    recorder = Recorder(load_pricing(CONFIG_DIR / "pricing.yaml"), load_budgets(CONFIG_DIR / "budgets.yaml"),
                        mode="mock", version="history")
    registry = CollectorRegistry()
    registry.register(recorder)
    for scenario in SCENARIOS:
        simulator = Simulator(recorder, rps=50, seed=seed, scenario=scenario)
        for index in range(calls_per_scenario):
            recorder.record(simulator.make_call(simulator.started_at + index / 50))
    return scraped_series(generate_latest(registry).decode(), "", "", counters_only=True)


def with_label_sets(scraped: list[Series], label_sets: list[Series], job: str, instance: str) -> list[Series]:
    """`scraped` plus, at 0, each of `label_sets` it does not have (for that job and instance)."""
    have = {(s.name, frozenset(s.labels.items())) for s in scraped}
    out = list(scraped)
    for s in label_sets:
        labels = {**s.labels, "job": job, "instance": instance}
        if (s.name, frozenset(labels.items())) not in have:
            out.append(Series(s.name, labels, 0.0))
    return out


def timestamps(end_s: float) -> list[float]:
    """Sample times, oldest first, ending at `end_s`: every STEP_S, then every TAIL_STEP_S."""
    sparse = [end_s - HISTORY_S + i * STEP_S for i in range((HISTORY_S - TAIL_S) // STEP_S)]
    tail = [end_s - TAIL_S + i * TAIL_STEP_S for i in range(TAIL_S // TAIL_STEP_S + 1)]
    return sparse + tail


def _lines(series: list[Series], end_s: float, timestamp: Callable[[float], str]) -> Iterator[str]:
    times = [timestamp(t) for t in timestamps(end_s)]
    for s in series:
        prefix = f"{s.selector()} {s.value!r} "
        for t in times:
            yield prefix + t + "\n"


def openmetrics(series: list[Series], end_s: float) -> str:
    """OpenMetrics text (timestamps in seconds) for `promtool tsdb create-blocks-from openmetrics`."""
    return "".join(_lines(series, end_s, lambda t: f"{t:.3f}")) + "# EOF\n"


def prometheus_import(series: list[Series], end_s: float) -> str:
    """Prometheus text with millisecond timestamps (VictoriaMetrics /api/v1/import/prometheus)."""
    return "".join(_lines(series, end_s, lambda t: str(round(t * 1000))))


def create_blocks(series: list[Series], end_s: float, workdir: Path) -> Path:
    """TSDB blocks holding the history, in `workdir`/data (a Prometheus storage directory)."""
    source = workdir / "history.om"
    source.write_text(openmetrics(series, end_s))
    data = workdir / "data"
    result = subprocess.run([require_binary("promtool"), "tsdb", "create-blocks-from", "openmetrics",
                             str(source), str(data)], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"promtool create-blocks-from openmetrics failed:\n{result.stdout}\n{result.stderr}")
    source.unlink()
    return data

"""Days of the mock fleet as Prometheus would have scraped them, built in minutes.

The exporter's own runtime (simulator, recorder, mock GPUs, objectives; the same wiring as
`llm-exporter --mode mock`) runs on a simulated clock: every SCRAPE_S the calls that arrived are
started, those whose simulated duration has passed are recorded, and the registry is read as a
scrape would read it. Samples go to one OpenMetrics file per 2-hour TSDB block, each turned into
a block by `promtool tsdb create-blocks-from openmetrics` while the next one is simulated.
"""

from __future__ import annotations

import heapq
import itertools
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from llm_exporter.recorder import LLMCall
from llm_exporter.runtime import Runtime, build_runtime
from llm_exporter.settings import parse_settings

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "exporter" / "config"
BLOCK_S = 2 * 3600  # promtool writes one block per aligned 2-hour range
JOB, INSTANCE = "llm-exporter", "exporter:9101"


@dataclass(frozen=True)
class FleetSpec:
    days: int
    scrape_s: int
    rps: float
    seed: int
    end_s: int  # the last scrape, aligned to a block boundary

    @property
    def start_s(self) -> int:
        return self.end_s - self.days * 86_400


def mock_runtime(spec: FleetSpec) -> Runtime:
    """The exporter's mock-mode runtime, without its per-call logs and traces (not metrics)."""
    os.environ.setdefault("OTEL_SDK_DISABLED", "true")
    settings = parse_settings(["--mode", "mock", "--mock-rps", str(spec.rps), "--seed", str(spec.seed),
                               "--pricing-file", str(CONFIG / "pricing.yaml"),
                               "--budgets-file", str(CONFIG / "budgets.yaml"),
                               "--objectives-file", str(CONFIG / "objectives.yaml")], environ={})
    runtime = build_runtime(settings)
    runtime.recorder.listeners.clear()
    runtime.recorder.trace_policy = None
    return runtime


class SimulatedScrapes:
    """The fleet on a simulated clock; `scrape(t)` advances it to `t` and returns the samples."""

    def __init__(self, spec: FleetSpec) -> None:
        self.spec = spec
        self.runtime = mock_runtime(spec)
        self.now = float(spec.start_s)
        simulator = self.runtime.simulator
        assert simulator is not None
        simulator.clock = lambda: self.now
        simulator.started_at = self.now
        self._pending: list[tuple[float, int, LLMCall]] = []
        self._sequence = itertools.count()
        self._selectors: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}

    def _advance(self, t: float) -> None:
        simulator, recorder = self.runtime.simulator, self.runtime.recorder
        assert simulator is not None
        for call in simulator.arrivals(t, t - self.now):
            recorder.call_started(call.provider, call.model)
            heapq.heappush(self._pending, (t + call.duration_s, next(self._sequence), call))
        self.now = t
        while self._pending and self._pending[0][0] <= t:
            _, _, call = heapq.heappop(self._pending)
            recorder.call_finished(call.provider, call.model)
            recorder.record(call)

    def _selector(self, name: str, labels: dict[str, str]) -> str:
        key = (name, tuple(sorted(labels.items())))
        selector = self._selectors.get(key)
        if selector is None:
            pairs = [*key[1], ("instance", INSTANCE), ("job", JOB)]
            inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(pairs))
            selector = self._selectors[key] = f"{name}{{{inner}}}"
        return selector

    def scrape(self, t: float) -> Iterator[str]:
        """OpenMetrics lines (timestamp in seconds) of everything /metrics would show at `t`."""
        self._advance(t)
        stamp = f" {t:.0f}\n"
        for family in self.runtime.registry.collect():
            for sample in family.samples:
                if not sample.name.endswith("_created"):
                    yield f"{self._selector(sample.name, sample.labels)} {sample.value!r}{stamp}"


def build_blocks(spec: FleetSpec, workdir: Path, data_dir: Path, progress=print) -> int:
    """TSDB blocks of the whole range in `data_dir`; returns the number of samples written."""
    scrapes = SimulatedScrapes(spec)
    samples, converting = 0, None
    for block_start in range(spec.start_s, spec.end_s, BLOCK_S):
        path = workdir / f"fleet-{block_start}.om"
        with open(path, "w") as out:
            for t in range(block_start, block_start + BLOCK_S, spec.scrape_s):
                for line in scrapes.scrape(t):
                    out.write(line)
                    samples += 1
            out.write("# EOF\n")
        if converting is not None:
            _finish(converting)
        converting = (subprocess.Popen(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                                        str(path), str(data_dir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True), path)
        done = (block_start - spec.start_s + BLOCK_S) / (spec.end_s - spec.start_s)
        if block_start % 86_400 == 0 or done >= 1:
            progress(f"  fleet: {done:.0%} simulated, {samples:,} samples")
    if converting is not None:
        _finish(converting)
    return samples


def _finish(converting: tuple[subprocess.Popen, Path]) -> None:
    process, path = converting
    output, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"promtool create-blocks-from openmetrics {path.name} failed:\n{output[-2000:]}")
    path.unlink()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

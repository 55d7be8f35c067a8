"""Recording cost and /metrics render time. Run: `make bench` (or .venv/bin/python bench/bench_recording.py).

1. Calling-thread CPU microseconds per recorded LLM call: `Recorder.record` vs the straightforward
   prometheus_client approach (`.labels(...).inc()` / `.observe()` on a dozen metric objects per
   call), measured side by side on the same calls in the same process, alternating rounds; medians
   reported. Also `Recorder.record` with the logs-and-traces listener installed as the running
   exporter in proxy mode has it (the mock's calls as the traffic): the JSON log line at info
   (written to /dev/null) and the call queued for OTLP export (spans of kept traces, the log
   record) to an endpoint that refuses; the export workers build and drop the records on their own
   threads, not counted here. (Mock mode logs its simulated successes at debug, so they print no
   line and cost less.) What an instrumented service pays per call of the real client is measured
   by bench/bench_instrument.py.
2. /metrics render time (text and OpenMetrics) at the default mock cardinality and at the
   cardinality bound (the default cap of 1000 label sets).
Targets (docs/performance.md): recording <= 1/4 of the straightforward cost; /metrics <= 50 ms at
the default mock cardinality. This is a benchmark, never a test: it prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from llm_exporter import contract
from llm_exporter.config import load_budgets, load_pricing
from llm_exporter.labels import LabelGuard
from llm_exporter.logs import JsonFormatter
from llm_exporter.mock.simulator import Simulator
from llm_exporter.recorder import DEFAULT_MAX_LABEL_SETS, LLMCall, Recorder
from llm_exporter.telemetry.pipeline import Telemetry

CONFIG = Path(__file__).resolve().parents[1] / "exporter" / "config"


class Straightforward:
    """What most exporters do: one metric object per family, `.labels()` on every call."""

    def __init__(self, pricing) -> None:
        self.pricing = pricing
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.requests = Counter("llm_requests", "", contract.REQUESTS.labels, registry=r)
        self.errors = Counter("llm_errors", "", contract.ERRORS.labels, registry=r)
        self.tokens = Counter("llm_tokens", "", contract.TOKENS.labels, registry=r)
        self.cost = Counter("llm_cost_usd", "", contract.COST.labels, registry=r)
        self.duration = Histogram(contract.DURATION.name, "", contract.CALL, buckets=contract.DURATION_BUCKETS,
                                  registry=r)
        self.ttft = Histogram(contract.TTFT.name, "", contract.CALL, buckets=contract.TTFT_BUCKETS, registry=r)
        self.tpot = Histogram(contract.TPOT.name, "", contract.CALL, buckets=contract.TPOT_BUCKETS, registry=r)
        self.request_cost = Histogram(contract.REQUEST_COST.name, "", contract.CALL, buckets=contract.COST_BUCKETS,
                                      registry=r)
        self.quality = Gauge("llm_quality_score", "", ["app_id"], registry=r)
        self.feedback = Counter("llm_feedback", "", ["app_id", "rating"], registry=r)

    def record(self, c: LLMCall) -> None:
        labels = (c.provider, c.model, c.app_id)
        dept = (*labels, c.department)
        exemplar = {"trace_id": c.trace_id} if c.trace_id else None
        status = "success" if c.error_type is None else "error"
        self.requests.labels(*dept, status).inc()
        if c.error_type is not None:
            self.errors.labels(*labels, c.error_type).inc()
        self.duration.labels(*labels).observe(c.duration_s, exemplar)
        if c.ttft_s is not None:
            self.ttft.labels(*labels).observe(c.ttft_s, exemplar)
        if c.tpot_s is not None:
            self.tpot.labels(*labels).observe(c.tpot_s)
        self.tokens.labels(*dept, "input").inc(c.input_tokens)
        self.tokens.labels(*dept, "output").inc(c.output_tokens)
        cost = self.pricing.cost(c.model, c.input_tokens, c.output_tokens)
        if cost is not None:
            self.cost.labels(*dept).inc(cost)
            self.request_cost.labels(*labels).observe(cost, exemplar)
        if c.quality_score is not None:
            self.quality.labels(c.app_id).set(c.quality_score)
        if c.feedback is not None:
            self.feedback.labels(c.app_id, c.feedback).inc()


def mock_calls(count: int, pricing, budgets) -> list[LLMCall]:
    sim = Simulator(Recorder(pricing, budgets, mode="mock", version="bench"), rps=50, seed=1)
    calls: list[LLMCall] = []
    now = 0.0
    while len(calls) < count:
        now += 1.0
        calls += sim.arrivals(now, 1.0)
    return calls[:count]


def time_per_call(record, calls: list[LLMCall]) -> float:
    """CPU time of the calling thread per call, µs (the export worker threads' time is not in it)."""
    start = time.thread_time()
    for c in calls:
        record(c)
    return (time.thread_time() - start) / len(calls) * 1e6


def time_render(render, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        render()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def bound_calls(guard: LabelGuard, label_sets: int) -> list[LLMCall]:
    """Distinct label sets up to the cap, each label within its own bound."""
    apps, models = guard.bounds["app_id"], guard.bounds["model"]
    return [
        LLMCall(provider=f"provider-{m % guard.bounds['provider']}", model=f"model-{m}", app_id=f"app-{a}",
                department=f"dept-{a % guard.bounds['department']}", duration_s=1.0 + (a + m) % 7, input_tokens=500,
                output_tokens=200, ttft_s=0.3, streaming=True, trace_id=f"{a:016x}{m:016x}")
        for a in range(apps) for m in range(models)
    ][:label_sets]


REFUSING_ENDPOINT = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused


def with_telemetry(pricing, budgets, sample_ratio: str) -> tuple[Recorder, Telemetry]:
    """A recorder as the proxy runs it: call log lines, kept traces' spans and OTLP log records."""
    recorder = Recorder(pricing, budgets, mode="proxy", version="bench")
    telemetry = Telemetry.from_env(recorder, environment="production", mode="proxy", environ={
        "LLM_EXPORTER_TRACE_SAMPLE_RATIO": sample_ratio,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": REFUSING_ENDPOINT + "/v1/traces",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": REFUSING_ENDPOINT + "/otlp/v1/logs",
    }).install()
    assert telemetry.spans is not None and telemetry.logs is not None, "spans and log records are built"
    return recorder, telemetry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    devnull = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the run
    devnull.setFormatter(JsonFormatter())
    devnull.setLevel(logging.INFO)  # as llm_exporter.logs.configure_logging sets stdout's handler
    logging.getLogger().handlers[:] = [devnull]
    logging.getLogger().setLevel(logging.INFO)
    pricing, budgets = load_pricing(CONFIG / "pricing.yaml"), load_budgets(CONFIG / "budgets.yaml")
    calls = mock_calls(args.calls, pricing, budgets)

    ours, theirs, sampled, full = [], [], [], []
    for _ in range(args.rounds):  # alternate so drift on a noisy machine hits both sides alike
        recorder = Recorder(pricing, budgets, mode="mock", version="bench")
        baseline = Straightforward(pricing)
        ours.append(time_per_call(recorder.record, calls))
        theirs.append(time_per_call(baseline.record, calls))
        for ratio, results in (("0.1", sampled), ("1", full)):  # the default ratio, then every trace
            full_recorder, telemetry = with_telemetry(pricing, budgets, ratio)
            results.append(time_per_call(full_recorder.record, calls[: args.calls // 4]))
            telemetry.shutdown()
    ours_us, theirs_us = statistics.median(ours), statistics.median(theirs)
    sampled_us, full_us = statistics.median(sampled), statistics.median(full)

    registry = CollectorRegistry(auto_describe=False)
    recorder = Recorder(pricing, budgets, mode="mock", version="bench")
    registry.register(recorder)
    for c in calls:
        recorder.record(c)
    series_default = len({(c.provider, c.model, c.app_id, c.department) for c in calls})
    text_default = time_render(lambda: generate_latest(registry), 30)
    om_default = time_render(lambda: generate_openmetrics(registry), 30)

    bound_registry = CollectorRegistry(auto_describe=False)
    bound_recorder = Recorder(pricing, budgets, mode="mock", version="bench")
    bound_registry.register(bound_recorder)
    wide = bound_calls(bound_recorder.guard, DEFAULT_MAX_LABEL_SETS)
    for c in wide:
        bound_recorder.record(c)
    bound_lines = generate_latest(bound_registry).count(b"\n")
    text_bound = time_render(lambda: generate_latest(bound_registry), 5)
    om_bound = time_render(lambda: generate_openmetrics(bound_registry), 5)

    print(f"python {sys.version.split()[0]}, {args.calls} mock calls, {args.rounds} alternating rounds (medians)")
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| straightforward prometheus_client, CPU µs per call | {theirs_us:.2f} |")
    print(f"| Recorder.record, CPU µs per call | {ours_us:.2f} |")
    print(f"| ratio (target ≤ 0.25) | {ours_us / theirs_us:.3f} |")
    print(f"| proxy recorder path: Recorder.record + JSON line + OTLP queueing, default sampling (0.1 + errors "
          f"+ slow), calling-thread CPU µs per call | {sampled_us:.2f} |")
    print(f"| proxy recorder path, every trace kept, calling-thread CPU µs per call | {full_us:.2f} |")
    print(f"| /metrics text, default mock cardinality ({series_default} label sets), ms | {text_default:.2f} |")
    print(f"| /metrics OpenMetrics, default mock cardinality, ms | {om_default:.2f} |")
    print(f"| /metrics text at the bound ({len(wide)} label sets, {bound_lines} lines), ms "
          f"| {text_bound:.1f} |")
    print(f"| /metrics OpenMetrics at the bound, ms | {om_bound:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

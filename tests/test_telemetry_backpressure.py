"""Export never blocks request handling: with the OTLP backend down (closed port) or hanging
(accepts, never answers), /metrics and the scenario switch stay as fast as with a healthy
backend, memory stays bounded, drops are counted, and export resumes when the backend returns.

Nothing here is an absolute threshold: latencies are compared with a baseline taken in the same
test against a healthy receiver (generous ratios; blocking on export would cost the 2 s export
timeout, hundreds of times the baseline), and RSS growth with what an unbounded queue would have
kept of the records dropped in the same window (bytes per record measured in this process)."""

from __future__ import annotations

import json
import logging
import statistics
import time
import tracemalloc
from pathlib import Path

import pytest
import requests

from llm_exporter.config import load_budgets, load_pricing
from llm_exporter.recorder import LLMCall, Recorder
from llm_exporter.telemetry.config import TelemetryConfig
from llm_exporter.telemetry.otlp_logs import OtlpLogHandler
from llm_exporter.telemetry.pipeline import Telemetry
from tests.support.metrics_text import families, sample_sum
from tests.support.otlp import HangingServer, OtlpReceiver
from tests.support.processes import CONFIG_DIR, Running, free_port, run_exporter, wait_for

QUEUE = 256


def rss_bytes(exporter: Running) -> int:
    for line in Path(f"/proc/{exporter.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def dropped(exporter: Running) -> dict[str, float]:
    family = families(requests.get(exporter.url + "/metrics", timeout=10).text)["llm_telemetry_dropped"]
    return {signal: sample_sum(family, "_total", signal=signal) for signal in ("traces", "logs")}


def timings(exporter: Running, rounds: int = 20) -> tuple[list[float], list[float]]:
    """Latencies of GET /metrics and POST /mock/scenario (re-selecting the active scenario)."""
    metrics, switch = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        assert requests.get(exporter.url + "/metrics", timeout=30).ok
        metrics.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert requests.post(exporter.url + "/mock/scenario", json={"scenario": "normal"}, timeout=30).ok
        switch.append(time.perf_counter() - start)
        time.sleep(0.05)
    return metrics, switch


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def assert_as_fast(baseline: list[float], outage: list[float], what: str) -> None:
    """Relative to the healthy baseline only. The typical outage latency must stay within 3x the
    baseline's 90th percentile, and the outage's own 90th percentile within 10x the slowest
    baseline request: room for a busy 2-core machine, none for waiting on the export timeout."""
    assert statistics.median(outage) <= 3 * p90(baseline), (what, sorted(baseline), sorted(outage))
    assert p90(outage) <= 10 * max(baseline), (what, sorted(baseline), sorted(outage))


class KeepAll:
    """Stands in for the bounded queue and keeps every record: an unbounded queue."""

    def __init__(self) -> None:
        self.items: list[object] = []

    def put(self, item: object) -> bool:
        self.items.append(item)
        return True

    def put_many(self, items: list[object]) -> None:
        self.items.extend(items)


def bytes_per_record(calls: int = 2000) -> float:
    """Memory one queued span or OTLP log record holds (tracemalloc, in this process): what an
    unbounded queue would keep for each record the exporter drops instead."""
    recorder = Recorder(load_pricing(CONFIG_DIR / "pricing.yaml"), load_budgets(CONFIG_DIR / "budgets.yaml"),
                        mode="mock", version="test")
    telemetry = Telemetry(recorder, TelemetryConfig(sample_ratio=1.0)).install()
    spans, logs = KeepAll(), KeepAll()
    telemetry.spans = spans  # type: ignore[assignment]
    logger = logging.getLogger("llm_exporter")
    handler = OtlpLogHandler(logs, telemetry.resource, telemetry.scope)  # type: ignore[arg-type]
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def call(i: int) -> LLMCall:
        return LLMCall(provider="openai", model="gpt-4o", app_id="support-bot", department="support",
                       duration_s=1.25, input_tokens=1200, output_tokens=300, ttft_s=0.4, streaming=True,
                       finish_reason="stop", request_id=f"req-{i}", extra={"retrieval_s": 0.2, "tool": "search",
                                                                           "tool_s": 0.3})

    try:
        for i in range(100):  # warm up: label series, exemplar slots
            recorder.record(call(i))
        spans.items.clear()
        logs.items.clear()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(calls):
            recorder.record(call(i))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        telemetry.spans = None
        telemetry.shutdown()
    records = len(spans.items) + len(logs.items)
    assert records >= 2 * calls
    return held / records


def spans_after(receiver: OtlpReceiver, t_ns: int) -> int:
    return sum(1 for s in receiver.spans() if s.start_ns > t_ns)


@pytest.mark.parametrize("outage", ["down", "hanging"])
def test_export_never_blocks_and_recovers(outage: str) -> None:
    record_size = bytes_per_record()
    port = free_port()
    receiver = OtlpReceiver(port)
    env = {
        "OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "LLM_EXPORTER_TRACE_SAMPLE_RATIO": "1", "OTEL_EXPORTER_OTLP_TIMEOUT": "2",
        "OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_BLRP_SCHEDULE_DELAY": "200",
        "OTEL_BSP_MAX_QUEUE_SIZE": str(QUEUE), "OTEL_BLRP_MAX_QUEUE_SIZE": str(QUEUE),
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "64", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "64",
    }
    backend: OtlpReceiver | HangingServer | None = receiver
    try:
        with run_exporter("--mode", "mock", "--mock-rps", "500", "--seed", "13", env=env) as exporter:
            # A few seconds of healthy load first: the process's memory settles (label series,
            # exemplars, allocator arenas) before RSS is compared during the outage.
            wait_for(lambda: len(receiver.spans()) > 10_000 and len(receiver.logs()) > 2_000, timeout=90,
                     what="healthy export")
            base_metrics, base_switch = timings(exporter)
            healthy_drops = dropped(exporter)

            receiver.close()
            backend = HangingServer(port) if outage == "hanging" else None
            wait_for(lambda: all(dropped(exporter)[s] > healthy_drops[s] + QUEUE for s in ("traces", "logs")),
                     timeout=60, what="llm_telemetry_dropped_total rising for traces and logs")
            rss_start = rss_bytes(exporter)
            drops_start = dropped(exporter)
            out_metrics, out_switch = timings(exporter)
            time.sleep(10)
            more_metrics, more_switch = timings(exporter)
            rss_end = rss_bytes(exporter)
            drops = dropped(exporter)
            print(f"{outage}: /metrics median {statistics.median(base_metrics):.4f}s -> "
                  f"{statistics.median(out_metrics + more_metrics):.4f}s, scenario median "
                  f"{statistics.median(base_switch):.4f}s -> {statistics.median(out_switch + more_switch):.4f}s, "
                  f"RSS {rss_start / 2**20:.1f} -> {rss_end / 2**20:.1f} MiB, drops {healthy_drops} -> {drops}, "
                  f"{record_size:.0f} bytes/record, dropped in the RSS window "
                  f"{sum(drops.values()) - sum(drops_start.values()):.0f}")

            assert_as_fast(base_metrics, out_metrics + more_metrics, f"/metrics, backend {outage}")
            assert_as_fast(base_switch, out_switch + more_switch, f"POST /mock/scenario, backend {outage}")
            # The bounded queues were already full when the window began; an unbounded one would
            # have kept every record dropped during it (~2000 a second at 500 calls/s, ~25 MiB here).
            dropped_in_window = sum(drops.values()) - sum(drops_start.values())
            unbounded = dropped_in_window * record_size
            assert dropped_in_window > 10 * QUEUE, (drops_start, drops)
            assert rss_end - rss_start < unbounded / 4, (
                f"RSS grew {(rss_end - rss_start) / 2**20:.1f} MiB; an unbounded queue: {unbounded / 2**20:.1f} MiB")
            assert drops["traces"] > healthy_drops["traces"] and drops["logs"] > healthy_drops["logs"]

            if isinstance(backend, HangingServer):
                backend.close()
            back = OtlpReceiver(port)
            backend = back
            resumed_at = time.time_ns()
            wait_for(lambda: spans_after(back, resumed_at) > 100 and len(back.logs()) > 50, timeout=60,
                     what="export resuming once the receiver is back")
    finally:
        if backend is not None:
            backend.close()


def test_outage_logs_one_warning_and_one_recovery_per_signal() -> None:
    """A closed port for ~8 s (several failed batches per signal), then a receiver: the log has one
    telemetry_export_failing warning and one telemetry_export_recovered info per signal, and
    nothing from the OpenTelemetry SDK's loggers (which log a warning and an error per batch)."""
    port = free_port()
    env = {
        "OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "LLM_EXPORTER_TRACE_SAMPLE_RATIO": "1", "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
        "OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_BLRP_SCHEDULE_DELAY": "200",
    }
    receiver: OtlpReceiver | None = None

    def events(exporter: Running, event: str) -> list[dict]:
        entries = [json.loads(line) for line in exporter.log().splitlines() if line.startswith("{")]
        return [e for e in entries if e.get("event") == event]

    try:
        with run_exporter("--mode", "mock", "--mock-rps", "50", "--seed", "5", "--env", "development",
                          env=env) as exporter:
            wait_for(lambda: len(events(exporter, "telemetry_export_failing")) == 2, timeout=30,
                     what="a failing warning for each signal")
            first = dropped(exporter)
            time.sleep(8)
            during = dropped(exporter)
            receiver = OtlpReceiver(port)
            wait_for(lambda: len(events(exporter, "telemetry_export_recovered")) == 2, timeout=30,
                     what="a recovered line for each signal")
            entries = [json.loads(line) for line in exporter.log().splitlines() if line.startswith("{")]
    finally:
        if receiver is not None:
            receiver.close()
    assert all(during[s] > first[s] for s in ("traces", "logs")), "batches kept failing during the window"
    assert [e for e in entries if e["logger"].startswith("opentelemetry")] == []
    failing = [e for e in entries if e.get("event") == "telemetry_export_failing"]
    recovered = [e for e in entries if e.get("event") == "telemetry_export_recovered"]
    assert sorted(e["signal"] for e in failing) == sorted(e["signal"] for e in recovered) == ["logs", "traces"]
    assert {e["reason"] for e in failing} == {"connection refused"}
    assert {e["level"] for e in recovered} == {"info"}
    noisy = [e for e in entries if e["level"] in ("warning", "error") and e.get("event") != "llm_call"]
    assert noisy == failing, noisy

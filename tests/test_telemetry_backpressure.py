"""Export never blocks request handling: with the OTLP backend down (closed port) or hanging
(accepts, never answers), /metrics and the scenario switch stay as fast as with a healthy
backend, memory stays bounded, drops are counted, and export resumes when the backend returns.

Timings are compared with a baseline taken in the same test against a healthy receiver (generous
ratios, no absolute thresholds)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest
import requests

from tests.support.metrics_text import families, sample_sum
from tests.support.otlp import HangingServer, OtlpReceiver
from tests.support.processes import Running, free_port, run_exporter, wait_for

QUEUE = 256


def rss_bytes(exporter: Running) -> int:
    for line in Path(f"/proc/{exporter.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def dropped(exporter: Running) -> dict[str, float]:
    family = families(requests.get(exporter.url + "/metrics", timeout=10).text)["llm_telemetry_dropped"]
    return {signal: sample_sum(family, "_total", signal=signal) for signal in ("traces", "logs")}


def timings(exporter: Running, rounds: int = 15) -> tuple[list[float], list[float]]:
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


def assert_as_fast(baseline: list[float], outage: list[float], what: str) -> None:
    # Floors keep the ratios meaningful when the baseline is a few milliseconds on a quiet machine.
    base_median = max(statistics.median(baseline), 0.005)
    base_max = max(max(baseline), 0.02)
    assert statistics.median(outage) <= 3 * base_median, (what, baseline, outage)
    assert max(outage) <= 10 * base_max, (what, baseline, outage)


def spans_after(receiver: OtlpReceiver, t_ns: int) -> int:
    return sum(1 for s in receiver.spans() if s.start_ns > t_ns)


@pytest.mark.parametrize("outage", ["down", "hanging"])
def test_export_never_blocks_and_recovers(outage: str) -> None:
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
            wait_for(lambda: len(receiver.spans()) > 500 and len(receiver.logs()) > 200, timeout=60,
                     what="healthy export")
            base_metrics, base_switch = timings(exporter)
            healthy_drops = dropped(exporter)

            receiver.close()
            backend = HangingServer(port) if outage == "hanging" else None
            wait_for(lambda: all(dropped(exporter)[s] > healthy_drops[s] + QUEUE for s in ("traces", "logs")),
                     timeout=60, what="llm_telemetry_dropped_total rising for traces and logs")
            rss_start = rss_bytes(exporter)
            out_metrics, out_switch = timings(exporter)
            time.sleep(10)
            more_metrics, more_switch = timings(exporter)
            rss_end = rss_bytes(exporter)
            drops = dropped(exporter)
            print(f"{outage}: /metrics median {statistics.median(base_metrics):.4f}s -> "
                  f"{statistics.median(out_metrics + more_metrics):.4f}s, scenario median "
                  f"{statistics.median(base_switch):.4f}s -> {statistics.median(out_switch + more_switch):.4f}s, "
                  f"RSS {rss_start / 2**20:.1f} -> {rss_end / 2**20:.1f} MiB, drops {healthy_drops} -> {drops}")

            assert_as_fast(base_metrics, out_metrics + more_metrics, f"/metrics, backend {outage}")
            assert_as_fast(base_switch, out_switch + more_switch, f"POST /mock/scenario, backend {outage}")
            # 500 calls/s, each up to 4 spans and a log record: an unbounded queue would grow ~1.5 MiB/s,
            # 18+ MiB over this window; the bounded queues were already full when it began.
            assert rss_end - rss_start < 10 * 2**20, f"RSS grew {(rss_end - rss_start) / 2**20:.1f} MiB"
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

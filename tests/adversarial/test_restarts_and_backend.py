"""Faults around the exporter: it is killed (kill -9) and restarted under a real Prometheus with the
shipped rules, and its OTLP backend fails (HTTP 503) while the proxy serves calls.

Killed: no alert fires. Alerts may go pending for a moment (TargetDown while the target is down;
rules over gauges and short windows that restart with the process, such as the mock's GPU load
or the quality score's rolling mean), but only alerts whose `for` is at least RESTART_SAFE_FOR,
so that a restart's transient cannot fire them. What is lost is only the spend counted since the
last scrape. Backend failing: calls and scrapes stay as fast as with a healthy backend, and
export resumes once it answers again. (A backend that is down or
hangs is covered in mock mode by tests/test_telemetry_backpressure.py.)"""

from __future__ import annotations

import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
import yaml

from tests.adversarial.client import scrape
from tests.adversarial.figures import Figures, scaled
from tests.e2e_support import alerting
from tests.support.metrics_text import sample_sum
from tests.support.otlp import OtlpReceiver
from tests.support.processes import Running, free_port, run_exporter, run_prometheus, wait_for

RESTART_SAFE_FOR_S = 120.0  # see the module docstring


def alert_for_seconds() -> dict[str, float]:
    """Each shipped alert's `for`, in seconds (0 when it has none)."""
    durations = {}
    for path in sorted(alerting.RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    durations[rule["alert"]] = alerting.parse_duration(rule["for"]) if rule.get("for") else 0.0
    return durations


def prometheus_query(prometheus: Running, query: str, at: float | None = None) -> list[dict]:
    params = {"query": query, **({"time": f"{at:.3f}"} if at else {})}
    body = requests.get(prometheus.url + "/api/v1/query", params=params, timeout=10).json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def spend(running: Running) -> float:
    return sample_sum(scrape(running)["llm_cost_usd"], "_total")


def test_kill_9_and_restart_fires_no_alert_and_loses_only_unscraped_spend(figures: Figures) -> None:
    kills = scaled(2, 4)
    run_s = scaled(6, 40)
    port = free_port()
    config = alerting.prometheus_config(f"127.0.0.1:{port}", f"127.0.0.1:{free_port()}", "restart")
    rule_files = sorted(alerting.RULES_DIR.glob("*.yml"))  # the shipped rules, unchanged
    lost, downtime, last_two_seconds = [], [], []
    killed_at = 0.0
    with run_prometheus(config, rule_files) as prometheus:
        started = time.time()
        for incarnation in range(kills + 1):
            up_since = time.time()
            with run_exporter("--mode", "mock", "--mock-rps", "20", "--seed", str(incarnation), port=port) as exporter:
                if incarnation:
                    downtime.append(time.time() - killed_at)
                scraped_since = f"timestamp(up == 1) > {up_since}"
                wait_for(lambda q=scraped_since: prometheus_query(prometheus, q), timeout=30,
                         what="Prometheus scraping the restarted exporter")
                time.sleep(run_s - 2)
                if incarnation == kills:
                    break
                two_seconds_before = spend(exporter)
                time.sleep(2)
                counted = spend(exporter)
                if incarnation == 0:
                    before = {r["metric"]["alertname"] for r in prometheus_query(prometheus, "ALERTS")}
                killed_at = time.time()
                exporter.process.kill()
                exporter.process.wait()
            # The last spend scraped before the kill (a scrape that failed just before it leaves
            # the series stale at that instant; its last sample still counts).
            scraped = prometheus_query(prometheus, "sum(last_over_time(llm_cost_usd_total[1m]))", at=killed_at)
            lost.append(max(0.0, counted - float(scraped[0]["value"][1])))
            last_two_seconds.append(counted - two_seconds_before)
        window = f"{int(time.time() - started) + 5}s"
        pending = {r["metric"]["alertname"] for r in prometheus_query(prometheus, f"max_over_time(ALERTS[{window}])")}
        fired = prometheus_query(prometheus, f'max_over_time(ALERTS{{alertstate="firing"}}[{window}])')
        spend_rate = float(prometheus_query(prometheus, "sum(rate(llm_cost_usd_total[1m]))")[0]["value"][1])
    waits = alert_for_seconds()
    assert all(waits[name] >= RESTART_SAFE_FOR_S for name in pending - before), {n: waits[n] for n in pending}
    assert fired == [], [r["metric"] for r in fired]
    # with a scrape every second, a kill loses at most the spend of the last second
    assert all(loss <= recent + 1e-9 for loss, recent in zip(lost, last_two_seconds, strict=True)), (
        lost, last_two_seconds)
    figures.record("restart_kills", kills, "kills", f"kill -9 and restart of the mock exporter under Prometheus "
                   f"(shipped rules, 1 s scrapes), {run_s} s apart")
    figures.record("restart_alerts_fired", len(fired), "alerts", "alerts fired because of the kills")
    figures.record("restart_alerts_pending", len(pending - before), "alerts",
                   f"alerts pending for a moment because of the kills ({', '.join(sorted(pending - before))}), "
                   f"each with a `for` of {RESTART_SAFE_FOR_S / 60:g} min or more")
    figures.record("restart_spend_lost_usd", statistics.mean(lost), "USD",
                   f"counted spend lost per kill: spent after the last scrape (mock traffic ${spend_rate:.3f}/s); "
                   "about half a scrape interval of spend on average")
    figures.record("restart_downtime_s", statistics.mean(downtime), "s", "from kill -9 to the new process answering")


class FailingBackend:
    """An OTLP/HTTP endpoint that answers every export with 503."""

    def __init__(self, port: int) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(503)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def timed_calls(proxy: Running, session: requests.Session, count: int) -> tuple[list[float], list[float]]:
    calls, metrics = [], []
    for i in range(count):
        start = time.perf_counter()
        response = session.post(proxy.url + "/v1/chat/completions", timeout=30, headers={"X-LLM-App-Id": "otlp"},
                                json={"model": "gpt-4o", "messages": [{"role": "user", "content": f"q{i}"}]})
        assert response.status_code == 200
        calls.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert session.get(proxy.url + "/metrics", timeout=30).ok
        metrics.append(time.perf_counter() - start)
    return calls, metrics


def test_failing_otlp_backend_never_slows_the_proxy_and_export_resumes(upstream, figures: Figures) -> None:
    port = free_port()
    receiver = OtlpReceiver(port)
    env = {"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
           "LLM_EXPORTER_TRACE_SAMPLE_RATIO": "1", "OTEL_EXPORTER_OTLP_TIMEOUT": "2",
           "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_BLRP_SCHEDULE_DELAY": "100"}
    backend: OtlpReceiver | FailingBackend = receiver
    rounds = scaled(40, 300)
    try:
        with run_exporter("--mode", "proxy", "--upstream-url", upstream.url, env=env) as proxy:
            session = requests.Session()
            timed_calls(proxy, session, 10)  # warm up
            wait_for(lambda: len(receiver.spans()) >= 10, timeout=30, what="healthy export")
            base_calls, base_metrics = timed_calls(proxy, session, rounds)
            receiver.close()
            backend = FailingBackend(port)
            failing_calls, failing_metrics = timed_calls(proxy, session, rounds)
            time.sleep(1)
            backend.close()
            backend = back = OtlpReceiver(port)
            resumed = time.perf_counter()
            timed_calls(proxy, session, 5)
            wait_for(lambda: len(back.spans()) > 0, timeout=30, what="export resuming")
            recovery_s = time.perf_counter() - resumed
            assert "Traceback" not in proxy.log()
    finally:
        backend.close()
    for name, base, failing in (("call", base_calls, failing_calls), ("metrics", base_metrics, failing_metrics)):
        ratio = statistics.median(failing) / statistics.median(base)
        figures.record(f"otlp_failing_{name}_median_ratio", ratio, "×",
                       f"median proxy {name} latency with the OTLP backend answering 503, over a healthy one "
                       f"(healthy median {statistics.median(base) * 1000:.1f} ms)")
        assert ratio < 3, (name, statistics.median(base), statistics.median(failing))
    figures.record("otlp_recovery_s", recovery_s, "s", "from the backend answering again to the first spans received")

"""The cardinality attack: every call names a new model and a new app. The series stay within
their bounds, the memory stops growing once the bounds are reached, and each overflowed call is
counted once per label (not once per look-up: a call is looked up when it starts and when it ends)."""

from __future__ import annotations

import time
import tracemalloc

import requests

from llm_exporter.config import Budgets, load_pricing
from llm_exporter.instrument.tracker import CallTracker
from llm_exporter.labels import DEFAULT_BOUNDS, LabelGuard
from llm_exporter.recorder import DEFAULT_MAX_LABEL_SETS, Recorder
from tests.adversarial.client import memory_kib, scrape
from tests.adversarial.figures import Figures, scaled
from tests.support.metrics_text import sample_sum
from tests.support.processes import CONFIG_DIR, run_exporter

PRICING = load_pricing(CONFIG_DIR / "pricing.yaml")


def attack(recorder: Recorder, start: int, stop: int) -> None:
    """Calls through the path every real call takes (start, finish, record), each with a new model
    and a new app."""
    for i in range(start, stop):
        tracker = CallTracker(recorder, provider="openai", model=f"model-{i}", app_id=f"app-{i}",
                              department="attack")
        tracker.set_usage(10, 5)
        tracker.finish()


def test_distinct_names_stay_within_bounds_and_memory_stops_growing(figures: Figures) -> None:
    calls = scaled(30_000, 100_000)
    recorder = Recorder(PRICING, Budgets(departments={}), mode="proxy", version="test")
    warm = DEFAULT_MAX_LABEL_SETS * 2  # past every bound: from here on, everything is "other"
    attack(recorder, 0, warm)
    tracemalloc.start()
    try:
        attack(recorder, warm, warm + calls // 10)
        after_tenth = tracemalloc.get_traced_memory()[0]
        started = time.perf_counter()
        attack(recorder, warm + calls // 10, warm + calls)
        elapsed = time.perf_counter() - started
        after_all = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    fams = {f.name: f for f in recorder.collect()}
    models = {s.labels["model"] for s in fams["llm_requests"].samples}
    apps = {s.labels["app_id"] for s in fams["llm_requests"].samples}
    assert len(models) <= DEFAULT_BOUNDS["model"] + 1 and len(apps) <= DEFAULT_BOUNDS["app_id"] + 1
    series = {tuple(sorted(s.labels.items())) for s in fams["llm_requests"].samples}
    assert len(series) <= 2 * (DEFAULT_MAX_LABEL_SETS + 1)  # two statuses per label set
    # each call over the bound is counted once per label
    overflow = {s.labels["label"]: s.value for s in fams["llm_label_overflow"].samples}
    total = warm + calls
    assert overflow["model"] == total - DEFAULT_BOUNDS["model"]
    assert overflow["app_id"] == total - DEFAULT_BOUNDS["app_id"]
    assert sample_sum(fams["llm_requests"], "_total") == total
    growth = after_all - after_tenth
    figures.record("cardinality_calls", total, "calls", "calls recorded in-process, each with a new model and app")
    figures.record("cardinality_growth_kib", growth / 1024, "KiB",
                   f"memory growth over the last {calls - calls // 10:,} of them (every bound already reached)")
    figures.record("cardinality_us_per_call", elapsed / (calls - calls // 10) * 1e6, "µs",
                   "time per call once every label is 'other'")
    assert growth < 512 * 1024, f"memory kept growing: {growth / 1024:.0f} KiB"


def test_live_proxy_under_a_cardinality_attack(upstream, figures: Figures) -> None:
    """Over HTTP, through the proxy, with small bounds so that overflow starts at once."""
    calls = scaled(400, 20_000)
    with run_exporter("--mode", "proxy", "--upstream-url", upstream.url,
                      "--label-bounds", "model=4,app_id=4") as proxy:
        session = requests.Session()
        baseline_kib = memory_kib(proxy.process.pid)
        for i in range(calls):
            response = session.post(proxy.url + "/v1/chat/completions", timeout=30,
                                    headers={"X-LLM-App-Id": f"app-{i}"},
                                    json={"model": f"model-{i}", "messages": [{"role": "user", "content": "hi"}]})
            assert response.status_code == 200
        fams = scrape(proxy)
        peak_mib = memory_kib(proxy.process.pid, "VmHWM") / 1024
    overflow = {s.labels["label"]: s.value for s in fams["llm_label_overflow"].samples}
    assert overflow["model"] == calls - 4, overflow  # once per overflowed call, not once per look-up
    assert overflow["app_id"] == calls - 4, overflow
    assert len({s.labels["model"] for s in fams["llm_requests"].samples}) <= 5
    assert sample_sum(fams["llm_active_requests"]) == 0
    figures.record("cardinality_live_calls", calls, "calls", "proxied calls, each with a new model and app")
    figures.record("cardinality_live_peak_rss_mib", peak_mib, "MiB",
                   f"proxy peak resident memory during them (at start: {baseline_kib / 1024:.0f} MiB)")


def test_guard_look_ups_without_counting_do_not_count() -> None:
    guard = LabelGuard({"model": 1})
    assert guard.value("model", "a") == "a"
    assert guard.value("model", "b", count=False) == "other"
    assert guard.overflow_counts() == {}
    assert guard.value("model", "b") == "other"
    assert guard.overflow_counts() == {"model": 1}

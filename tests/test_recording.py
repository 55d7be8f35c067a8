"""The recording path: what one call does to each metric, label hygiene, pricing edge cases."""

from __future__ import annotations

import logging
import math

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from llm_exporter import recorder as recorder_module
from llm_exporter.config import Budgets, DepartmentBudget, ModelPrice, Pricing
from llm_exporter.labels import LabelGuard, sanitise
from llm_exporter.recorder import LLMCall, Recorder
from tests.support.metrics_text import families, histogram_series, sample_sum


def make_recorder(guard: LabelGuard | None = None) -> tuple[Recorder, CollectorRegistry]:
    pricing = Pricing({"gpt-4o": ModelPrice(input=2.5, output=10.0), "free-model": ModelPrice(input=0, output=0)})
    budgets = Budgets({"eng": DepartmentBudget(daily=10, monthly=200)})
    recorder = Recorder(pricing, budgets, mode="mock", version="test", guard=guard)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(recorder)
    return recorder, registry


def scrape(registry: CollectorRegistry) -> dict:
    return families(generate_latest(registry).decode())


def call(**overrides) -> LLMCall:
    fields = dict(provider="openai", model="gpt-4o", app_id="bot", department="eng", duration_s=2.0,
                  input_tokens=1000, output_tokens=101, ttft_s=0.5, streaming=True, trace_id="a" * 32)
    return LLMCall(**{**fields, **overrides})


def test_one_successful_streamed_call_feeds_every_series() -> None:
    recorder, registry = make_recorder()
    recorded = recorder.record(call())
    assert recorded.cost_usd == pytest.approx((1000 * 2.5 + 101 * 10.0) / 1e6)
    m = scrape(registry)
    assert sample_sum(m["llm_requests"], "_total", status="success") == 1
    assert sample_sum(m["llm_requests"], "_total", status="error") == 0
    assert sample_sum(m["llm_tokens"], "_total", direction="input") == 1000
    assert sample_sum(m["llm_tokens"], "_total", direction="output") == 101
    assert sample_sum(m["llm_cost_usd"], "_total") == pytest.approx(recorded.cost_usd)
    for name, value in [("llm_request_duration_seconds", 2.0), ("llm_time_to_first_token_seconds", 0.5),
                        ("llm_time_per_output_token_seconds", 1.5 / 100), ("llm_request_cost_usd", recorded.cost_usd)]:
        (series,) = histogram_series(m[name]).values()
        assert series["count"] == 1 and series["sum"] == pytest.approx(value), name


def test_failed_call_counts_error_type_and_latency_but_not_ttft_tpot_cost() -> None:
    recorder, registry = make_recorder()
    recorder.record(call(error_type="rate_limit", ttft_s=None, input_tokens=0, output_tokens=0, duration_s=0.1))
    recorder.record(call(error_type="cosmic_rays", ttft_s=None, input_tokens=0, output_tokens=0))
    m = scrape(registry)
    assert sample_sum(m["llm_requests"], "_total", status="error") == 2
    assert sample_sum(m["llm_errors"], "_total", error_type="rate_limit") == 1
    assert sample_sum(m["llm_errors"], "_total", error_type="other") == 1, "unknown error types become other"
    assert sample_sum(m["llm_request_duration_seconds"], "_count") == 2
    assert sample_sum(m["llm_time_to_first_token_seconds"], "_count") == 0
    assert sample_sum(m["llm_time_per_output_token_seconds"], "_count") == 0


def test_non_streamed_call_has_no_ttft_or_tpot() -> None:
    recorder, registry = make_recorder()
    recorder.record(call(ttft_s=None, streaming=False))
    m = scrape(registry)
    assert sample_sum(m["llm_time_to_first_token_seconds"], "_count") == 0
    assert sample_sum(m["llm_time_per_output_token_seconds"], "_count") == 0


def test_bucket_edges_are_inclusive() -> None:
    recorder, registry = make_recorder()
    recorder.record(call(duration_s=1.0))  # exactly on the le="1.0" edge
    (series,) = histogram_series(scrape(registry)["llm_request_duration_seconds"]).values()
    buckets = dict(series["buckets"])
    assert buckets[0.5] == 0 and buckets[1.0] == 1


def test_unpriced_model_is_counted_and_logged_once_never_free(caplog) -> None:
    recorder, registry = make_recorder()
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert recorder.record(call(model="mystery-model")).cost_usd is None
    m = scrape(registry)
    assert sample_sum(m["llm_unpriced_requests"], "_total", model="mystery-model") == 3
    assert sample_sum(m["llm_cost_usd"], "_total") == 0
    assert sample_sum(m["llm_request_cost_usd"], "_count") == 0
    assert len([r for r in caplog.records if getattr(r, "event", "") == "unpriced_model"]) == 1


def test_explicit_zero_price_is_priced() -> None:
    recorder, registry = make_recorder()
    assert recorder.record(call(model="free-model")).cost_usd == 0.0
    assert sample_sum(scrape(registry)["llm_unpriced_requests"], "_total") == 0


def test_quality_feedback_and_flags() -> None:
    recorder, registry = make_recorder()
    recorder.record(call(quality_score=4.0, feedback="positive"))
    recorder.record(call(quality_score=9.0, feedback="negative", flags=("hallucination", "made_up")))
    m = scrape(registry)
    assert sample_sum(m["llm_quality_score"]) == pytest.approx(4.0 + 0.05 * (5.0 - 4.0)), "clamped to 5, EWMA"
    assert sample_sum(m["llm_feedback"], "_total", rating="negative") == 1
    assert sample_sum(m["llm_responses_flagged"], "_total", reason="hallucination") == 1
    assert sample_sum(m["llm_responses_flagged"], "_total") == 1, "unknown flag reasons are ignored"


def test_active_requests_never_negative() -> None:
    recorder, registry = make_recorder()
    recorder.call_started("openai", "gpt-4o")
    recorder.call_finished("openai", "gpt-4o")
    recorder.call_finished("openai", "gpt-4o")
    assert sample_sum(scrape(registry)["llm_active_requests"]) == 0


def test_budgets_are_exposed() -> None:
    _, registry = make_recorder()
    m = scrape(registry)
    assert sample_sum(m["llm_budget_usd"], department="eng", period="daily") == 10
    assert sample_sum(m["llm_budget_usd"], department="eng", period="monthly") == 200


def test_cardinality_bound_records_other_and_counts_overflow() -> None:
    recorder, registry = make_recorder(LabelGuard({"app_id": 3}))
    for i in range(10):
        recorder.record(call(app_id=f"app-{i}"))
    m = scrape(registry)
    apps = {s.labels["app_id"] for s in m["llm_requests"].samples}
    assert apps == {"app-0", "app-1", "app-2", "other"}
    assert sample_sum(m["llm_label_overflow"], "_total", label="app_id") == 7
    assert sample_sum(m["llm_requests"], "_total") == 10, "overflowing calls are still counted"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("gpt-4o", "gpt-4o"), ("  spaced  ", "spaced"), ('evil"}\nx', "evil___x"), ("", "unknown"),
     ("x" * 100, "x" * 64), ("org/model:v1@rev+1", "org/model:v1@rev+1"), (42, "42")],
)
def test_sanitise(raw: object, clean: str) -> None:
    assert sanitise(raw) == clean


def test_guard_cache_stays_bounded() -> None:
    guard = LabelGuard({"model": 2})
    for i in range(1000):
        guard.value("model", f"m{i % 2}{' ' * (i % 50)}")
    assert len(guard._accepted["model"]) <= 8


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"duration_s": float("nan")}, "duration_s"),
        ({"duration_s": -3.0}, "duration_s"),
        ({"ttft_s": float("inf")}, "ttft_s"),
        ({"input_tokens": -970}, "input_tokens"),
        ({"input_tokens": None}, "input_tokens"),
        ({"output_tokens": "12"}, "output_tokens"),
        ({"output_tokens": 2.5}, "output_tokens"),
        ({"quality_score": float("nan")}, "quality_score"),
    ],
)
def test_impossible_numbers_are_counted_never_recorded(overrides, field, caplog) -> None:
    recorder, registry = make_recorder()
    recorder.record(call(quality_score=4.0))
    before = scrape(registry)
    with caplog.at_level(logging.WARNING):
        recorder.record(call(**overrides))
        recorder.record(call(**overrides))
    m = scrape(registry)
    assert sample_sum(m["llm_invalid_values"], "_total", field=field) == 2
    assert len([r for r in caplog.records if getattr(r, "field", None) == field]) == 1, "logged once per field"
    assert sample_sum(m["llm_requests"], "_total") == 3, "the call itself is still counted"
    for name in ("llm_tokens", "llm_cost_usd"):  # counters never go down
        assert sample_sum(m[name], "_total") >= sample_sum(before[name], "_total")
    for name in ("llm_request_duration_seconds", "llm_time_to_first_token_seconds"):
        assert math.isfinite(sample_sum(m[name], "_sum")) and sample_sum(m[name], "_sum") >= 0
    assert all(math.isfinite(s.value) for s in m["llm_quality_score"].samples)


def test_whole_label_sets_are_capped() -> None:
    pricing, budgets = Pricing({}), Budgets({"eng": DepartmentBudget(daily=10, monthly=200)})
    recorder = Recorder(pricing, budgets, mode="mock", version="test", max_label_sets=4)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(recorder)
    for app in range(4):
        for model in range(4):
            recorder.record(call(app_id=f"app-{app}", model=f"m-{model}"))
    m = scrape(registry)
    label_sets = {tuple(s.labels[k] for k in ("provider", "model", "app_id", "department"))
                  for s in m["llm_requests"].samples}
    assert len(label_sets) == 5 and ("other",) * 4 in label_sets
    assert sample_sum(m["llm_label_overflow"], "_total", label="label_set") == 12
    assert sample_sum(m["llm_requests"], "_total") == 16


def test_exemplars_carry_trace_and_request_id() -> None:
    recorder, registry = make_recorder()
    recorder.record(call(request_id="req-123"))
    text = generate_openmetrics(registry).decode()
    assert '# {request_id="req-123",trace_id="' + "a" * 32 + '"}' in text


def test_scrapes_format_outside_the_recording_lock(monkeypatch) -> None:
    recorder, registry = make_recorder()
    recorder.record(call())
    held = []
    original = recorder_module._HistogramSnapshot.buckets
    monkeypatch.setattr(recorder_module._HistogramSnapshot, "buckets",
                        lambda self: held.append(recorder._lock.locked()) or original(self))
    scrape(registry)
    assert held and not any(held), "histogram buckets are built after the lock is released"


def test_listeners_and_trace_policy_see_the_repaired_numbers() -> None:
    """With the logs-and-traces pipeline installed (as the service runs), impossible numbers
    neither crash record() nor reach the log line or the spans."""
    from llm_exporter.telemetry.config import TelemetryConfig
    from llm_exporter.telemetry.pipeline import Telemetry

    recorder, registry = make_recorder()
    Telemetry(recorder, TelemetryConfig.from_env({"LLM_EXPORTER_TRACE_SAMPLE_RATIO": "1"})).install()
    seen = []
    recorder.listeners.append(seen.append)
    recorder.record(call(duration_s="x", input_tokens=-5, ttft_s=None))
    recorder.record(call(duration_s=-3.0, output_tokens=None, ttft_s=None))
    assert [(r.call.duration_s, r.call.input_tokens, r.call.output_tokens) for r in seen] == [(0.0, 0, 101),
                                                                                            (0.0, 1000, 0)]
    assert sample_sum(scrape(registry)["llm_invalid_values"], "_total") == 4


def test_price_lookups_are_remembered_and_bounded(monkeypatch) -> None:
    from llm_exporter import pricing as pricing_module

    monkeypatch.setattr(pricing_module, "MAX_RESOLVED_MODELS", 3)
    pricing = Pricing({"gpt-4o": ModelPrice(input=1, output=1)})
    for name in ("gpt-4o-2024-08-06", "nope", "gpt-4o-2024-08-06", "a", "b", "c", "d"):
        pricing.price_for(name)
    assert pricing._resolved == {"gpt-4o-2024-08-06": pricing.prices["gpt-4o"], "nope": None, "a": None}

"""Exemplars tie a latency bucket to one request's trace: present in OpenMetrics, absent from the
classic text format, and only for calls whose trace is kept, so every one resolves to a trace."""

from __future__ import annotations

import requests
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from llm_exporter.config import Budgets, ModelPrice, Pricing
from llm_exporter.recorder import LLMCall, Recorder
from llm_exporter.telemetry.sampling import TracePolicy
from tests.support.metrics_text import OPENMETRICS_ACCEPT, families
from tests.support.otlp import OtlpReceiver
from tests.support.processes import run_exporter, wait_for

HISTOGRAMS = ("llm_request_duration_seconds", "llm_time_to_first_token_seconds", "llm_request_cost_usd")
SLOW_S = 6.0


def exemplars(text: str, with_request_ids: bool = False) -> list[tuple]:
    """(family, trace_id, value) of every exemplar in an OpenMetrics exposition, plus its
    request_id label (None when the call had none) with `with_request_ids`."""
    out = []
    for name, family in families(text, openmetrics=True).items():
        for sample in family.samples:
            if sample.exemplar is not None:
                labels = sample.exemplar.labels
                assert "trace_id" in labels and set(labels) <= {"trace_id", "request_id"}, labels
                found = (name, labels["trace_id"], sample.exemplar.value)
                out.append((*found, labels.get("request_id")) if with_request_ids else found)
    return out


def test_exemplars_point_at_exported_traces() -> None:
    receiver = OtlpReceiver()
    env = {"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url + "/v1/traces",
           "OTEL_BSP_SCHEDULE_DELAY": "200", "LLM_EXPORTER_TRACE_SAMPLE_RATIO": "0",
           "LLM_EXPORTER_TRACE_SLOW_SECONDS": str(SLOW_S)}
    try:
        with run_exporter("--mode", "mock", "--mock-rps", "60", "--seed", "9", env=env) as exporter:
            def openmetrics() -> str:
                return requests.get(exporter.url + "/metrics", headers={"Accept": OPENMETRICS_ACCEPT}, timeout=5).text

            wait_for(lambda: len(exemplars(openmetrics())) >= 10, timeout=90, what="10 exemplars")
            text = requests.get(exporter.url + "/metrics", timeout=5).text
            found = exemplars(openmetrics(), with_request_ids=True)

            def llm_spans() -> dict[str, object]:
                return {s.trace_id: s for s in receiver.spans() if s.kind == "CLIENT"}

            wait_for(lambda: {f[1] for f in found} <= set(llm_spans()), timeout=30,
                     what="the traces of every exemplar at the receiver")
    finally:
        receiver.close()
    assert "trace_id" not in text and "# {" not in text, "the classic text format carries no exemplars"
    assert {f[0] for f in found} <= set(HISTOGRAMS)
    assert "llm_request_duration_seconds" in {f[0] for f in found}
    spans = llm_spans()
    for name, trace_id, value, request_id in found:
        span = spans[trace_id]
        assert request_id is not None and request_id == span.attributes["request_id"], "one request_id ties both"
        duration = (span.end_ns - span.start_ns) / 1e9
        assert "error.type" in span.attributes or duration >= SLOW_S - 1e-6, "ratio 0: only errors and slow calls"
        if name == "llm_request_duration_seconds":
            assert abs(value - duration) < 1e-3, "the exemplar's value is the span's duration"
        if name == "llm_request_cost_usd":
            assert abs(value - span.attributes["llm.cost_usd"]) < 1e-9


def _recorder(policy) -> tuple[Recorder, CollectorRegistry]:
    recorder = Recorder(Pricing({"gpt-4o": ModelPrice(input=2.5, output=10)}), Budgets({}), mode="mock",
                        version="t")
    recorder.trace_policy = policy
    registry = CollectorRegistry(auto_describe=False)
    registry.register(recorder)
    return recorder, registry


def _call(trace_id: str, **overrides) -> LLMCall:
    fields = dict(provider="openai", model="gpt-4o", app_id="a", department="d", duration_s=1.5, input_tokens=10,
                  output_tokens=10, ttft_s=0.2, streaming=True, trace_id=trace_id, span_id="1" * 16)
    return LLMCall(**{**fields, **overrides})


def test_no_exemplar_for_a_trace_that_is_not_kept() -> None:
    recorder, registry = _recorder(TracePolicy(0.0, slow_seconds=10))
    recorded = recorder.record(_call("a" * 32))
    assert recorded.trace_kept is False
    assert exemplars(generate_openmetrics(registry).decode()) == []
    recorded = recorder.record(_call("b" * 32, error_type="timeout", duration_s=60.0, ttft_s=None, input_tokens=0,
                                    output_tokens=0))
    assert recorded.trace_kept is True
    found = exemplars(generate_openmetrics(registry).decode())
    assert ("llm_request_duration_seconds", "b" * 32, 60.0) in found
    assert {trace_id for _, trace_id, _ in found} == {"b" * 32}


def test_kept_call_has_exemplars_on_duration_ttft_and_cost() -> None:
    recorder, registry = _recorder(TracePolicy(1.0, slow_seconds=10))
    recorder.record(_call("c" * 32))
    found = exemplars(generate_openmetrics(registry).decode())
    assert sorted(name for name, _, _ in found) == sorted(HISTOGRAMS)
    assert {trace_id for _, trace_id, _ in found} == {"c" * 32}

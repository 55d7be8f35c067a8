"""Traces and logs over OTLP/HTTP, decoded by a real receiver from what the exporter process sends:
span tree, GenAI attributes, error status, sampling, and log records that join the spans."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from llm_exporter.recorder import LLMCall, Recorder
from llm_exporter.telemetry.context import mint_trace_context, parse_traceparent
from llm_exporter.telemetry.pipeline import build_resource
from llm_exporter.telemetry.sampling import TracePolicy
from tests.support.metrics_text import families, sample_sum
from tests.support.otlp import OtlpReceiver, Span, traces_by_id
from tests.support.processes import Running, run_exporter, stop, wait_for

SERVICE = "llm-exporter-under-test"
GENAI = {"gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model",
         "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "app_id", "department", "request_id"}


def otel_env(receiver: OtlpReceiver, **extra: str) -> dict[str, str]:
    return {
        "OTEL_SDK_DISABLED": "false",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,  # traces: base + /v1/traces
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": receiver.url + "/otlp/v1/logs",  # verbatim, as for Loki
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BLRP_SCHEDULE_DELAY": "200",
        **extra,
    }


def llm_span(spans: list[Span]) -> Span:
    (span,) = [s for s in spans if s.kind == "CLIENT"]
    return span


@pytest.fixture(scope="module")
def burst() -> Iterator[tuple[OtlpReceiver, Running]]:
    """An exporter in error_burst (30% errors) keeping every trace, sending to a live receiver."""
    receiver = OtlpReceiver()
    env = otel_env(receiver, OTEL_SERVICE_NAME=SERVICE, LLM_EXPORTER_TRACE_SAMPLE_RATIO="1")
    with run_exporter("--mode", "mock", "--mock-rps", "40", "--seed", "11", "--scenario", "error_burst",
                      env=env) as exporter:

        def enough() -> bool:
            spans = receiver.spans()
            names = {s.name for s in spans}
            errors = sum(1 for s in spans if s.kind == "CLIENT" and s.status == "ERROR")
            return (errors >= 10 and "retrieval" in names and any(n.startswith("execute_tool ") for n in names)
                    and sum(1 for r in receiver.logs() if r.attributes.get("event") == "llm_call") >= 50)

        wait_for(enough, timeout=90, what="error spans, retrieval and tool spans, and logs at the receiver")
        yield receiver, exporter
    receiver.close()


def test_resource_and_endpoints(burst) -> None:
    receiver, _ = burst
    spans, logs = receiver.spans(), receiver.logs()
    assert {s.resource["service.name"] for s in spans} == {SERVICE}
    assert {r.resource["service.name"] for r in logs} == {SERVICE}
    assert set(receiver.paths()) == {"/v1/traces", "/otlp/v1/logs"}, "base endpoint + v1/traces; logs verbatim"


def test_span_tree(burst) -> None:
    receiver, _ = burst
    traces = traces_by_id(receiver.spans())
    complete = {tid: spans for tid, spans in traces.items() if any(not s.parent_span_id for s in spans)}
    assert len(complete) >= 20
    for spans in complete.values():
        ids = {s.span_id for s in spans}
        assert len(ids) == len(spans), "span ids are unique within a trace"
        (root,) = [s for s in spans if not s.parent_span_id]
        assert (root.name, root.kind) == ("llm_request", "SERVER")
        children = [s for s in spans if s is not root]
        assert all(s.parent_span_id == root.span_id for s in children)
        llm = llm_span(children)
        assert llm.name == f"{llm.attributes['gen_ai.operation.name']} {llm.attributes['gen_ai.request.model']}"
        assert llm.end_ns == root.end_ns
        assert all(root.start_ns <= s.start_ns <= s.end_ns <= root.end_ns for s in children)
        before_llm = [s for s in children if s is not llm]
        assert all(s.end_ns <= llm.start_ns for s in before_llm), "retrieval and tool run before the LLM call"
        for s in before_llm:
            assert s.name == "retrieval" or s.name == f"execute_tool {s.attributes['gen_ai.tool.name']}"
            assert s.kind == "INTERNAL"
        assert root.attributes["request_id"] == llm.attributes["request_id"]


def test_genai_attributes(burst) -> None:
    receiver, _ = burst
    llm_spans = [s for s in receiver.spans() if s.kind == "CLIENT"]
    ok = [s for s in llm_spans if s.status != "ERROR"]
    assert ok
    for span in llm_spans:
        assert set(span.attributes) >= GENAI, GENAI - set(span.attributes)
        assert span.attributes["gen_ai.operation.name"] == "chat"
        assert span.attributes["gen_ai.response.model"] == span.attributes["gen_ai.request.model"]
    for span in ok:
        assert span.attributes["gen_ai.usage.input_tokens"] > 0 and span.attributes["gen_ai.usage.output_tokens"] > 0
        assert span.attributes["gen_ai.response.finish_reasons"] in (["stop"], ["length"])
        assert "error.type" not in span.attributes
        assert span.attributes["llm.cost_usd"] >= 0
    priced = [s for s in ok if s.attributes["gen_ai.provider.name"] != "vllm"]
    assert priced and all(s.attributes["llm.cost_usd"] > 0 for s in priced)


def test_failed_calls_have_error_status_and_exception_event(burst) -> None:
    receiver, _ = burst
    spans = receiver.spans()
    roots = {(s.trace_id, s.span_id): s for s in spans if not s.parent_span_id}
    failed = [s for s in spans if s.kind == "CLIENT" and "error.type" in s.attributes]
    assert len(failed) >= 10
    for span in failed:
        assert span.status == "ERROR"
        exceptions = [attrs for name, attrs in span.events if name == "exception"]
        assert len(exceptions) == 1 and exceptions[0]["exception.type"] == span.attributes["error.type"]
        root = roots.get((span.trace_id, span.parent_span_id))
        if root is not None:
            assert root.status == "ERROR" and root.attributes["error.type"] == span.attributes["error.type"]
    for span in spans:
        if span.kind == "CLIENT" and "error.type" not in span.attributes:
            assert span.status == "UNSET" and not [n for n, _ in span.events if n == "exception"]


def test_log_records_join_their_spans(burst) -> None:
    receiver, _ = burst
    llm_by_trace = {s.trace_id: s for s in receiver.spans() if s.kind == "CLIENT"}
    call_logs = [r for r in receiver.logs() if r.attributes.get("event") == "llm_call"]
    assert len(call_logs) >= 50
    joined = 0
    for record in call_logs:
        assert len(record.trace_id) == 32 and len(record.span_id) == 16
        # simulated successes are debug lines, kept off stdout but exported (the logs dashboards show them)
        assert record.severity_text == ("WARN" if record.attributes.get("error") else "DEBUG")
        for key in ("request_id", "app_id", "provider", "model", "tokens.input", "tokens.output", "latency_ms"):
            assert key in record.attributes, key
        span = llm_by_trace.get(record.trace_id)
        if span is None:
            continue  # its batch of spans may still be on the way
        joined += 1
        assert record.span_id == span.span_id, "a call's log line names the LLM span"
        assert record.attributes["request_id"] == span.attributes["request_id"]
        assert record.attributes["model"] == span.attributes["gen_ai.request.model"]
        assert record.attributes.get("error") == span.attributes.get("error.type")
        assert record.attributes["latency_ms"] == pytest.approx((span.end_ns - span.start_ns) / 1e6, abs=0.1)
    assert joined >= 0.8 * len(call_logs), "sampling ratio 1: nearly every logged call has its trace"


def test_sampling_keeps_errors_and_slow_calls_only_at_ratio_zero() -> None:
    receiver = OtlpReceiver()
    env = otel_env(receiver, LLM_EXPORTER_TRACE_SAMPLE_RATIO="0", LLM_EXPORTER_TRACE_SLOW_SECONDS="6")
    try:
        with run_exporter("--mode", "mock", "--mock-rps", "60", "--seed", "5", env=env):
            wait_for(lambda: len([s for s in receiver.spans() if s.kind == "CLIENT"]) >= 10, timeout=90,
                     what="10 kept traces")
            wait_for(lambda: sum(1 for r in receiver.logs() if r.attributes.get("trace_sampled") is False) >= 50,
                     timeout=60, what="logs of calls whose traces were not kept")
        exported = {s.trace_id for s in receiver.spans()}
        for span in (s for s in receiver.spans() if s.kind == "CLIENT"):
            assert "error.type" in span.attributes or (span.end_ns - span.start_ns) / 1e9 >= 6.0 - 1e-6
        dropped = [r for r in receiver.logs() if r.attributes.get("trace_sampled") is False]
        assert not {r.trace_id for r in dropped} & exported, "logs say which traces were not kept"
        kept = [r for r in receiver.logs() if r.attributes.get("trace_sampled") is True]
        assert kept and all(r.attributes.get("error") or r.attributes["latency_ms"] >= 6000 for r in kept)
    finally:
        receiver.close()


# -- in-process units: the trace-context helper and the policy ---------------------------------


def test_trace_context_helper_round_trip() -> None:
    fresh = mint_trace_context(use_current_span=False)
    assert fresh.parent_span_id is None and parse_traceparent(fresh.traceparent) == (fresh.trace_id, fresh.span_id,
                                                                                     True)
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    child = mint_trace_context(incoming)
    assert child.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736" and child.parent_span_id == "00f067aa0ba902b7"
    assert child.span_id != "00f067aa0ba902b7"
    call = child.apply(LLMCall("openai", "gpt-4o", "a", "d", 1.0))
    assert (call.trace_id, call.span_id, call.extra["parent_span_id"]) == (child.trace_id, child.span_id,
                                                                            "00f067aa0ba902b7")
    for bad in ("", "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-"
                "00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"):
        assert parse_traceparent(bad) is None, bad


def test_policy_ratio_is_deterministic_and_proportional() -> None:
    policy = TracePolicy(0.25, slow_seconds=10)
    kept = 0
    for i in range(1, 4001):  # i = 0 would give the all-zero id, which W3C declares invalid
        trace_id = f"{(i * 0x9E3779B97F4A7C15 * 0x2545F4914F6CDD1D) % (1 << 128):032x}"
        call = LLMCall("openai", "gpt-4o", "a", "d", 1.0, trace_id=trace_id, span_id="1" * 16)
        decision = policy(call)
        assert decision == policy(LLMCall("openai", "gpt-4o", "a", "d", 1.0, trace_id=trace_id, span_id="2" * 16))
        kept += decision
    assert 0.2 < kept / 4000 < 0.3
    assert TracePolicy(0.0, 10)(LLMCall("p", "m", "a", "d", 0.1, error_type="timeout", trace_id="a" * 32))
    assert TracePolicy(0.0, 10)(LLMCall("p", "m", "a", "d", 10.0, trace_id="a" * 32))
    assert not TracePolicy(0.0, 10)(LLMCall("p", "m", "a", "d", 9.9, trace_id="a" * 32))
    sampled_parent = LLMCall("p", "m", "a", "d", 0.1, trace_id="a" * 32, extra={"parent_sampled": True})
    assert TracePolicy(0.0, 10)(sampled_parent)


def test_spans_continue_a_callers_trace() -> None:
    """A call made under a caller's traceparent: the LLM span's parent is the caller's span, no root."""
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from llm_exporter.config import Budgets, Pricing
    from llm_exporter.telemetry.spans import build_spans

    recorder = Recorder(Pricing({}), Budgets({}), mode="proxy", version="t")
    recorder.trace_policy = TracePolicy(1.0, 10)
    ctx = mint_trace_context("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    recorded = recorder.record(ctx.apply(LLMCall("openai", "gpt-4o", "a", "d", 2.0, output_tokens=5)))
    (span,) = build_spans(recorded, 10**18, build_resource(), InstrumentationScope("t"))
    assert span.context.trace_id == int(ctx.trace_id, 16) and span.context.span_id == int(ctx.span_id, 16)
    assert span.parent.span_id == 0x00F067AA0BA902B7 and span.parent.is_remote
    assert span.name == "chat gpt-4o" and span.end_time - span.start_time == 2 * 10**9


def test_default_service_name(monkeypatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    assert build_resource().attributes["service.name"] == "llm-exporter"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "custom")
    assert build_resource().attributes["service.name"] == "custom"


def recorded_calls(exporter: Running) -> float:
    return sample_sum(families(requests.get(exporter.url + "/metrics", timeout=5).text)["llm_requests"], "_total")


def test_queued_telemetry_is_flushed_at_shutdown() -> None:
    """Batches wait a minute here, so what arrives was sent by the flush on SIGTERM."""
    receiver = OtlpReceiver()
    env = otel_env(receiver, LLM_EXPORTER_TRACE_SAMPLE_RATIO="1", OTEL_BSP_SCHEDULE_DELAY="60000",
                   OTEL_BLRP_SCHEDULE_DELAY="60000", OTEL_BSP_MAX_EXPORT_BATCH_SIZE="2048",
                   OTEL_BLRP_MAX_EXPORT_BATCH_SIZE="2048")
    try:
        with run_exporter("--mode", "mock", "--mock-rps", "40", "--seed", "2", env=env) as exporter:
            wait_for(lambda: recorded_calls(exporter) >= 20, timeout=60, what="20 recorded calls")
            assert receiver.spans() == [] and receiver.logs() == []
            assert stop(exporter.process) is not None
        assert len({s.trace_id for s in receiver.spans()}) >= 20
        assert sum(1 for r in receiver.logs() if r.attributes.get("event") == "llm_call") >= 20
    finally:
        receiver.close()

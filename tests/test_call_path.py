"""What the calling thread does per LLM call: mints W3C-valid, unique ids; reads a stream chunk in
full only when it can carry the first token, a finish reason or usage; queues the call's log
record and spans, which the export workers build into exactly what the logging path would have
made; and the bounded queues count a queued call as the records it stands for."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from llm_exporter.config import load_budgets, load_pricing
from llm_exporter.instrument.openai_client import MeteredStream
from llm_exporter.instrument.tracker import CallTracker
from llm_exporter.logs import JsonFormatter
from llm_exporter.mock.simulator import Simulator
from llm_exporter.recorder import LLMCall, RecordedCall, Recorder
from llm_exporter.telemetry import calllog, otlp_logs, spans
from llm_exporter.telemetry.config import QueueSettings, TelemetryConfig
from llm_exporter.telemetry.context import mint_trace_context, parse_traceparent
from llm_exporter.telemetry.export import BoundedExporter, Deferred
from llm_exporter.telemetry.pipeline import Telemetry, build_resource
from llm_exporter.tokens import TokenDetails
from tests.support.openai_upstream import OpenAIUpstream
from tests.support.otlp import OtlpReceiver
from tests.support.processes import CONFIG_DIR, REPO

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
SPAN_ID = re.compile(r"^[0-9a-f]{16}$")


def recorder() -> Recorder:
    return Recorder(load_pricing(CONFIG_DIR / "pricing.yaml"), load_budgets(CONFIG_DIR / "budgets.yaml"),
                    mode="instrument", version="test")


# -- ids ---------------------------------------------------------------------------------------------


def test_minted_ids_are_unique_and_w3c_valid() -> None:
    contexts = [mint_trace_context(use_current_span=False) for _ in range(50_000)]
    trace_ids = {c.trace_id for c in contexts}
    span_ids = {c.span_id for c in contexts}
    assert len(trace_ids) == len(span_ids) == len(contexts)
    for context in contexts[:5000]:
        assert TRACE_ID.match(context.trace_id) and context.trace_id != "0" * 32
        assert SPAN_ID.match(context.span_id) and context.span_id != "0" * 16
        assert parse_traceparent(context.traceparent) == (context.trace_id, context.span_id, True)
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    children = [mint_trace_context(parent) for _ in range(10_000)]
    assert {c.trace_id for c in children} == {"4bf92f3577b34da6a3ce929d0e0e4736"}
    assert len({c.span_id for c in children} | {"00f067aa0ba902b7"}) == len(children) + 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (a forked worker process)")
def test_a_forked_process_mints_ids_of_its_own() -> None:
    """Pre-fork servers (gunicorn, uvicorn workers) fork after import: each process must draw
    its own ids, not the same sequence as its parent and siblings."""
    mint_trace_context(use_current_span=False)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its ids to the pipe, then leave without running the test runner's exit
        try:
            ids = [mint_trace_context(use_current_span=False).trace_id for _ in range(100)]
            os.write(write, json.dumps(ids).encode())
        finally:
            os._exit(0)
    os.close(write)
    parent_ids = [mint_trace_context(use_current_span=False).trace_id for _ in range(100)]
    with os.fdopen(read, "rb") as pipe:
        child_ids = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert len(child_ids) == 100 and not set(child_ids) & set(parent_ids)


# -- stream chunks -------------------------------------------------------------------------------------


class Reads:
    """An SDK-like object (attributes, no __dict__) that notes the name of every field read."""

    __slots__ = ("_fields", "_log")

    def __init__(self, log: list[str], **fields: Any) -> None:
        object.__setattr__(self, "_log", log)
        object.__setattr__(self, "_fields", fields)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        object.__getattribute__(self, "_log").append(name)
        fields = object.__getattribute__(self, "_fields")
        if name not in fields:
            raise AttributeError(name)
        return fields[name]


def chunk_stream(log: list[str], tokens: int = 20, usage_every_chunk: bool = False) -> list[Reads]:
    """Chunks as an OpenAI-compatible server streams them: role, tokens, finish, usage."""
    def chunk(delta: dict[str, Any] | None, finish: str | None, usage: dict[str, int] | None = None,
              choices: bool = True) -> Reads:
        usage_value = Reads(log, **usage) if usage else None
        choice = [Reads(log, index=0, delta=Reads(log, **delta) if delta is not None else None,
                        finish_reason=finish)] if choices else []
        return Reads(log, id="c", model="gpt-4o-2024-08-06", choices=choice, usage=usage_value)

    running = {"prompt_tokens": 9, "completion_tokens": 0}
    chunks = [chunk({"role": "assistant", "content": ""}, None, dict(running) if usage_every_chunk else None)]
    for number in range(tokens):
        running["completion_tokens"] = number + 1
        chunks.append(chunk({"content": f"tok{number} "}, None, dict(running) if usage_every_chunk else None))
    chunks.append(chunk({}, "stop", dict(running) if usage_every_chunk else None))
    if not usage_every_chunk:
        chunks.append(chunk(None, None, {"prompt_tokens": 9, "completion_tokens": tokens}, choices=False))
    return chunks


def reads_per_chunk(chunks: list[Reads], log: list[str], feed) -> list[list[str]]:
    out = []
    for item in chunks:
        log.clear()
        feed(item)
        out.append(list(log))
    return out


def test_a_token_chunk_after_the_first_costs_three_field_reads() -> None:
    log: list[str] = []
    chunks = chunk_stream(log)
    tracker = CallTracker(recorder(), provider="openai", model="gpt-4o", app_id="a", department="d", streaming=True)
    reads = reads_per_chunk(chunks, log, tracker.observe_chunk)
    tracker.finish()
    middle = reads[2:-2]  # after the first token (chunk 1), before the finish and usage chunks
    assert len(middle) == 19
    assert all(r == ["usage", "choices", "finish_reason"] for r in middle), middle[:3]
    for full in (reads[0], reads[1], reads[-2], reads[-1]):  # read in full: first token, finish, usage
        assert "model" in full and len(full) > 3, full
    call = tracker.recorded.call
    assert call.ttft_s is not None and call.finish_reason == "stop"
    assert (call.input_tokens, call.output_tokens) == (9, 20)
    assert call.extra["response_model"] == "gpt-4o-2024-08-06"


def test_the_stream_wrapper_reads_routine_chunks_three_times_and_hides_its_usage_chunk() -> None:
    log: list[str] = []
    chunks = chunk_stream(log)
    tracker = CallTracker(recorder(), provider="openai", model="gpt-4o", app_id="a", department="d", streaming=True)
    stream = MeteredStream(iter(chunks), tracker, hide_usage_chunk=True)
    passed, reads = [], []
    for _ in range(len(chunks) - 1):
        log.clear()
        passed.append(next(stream))
        reads.append(list(log))
    with pytest.raises(StopIteration):  # the usage-only chunk is read, then the stream ends
        next(stream)
    assert passed == chunks[:-1], "the usage-only chunk the wrapper asked for is kept from the caller"
    assert all(r == ["usage", "choices", "finish_reason"] for r in reads[2:-1]), reads[2:5]
    assert (tracker.recorded.call.output_tokens, tracker.recorded.call.finish_reason) == (20, "stop")


def test_usage_on_every_chunk_is_read_on_every_chunk() -> None:
    """Servers that report running usage on each chunk (vLLM's continuous usage stats): such a
    chunk can change what is recorded, so it is read in full, and the last count wins."""
    log: list[str] = []
    chunks = chunk_stream(log, tokens=5, usage_every_chunk=True)
    tracker = CallTracker(recorder(), provider="vllm", model="m", app_id="a", department="d", streaming=True)
    for chunk in chunks[:4]:
        tracker.observe_chunk(chunk)
    assert tracker.output_tokens == 3
    for chunk in chunks[4:]:
        tracker.observe_chunk(chunk)
    assert (tracker.input_tokens, tracker.output_tokens, tracker.finish_reason) == (9, 5, "stop")


def test_proxy_events_take_the_same_path() -> None:
    """The proxy feeds parsed SSE events (dicts): the same first token, finish reason and usage."""
    tracker = CallTracker(recorder(), provider="openai", model="gpt-4o", app_id="a", department="d", streaming=True)
    events = [{"choices": [{"delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
              *({"choices": [{"delta": {"content": "x"}, "finish_reason": None}], "model": "m1"} for _ in range(3)),
              {"choices": [{"delta": {}, "finish_reason": "length"}], "model": "m2"},
              {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 3,
                                        "prompt_tokens_details": {"cached_tokens": 2}}, "model": "m2"}]
    for event in events:
        tracker.observe_chunk(event)
    assert tracker.ttft_s is not None and tracker.finish_reason == "length"
    assert (tracker.input_tokens, tracker.output_tokens, tracker.response_model) == (4, 3, "m2")
    assert tracker.token_details == TokenDetails(cached_input=2)


# -- the call's log record and spans, built on the export workers --------------------------------------


def recorded_calls() -> Iterator[RecordedCall]:
    rec = recorder()
    yield rec.record(LLMCall("openai", "gpt-4o", "support-bot", "support", 1.25, 1200, 300, ttft_s=0.4,
                             streaming=True, finish_reason="stop", trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
                             span_id="00f067aa0ba902b7", request_id="req-1",
                             token_details=TokenDetails(cached_input=1024, reasoning_output=128)))
    yield rec.record(LLMCall("openai", "gpt-4o", "support-bot", "support", 0.08, error_type="rate_limit",
                             trace_id="4bf92f3577b34da6a3ce929d0e0e4737", span_id="00f067aa0ba902b8",
                             extra={"error_message": "429 for key sk-abcdefghijklmnopqrstuvwxyz"}))
    yield rec.record(LLMCall("vllm", "llama", "doc-search", "eng", 2.0, 10, 20,
                             extra={"prompt": "mail jane.doe@example.com", "completion": [{"role": "assistant"}]}))


@pytest.mark.parametrize("success_level", [logging.INFO, logging.DEBUG])  # DEBUG: the mock's simulated calls
@pytest.mark.parametrize("preview_chars", [0, 12])
def test_queued_log_record_is_the_one_the_logging_path_makes(preview_chars: int, success_level: int) -> None:
    resource, scope = build_resource("development", "instrument"), InstrumentationScope("llm_exporter", "t")
    logger = logging.getLogger(calllog.CALL_LOGGER)
    for recorded in recorded_calls():
        for kept in (False, True):
            (queued,) = calllog.otlp_call_record(recorded, kept, preview_chars, 1, resource, scope, success_level)
            level, message = calllog.level_and_message(recorded, success_level)
            assert level == (logging.WARNING if recorded.error_type else success_level)
            fields = calllog.call_fields(recorded, trace_kept=kept, preview_chars=preview_chars)
            python_record = logger.makeRecord(logger.name, level, __file__, 0, message, (), None, extra=fields)
            via_logging = otlp_logs.to_otlp(python_record, resource, scope)
            a, b = queued.log_record, via_logging.log_record
            assert dict(a.attributes) == dict(b.attributes)
            assert (a.body, a.severity_text, a.severity_number, a.event_name) == (
                b.body, b.severity_text, b.severity_number, b.event_name)
            assert (a.trace_id, a.span_id, a.trace_flags) == (b.trace_id, b.span_id, b.trace_flags)
            assert a.trace_id == int(recorded.call.trace_id or "0", 16)
            assert queued.resource is via_logging.resource


def test_span_count_is_what_build_spans_makes() -> None:
    rec = recorder()
    resource, scope = build_resource(), InstrumentationScope("llm_exporter")
    counts = set()
    for scenario in ("normal", "error_burst"):
        simulator = Simulator(rec, rps=50, seed=4, scenario=scenario)
        now = time.time()
        for index in range(1500):
            call = simulator.make_call(now + index / 50)
            if index % 3 == 0:  # some continue a caller's trace
                mint_trace_context("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").apply(call)
            recorded = rec.record(call)
            built = len(spans.build_spans(recorded, time.time_ns(), resource, scope))
            assert spans.span_count(recorded) == built, recorded.call.extra
            counts.add(built)
    assert counts >= {1, 2, 3}, counts


@pytest.fixture
def json_lines() -> Iterator[tuple[io.StringIO, logging.Handler]]:
    """JSON lines of the llm_exporter loggers (a handler the test may take off and put back)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("llm_exporter")
    saved = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield stream, handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)


def call_lines(stream: io.StringIO) -> list[dict]:
    return [e for e in map(json.loads, stream.getvalue().splitlines()) if e.get("event") == "llm_call"]


def test_each_call_is_exported_once_with_or_without_a_json_handler(json_lines) -> None:
    stream, handler = json_lines
    receiver = OtlpReceiver()
    rec = recorder()
    config = TelemetryConfig(logs_endpoint=receiver.url + "/v1/logs", traces_endpoint=receiver.url + "/v1/traces",
                             sample_ratio=1.0, logs_queue=QueueSettings(delay_s=0.05),
                             traces_queue=QueueSettings(delay_s=0.05))
    telemetry = Telemetry(rec, config).install()
    logger = logging.getLogger("llm_exporter")
    try:
        for number in range(5):  # a JSON handler beside the OTLP one: the line goes both ways
            rec.record(LLMCall("openai", "gpt-4o", "a", "d", 0.5, 10, 10, request_id=f"with-json-{number}"))
        logger.removeHandler(handler)
        for number in range(5):  # the OTLP handler alone: the record is queued, not logged
            rec.record(LLMCall("openai", "gpt-4o", "a", "d", 0.5, 10, 10, request_id=f"otlp-only-{number}"))
        calls_logger = logging.getLogger(calllog.CALL_LOGGER)
        calls_logger.propagate = False  # and their propagation: no handler is reached
        try:
            rec.record(LLMCall("openai", "gpt-4o", "a", "d", 0.5, 10, 10, request_id="not-propagated"))
        finally:
            calls_logger.propagate = True
        logger.setLevel(logging.WARNING)  # the llm_exporter loggers' level applies to OTLP too
        rec.record(LLMCall("openai", "gpt-4o", "a", "d", 0.5, 10, 10, request_id="below-level"))
        rec.record(LLMCall("openai", "gpt-4o", "a", "d", 0.5, error_type="timeout", request_id="failed"))
        logger.addHandler(handler)
        assert telemetry.flush(10.0)
    finally:
        telemetry.shutdown(2.0)
        receiver.close()
    exported = [r.attributes["request_id"] for r in receiver.logs() if r.attributes.get("event") == "llm_call"]
    assert sorted(exported) == sorted([*(f"with-json-{n}" for n in range(5)), *(f"otlp-only-{n}" for n in range(5)),
                                       "failed"])
    assert [e["request_id"] for e in call_lines(stream)] == [f"with-json-{n}" for n in range(5)]
    assert len(receiver.spans()) == 26, "every call's root and LLM span, once"


def test_mock_successes_are_exported_at_debug_and_kept_off_an_info_handler(json_lines) -> None:
    """The mock's simulated successes are debug lines: a stdout handler at info (as the service
    sets it up) does not print them, the OTLP export still gets them, built on its worker."""
    stream, handler = json_lines
    handler.setLevel(logging.INFO)
    receiver = OtlpReceiver()
    rec = recorder()
    config = TelemetryConfig(logs_endpoint=receiver.url + "/v1/logs", logs_queue=QueueSettings(delay_s=0.05))
    telemetry = Telemetry(rec, config, mode="mock").install()
    try:
        rec.record(LLMCall("openai", "gpt-4o", "a", "d", 0.5, 10, 10, request_id="simulated-ok"))
        rec.record(LLMCall("openai", "gpt-4o", "a", "d", 0.5, error_type="timeout", request_id="simulated-failed"))
        assert telemetry.flush(10.0)
    finally:
        telemetry.shutdown(2.0)
        receiver.close()
    exported = {r.attributes["request_id"]: r.severity_text for r in receiver.logs()
                if r.attributes.get("event") == "llm_call"}
    assert exported == {"simulated-ok": "DEBUG", "simulated-failed": "WARN"}
    assert [e["request_id"] for e in call_lines(stream)] == ["simulated-failed"]
    assert logging.getLogger(calllog.CALL_LOGGER).level == logging.NOTSET, "restored at shutdown"


def test_without_any_handler_a_failed_call_still_reaches_stderr() -> None:
    """Python's last-resort handler prints warnings when no handler is configured: the call line
    of a failed call still goes through logging then."""
    code = textwrap.dedent("""
        from llm_exporter.config import Budgets, Pricing
        from llm_exporter.recorder import LLMCall, Recorder
        from llm_exporter.telemetry.config import TelemetryConfig
        from llm_exporter.telemetry.pipeline import Telemetry
        recorder = Recorder(Pricing({}), Budgets({}), mode="instrument", version="t")
        Telemetry(recorder, TelemetryConfig()).install()
        recorder.record(LLMCall("openai", "gpt-4o", "a", "d", 0.5, error_type="timeout"))
        recorder.record(LLMCall("openai", "gpt-4o", "a", "d", 0.5))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPO / "exporter" / "src")})
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("llm call failed") == 1 and "llm call completed" not in result.stderr


# -- the bounded queue and deferred records ----------------------------------------------------------


class Collecting:
    """An exporter double at the Exporter protocol: keeps each batch, reports success."""

    class _Result:
        name = "SUCCESS"

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.lock = threading.Lock()

    def export(self, batch: list[Any]) -> Any:
        with self.lock:
            self.batches.append(list(batch))
        return self._Result()

    def shutdown(self) -> None:
        pass


def build(name: str, count: int, built_on: list[str]):
    def run() -> list[str]:
        built_on.append(threading.current_thread().name)
        return [f"{name}.{i}" for i in range(count)]
    return run


def test_queue_counts_a_deferred_item_as_its_records() -> None:
    exporter = Collecting()
    dropped: list[tuple[str, int]] = []
    built_on: list[str] = []
    queue = BoundedExporter("traces", exporter, QueueSettings(max_queue=5, max_batch=5, delay_s=60),
                            lambda signal, n: dropped.append((signal, n)))

    def broken() -> list[str]:
        raise ValueError("cannot build")

    try:
        assert queue.put(Deferred(build("a", 3, built_on), records=3))
        assert queue.put("plain")
        assert not queue.put(Deferred(build("b", 3, built_on), records=3)), "3 more records do not fit in 5"
        assert dropped == [("traces", 3)]
        assert queue.put(Deferred(broken, records=1))  # 5 records: a full batch wakes the worker
        assert queue.flush(10.0)
    finally:
        queue.shutdown(2.0)
    assert exporter.batches == [["a.0", "a.1", "a.2", "plain"]]
    assert dropped == [("traces", 3), ("traces", 1)], "a record that cannot be built is dropped and counted"
    assert set(built_on) == {"otlp-traces"}, "built on the export worker, not the calling thread"


def test_a_batch_holds_at_most_max_batch_records() -> None:
    exporter = Collecting()
    built_on: list[str] = []
    queue = BoundedExporter("logs", exporter, QueueSettings(max_queue=100, max_batch=4, delay_s=60),
                            lambda signal, n: None)
    try:
        for name in "cde":
            queue.put(Deferred(build(name, 3, built_on), records=3))
        queue.put("plain")
        assert queue.flush(10.0)
    finally:
        queue.shutdown(2.0)
    assert exporter.batches == [["c.0", "c.1", "c.2"], ["d.0", "d.1", "d.2"], ["e.0", "e.1", "e.2", "plain"]]


def test_flush_telemetry_sends_everything_before_a_short_script_exits() -> None:
    with OpenAIUpstream() as upstream:
        receiver = OtlpReceiver()
        script = textwrap.dedent(f"""
            import openai
            from llm_exporter.instrument import flush_telemetry, instrument_openai
            client = instrument_openai(openai.OpenAI(base_url="{upstream.url}", api_key="sk-x", max_retries=0))
            for _ in range(3):
                client.chat.completions.create(model="gpt-4o", messages=[{{"role": "user", "content": "hi"}}])
            print(flush_telemetry(10.0))
        """)
        env = {**os.environ, "PYTHONPATH": str(REPO / "exporter" / "src"), "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
               "LLM_EXPORTER_TRACE_SAMPLE_RATIO": "1", "OTEL_BSP_SCHEDULE_DELAY": "60000",
               "OTEL_BLRP_SCHEDULE_DELAY": "60000"}
        try:
            result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                                    env=env)
            assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr
            assert len([s for s in receiver.spans() if s.kind == "CLIENT"]) == 3
            assert len([r for r in receiver.logs() if r.attributes.get("event") == "llm_call"]) == 3
        finally:
            receiver.close()


# -- the OpenAI client's streams, however the caller holds them ------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream() as server:
        yield server


def metered_client(upstream: OpenAIUpstream, calls: list[RecordedCall], asynchronous: bool = False) -> Any:
    import openai

    from llm_exporter.instrument import instrument_openai

    rec = recorder()
    rec.listeners.append(calls.append)
    client_class = openai.AsyncOpenAI if asynchronous else openai.OpenAI
    client = client_class(base_url=upstream.url, api_key="sk-test", max_retries=0)
    return instrument_openai(client, app_id="a", department="d", recorder=rec)


MESSAGES = [{"role": "user", "content": "Name three rivers."}]


def test_a_loop_over_create_records_the_whole_stream(upstream: OpenAIUpstream) -> None:
    """`for chunk in client.chat.completions.create(..., stream=True)`: only the loop holds the
    stream; the call is recorded once, when the stream ends, as a success with its usage."""
    calls: list[RecordedCall] = []
    client = metered_client(upstream, calls)
    pieces = [chunk.choices[0].delta.content or ""
              for chunk in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=4,
                                                          stream=True)]
    assert "".join(pieces) == "tok0 tok1 tok2 tok3 "
    (recorded,) = calls
    assert (recorded.error_type, recorded.call.finish_reason, recorded.call.output_tokens) == (None, "stop", 4)
    assert recorded.call.ttft_s is not None


def test_a_stream_dropped_before_its_end_is_recorded_as_cancelled(upstream: OpenAIUpstream) -> None:
    calls: list[RecordedCall] = []
    client = metered_client(upstream, calls)
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=40, stream=True)
    del stream  # never read
    iterator = iter(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=40, stream=True))
    for chunk in iterator:
        if chunk.choices[0].delta.content:
            break
    del iterator, chunk  # read up to the first token, then dropped
    assert [(c.error_type, c.call.finish_reason, c.call.ttft_s is not None) for c in calls] == [
        ("other", "cancelled", False), ("other", "cancelled", True)]


def test_an_async_loop_over_create_records_the_whole_stream(upstream: OpenAIUpstream) -> None:
    import asyncio

    calls: list[RecordedCall] = []

    async def main() -> str:
        client = metered_client(upstream, calls, asynchronous=True)
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in await client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, max_tokens=3, stream=True)])
        await client.close()
        return text

    assert asyncio.run(main()) == "tok0 tok1 tok2 "
    (recorded,) = calls
    assert (recorded.error_type, recorded.call.finish_reason, recorded.call.output_tokens) == (None, "stop", 3)


def test_a_label_value_over_its_bound_is_counted_on_every_call() -> None:
    """Label sets the guard accepted are remembered; one with a value folded into "other" is not,
    so llm_label_overflow_total counts every call that lost a value, not the first one only."""
    from llm_exporter.labels import LabelGuard

    rec = Recorder(load_pricing(CONFIG_DIR / "pricing.yaml"), load_budgets(CONFIG_DIR / "budgets.yaml"),
                   mode="instrument", version="test", guard=LabelGuard({"app_id": 1}))
    for _ in range(3):
        assert rec.record(LLMCall("openai", "gpt-4o", "first-app", "d", 0.5)).app_id == "first-app"
    for _ in range(5):
        assert rec.record(LLMCall("openai", "gpt-4o", "second-app", "d", 0.5)).app_id == "other"
    assert rec.guard.overflow_counts() == {"app_id": 5}
    assert rec.record(LLMCall("openai", "gpt 4o!", "first-app", "d", 0.5)).model == "gpt_4o_"


def test_ids_continue_the_applications_active_span() -> None:
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, use_span

    caller = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.DEFAULT))
    with use_span(NonRecordingSpan(caller)):
        inside = mint_trace_context()
    outside = mint_trace_context()
    assert (inside.trace_id, inside.parent_span_id, inside.sampled) == (
        "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", False)
    assert outside.parent_span_id is None and outside.trace_id != inside.trace_id

"""The instrumentation library: the real OpenAI Python client (sync, async, streaming) pointed at a
real OpenAI-compatible server on 127.0.0.1, the decorator and context manager, and /metrics
exposure. Each test records into its own Recorder and registry; one test runs a whole instrumented
"service" in a subprocess to check the spans and logs it sends over OTLP."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from types import SimpleNamespace

import openai
import pytest
import requests
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest
from starlette.testclient import TestClient

from llm_exporter.config import Budgets, load_pricing
from llm_exporter.instrument import (
    classify_exception,
    extract,
    instrument_openai,
    metrics_asgi_app,
    mount_metrics,
    start_metrics_server,
    track_llm_call,
)
from llm_exporter.recorder import RecordedCall, Recorder
from llm_exporter.tokens import TokenDetails
from tests.support.metrics_text import OPENMETRICS_ACCEPT, families, sample_sum
from tests.support.openai_upstream import ODD_BODIES, OpenAIUpstream, prompt_tokens
from tests.support.otlp import OtlpReceiver
from tests.support.processes import CONFIG_DIR, REPO, free_port, wait_for

PRICING = load_pricing(CONFIG_DIR / "pricing.yaml")
MESSAGES = [{"role": "user", "content": "Name three rivers in Europe."}]


class Capture:
    """A recorder in its own registry, plus every RecordedCall it saw."""

    def __init__(self) -> None:
        self.recorder = Recorder(PRICING, Budgets(departments={}), mode="instrument", version="test")
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.recorder)
        self.calls: list[RecordedCall] = []
        self.recorder.listeners.append(self.calls.append)

    def metrics(self) -> dict:
        return families(generate_latest(self.registry).decode())

    def one(self) -> RecordedCall:
        assert len(self.calls) == 1, self.calls
        return self.calls[0]

    def active(self) -> float:
        return sample_sum(self.metrics()["llm_active_requests"])


@pytest.fixture(scope="module")
def upstream() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream(chunk_delay_s=0.002) as server:
        yield server


@pytest.fixture
def capture() -> Capture:
    return Capture()


def sync_client(upstream: OpenAIUpstream, capture: Capture, **options: object) -> openai.OpenAI:
    client = openai.OpenAI(base_url=upstream.url, api_key="sk-instrument-test", max_retries=0, **options)
    return instrument_openai(client, app_id="code-assistant", department="engineering", recorder=capture.recorder)


def async_client(upstream: OpenAIUpstream, capture: Capture, **options: object) -> openai.AsyncOpenAI:
    client = openai.AsyncOpenAI(base_url=upstream.url, api_key="sk-instrument-test", max_retries=0, **options)
    return instrument_openai(client, app_id="code-assistant", department="engineering", recorder=capture.recorder)


# -- the OpenAI client wrapper -------------------------------------------------------------------


def test_sync_chat_completion(upstream: OpenAIUpstream, capture: Capture) -> None:
    client = sync_client(upstream, capture)
    reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=4)
    assert reply.choices[0].message.content == "tok0 tok1 tok2 tok3 "
    recorded = capture.one()
    call = recorded.call
    assert (recorded.provider, recorded.model, recorded.app_id, recorded.department) == (
        "self_hosted", "gpt-4o", "code-assistant", "engineering")
    assert (call.input_tokens, call.output_tokens) == (reply.usage.prompt_tokens, 4)
    assert call.error_type is None and call.ttft_s is None and call.operation == "chat"
    assert recorded.cost_usd == pytest.approx(PRICING.cost("gpt-4o", reply.usage.prompt_tokens, 4))
    # the W3C trace context went upstream, naming this call's span
    assert upstream.last().headers["traceparent"] == f"00-{call.trace_id}-{call.span_id}-01"
    fams = capture.metrics()
    assert sample_sum(fams["llm_requests"], "_total", status="success", model="gpt-4o") == 1
    assert capture.active() == 0


def test_sync_stream_hides_the_usage_chunk_it_asked_for(upstream: OpenAIUpstream, capture: Capture) -> None:
    client = sync_client(upstream, capture)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=5, stream=True)
    assert capture.active() == 1
    chunks = list(stream)
    assert chunks and all(chunk.choices for chunk in chunks)  # the caller never asked for the usage chunk
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "tok0 tok1 tok2 tok3 tok4 "
    assert upstream.last().json["stream_options"] == {"include_usage": True}
    call = capture.one().call
    assert (call.input_tokens, call.output_tokens) == (prompt_tokens(upstream.last().json), 5)
    assert call.streaming and call.ttft_s is not None and call.tpot_s is not None
    assert call.finish_reason == "stop" and call.error_type is None
    assert capture.active() == 0


def test_sync_stream_keeps_the_usage_chunk_the_caller_asked_for(upstream: OpenAIUpstream, capture: Capture) -> None:
    client = sync_client(upstream, capture)
    with client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=2, stream=True,
                                        stream_options={"include_usage": True}) as stream:
        chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 2
    assert capture.one().call.output_tokens == 2


def test_stream_left_early(upstream: OpenAIUpstream, capture: Capture) -> None:
    client = sync_client(upstream, capture)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=50, stream=True)
    for chunk in stream:
        if chunk.choices[0].delta.content:
            break
    stream.close()
    call = capture.one().call
    assert (call.error_type, call.finish_reason) == ("other", "cancelled")
    assert call.ttft_s is not None
    assert capture.active() == 0


def test_async_chat_and_stream(upstream: OpenAIUpstream, capture: Capture) -> None:
    async def main() -> tuple[str, list[str]]:
        client = async_client(upstream, capture)
        reply = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=3)
        stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=3, stream=True)
        pieces = [chunk.choices[0].delta.content or "" async for chunk in stream]
        await client.close()
        return reply.choices[0].message.content, pieces

    text, pieces = asyncio.run(main())
    assert text == "".join(pieces) == "tok0 tok1 tok2 "
    plain, streamed = (c.call for c in capture.calls)
    assert (plain.streaming, plain.output_tokens, plain.ttft_s) == (False, 3, None)
    assert (streamed.streaming, streamed.output_tokens) == (True, 3) and streamed.ttft_s is not None
    assert plain.trace_id != streamed.trace_id
    assert capture.active() == 0


def test_legacy_completions_and_embeddings(upstream: OpenAIUpstream, capture: Capture) -> None:
    client = sync_client(upstream, capture)
    text = client.completions.create(model="gpt-4o-mini", prompt="one two three", max_tokens=2)
    streamed = list(client.completions.create(model="gpt-4o-mini", prompt="one two", max_tokens=3, stream=True))
    vectors = client.embeddings.create(model="text-embedding-3-small", input=["a b c", "d"])
    assert text.choices[0].text == "tok0 tok1 " and len(vectors.data) == 2
    assert all(chunk.choices for chunk in streamed)
    completion, stream, embedding = (c.call for c in capture.calls)
    assert (completion.operation, completion.input_tokens, completion.output_tokens) == ("text_completion", 3, 2)
    assert (stream.operation, stream.input_tokens, stream.output_tokens) == ("text_completion", 2, 3)
    assert (embedding.operation, embedding.input_tokens, embedding.output_tokens) == ("embeddings", 4, 0)


@pytest.mark.parametrize(("model", "exception", "error_type"), [
    ("fail-429", openai.RateLimitError, "rate_limit"),
    ("fail-quota", openai.RateLimitError, "insufficient_quota"),
    ("fail-401", openai.AuthenticationError, "authentication"),
    ("fail-500", openai.InternalServerError, "server_error"),
    ("fail-context", openai.BadRequestError, "context_length_exceeded"),
    ("fail-filter", openai.BadRequestError, "content_filter"),
    ("reset", openai.APIConnectionError, "other"),
    ("hang", openai.APITimeoutError, "timeout"),
])
def test_errors_are_raised_unchanged_and_classified(upstream: OpenAIUpstream, capture: Capture, model: str,
                                                    exception: type[Exception], error_type: str) -> None:
    client = sync_client(upstream, capture, timeout=1.0)
    with pytest.raises(exception):
        client.chat.completions.create(model=model, messages=MESSAGES)
    recorded = capture.one()
    assert recorded.error_type == error_type and recorded.model == model
    assert sample_sum(capture.metrics()["llm_errors"], "_total", error_type=error_type) == 1
    assert capture.active() == 0


def test_error_inside_a_stream(upstream: OpenAIUpstream, capture: Capture) -> None:
    client = sync_client(upstream, capture)
    stream = client.chat.completions.create(model="stream-error", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError):
        list(stream)
    assert capture.one().error_type == "server_error"
    assert capture.active() == 0


def test_instrumenting_twice_records_once(upstream: OpenAIUpstream, capture: Capture) -> None:
    client = sync_client(upstream, capture)
    instrument_openai(client, recorder=capture.recorder)
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(capture.calls) == 1
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert raw.parse().choices  # raw responses still work (and are not metered)
    assert len(capture.calls) == 1


# -- decorator and context manager ---------------------------------------------------------------


def test_context_manager(capture: Capture) -> None:
    with track_llm_call(provider="anthropic", model="claude-sonnet-4", app_id="research-agent",
                        department="research", recorder=capture.recorder) as call:
        assert capture.active() == 1
        call.first_token()
        call.set_usage(1200, 300)
    recorded = capture.one()
    assert (recorded.provider, recorded.model, recorded.call.input_tokens, recorded.call.output_tokens) == (
        "anthropic", "claude-sonnet-4", 1200, 300)
    assert recorded.cost_usd == pytest.approx(PRICING.cost("claude-sonnet-4", 1200, 300))
    assert recorded.call.ttft_s is not None
    assert capture.active() == 0


def test_wrapper_records_cached_and_reasoning_tokens(upstream: OpenAIUpstream, capture: Capture) -> None:
    client = sync_client(upstream, capture)
    messages = [{"role": "system", "content": "Answer briefly. " * 30}, *MESSAGES]
    reply = client.chat.completions.create(model="o3", messages=messages, max_tokens=3, prompt_cache_key="k",
                                           reasoning_effort="medium")
    stream = client.chat.completions.create(model="o3", messages=messages, max_tokens=3, prompt_cache_key="k",
                                            reasoning_effort="medium", stream=True)
    assert [c.usage for c in stream if c.usage] == []  # the usage chunk it asked for stays hidden
    usage = reply.usage
    cached, reasoning = usage.prompt_tokens_details.cached_tokens, usage.completion_tokens_details.reasoning_tokens
    assert cached > 0 and reasoning > 0
    price = PRICING.prices["o3"]
    expected = ((usage.prompt_tokens - cached) * price.input + cached * price.cached_input
                + usage.completion_tokens * price.output) / 1e6
    for recorded in capture.calls:  # the JSON reply and the stream alike
        call = recorded.call
        assert (call.input_tokens, call.output_tokens) == (usage.prompt_tokens, usage.completion_tokens)
        assert (call.token_details.cached_input, call.token_details.reasoning_output) == (cached, reasoning)
        assert recorded.cost_usd == pytest.approx(expected)
    assert len(capture.calls) == 2
    fams = capture.metrics()
    assert sample_sum(fams["llm_tokens_by_class"], "_total", token_class="cached_input") == 2 * cached


def test_context_manager_takes_token_classes(capture: Capture) -> None:
    with track_llm_call(provider="anthropic", model="claude-sonnet-4", recorder=capture.recorder) as call:
        call.set_usage(1000, 100, cached_input=600, cache_write_input=300)
        call.set_usage(cached_input=float("nan"))  # not a count: ignored, the known one stays
    details = capture.one().call.token_details
    assert (details.cached_input, details.cache_write_input) == (600, 300)
    price = PRICING.prices["claude-sonnet-4"]
    expected = (100 * price.input + 600 * price.cached_input + 300 * price.cache_write_input
                + 100 * price.output) / 1e6
    assert capture.one().cost_usd == pytest.approx(expected)


# Usage blocks as each provider documents them (the SDK objects carry the same fields as attributes).
ANTHROPIC_USAGE = {"input_tokens": 50, "cache_creation_input_tokens": 200, "cache_read_input_tokens": 1000,
                   "output_tokens": 80}


@pytest.mark.parametrize(("response", "expected"), [
    ({"usage": {"prompt_tokens": 1200, "completion_tokens": 300,
                "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0, "cache_write_tokens": 64},
                "completion_tokens_details": {"reasoning_tokens": 256, "audio_tokens": 0}}},
     (1200, 300, TokenDetails(cached_input=1024, cache_write_input=64, reasoning_output=256))),
    (openai.types.CompletionUsage(prompt_tokens=40, completion_tokens=20, total_tokens=60,
                                  prompt_tokens_details={"audio_tokens": 12},
                                  completion_tokens_details={"audio_tokens": 15}),
     (40, 20, TokenDetails(audio_input=12, audio_output=15))),
    ({"usage": {"input_tokens": 900, "output_tokens": 40, "input_tokens_details": {"cached_tokens": 512},
                "output_tokens_details": {"reasoning_tokens": 30}}},  # OpenAI Responses API
     (900, 40, TokenDetails(cached_input=512, reasoning_output=30))),
    ({"usage": ANTHROPIC_USAGE}, (1250, 80, TokenDetails(cached_input=1000, cache_write_input=200))),
    (SimpleNamespace(usage=SimpleNamespace(**ANTHROPIC_USAGE)),
     (1250, 80, TokenDetails(cached_input=1000, cache_write_input=200))),
    ({"usage": {"input_tokens": 10, "output_tokens": 5}}, (10, 5, None)),  # Anthropic without caching
    ({"usage": {"prompt_tokens": 100, "completion_tokens": 9, "prompt_cache_hit_tokens": 64,
                "prompt_cache_miss_tokens": 36}}, (100, 9, TokenDetails(cached_input=64))),  # DeepSeek
    ({"usageMetadata": {"promptTokenCount": 700, "cachedContentTokenCount": 600, "candidatesTokenCount": 50,
                        "thoughtsTokenCount": 120}}, (700, 170, TokenDetails(cached_input=600, reasoning_output=120))),
    (SimpleNamespace(usage_metadata=SimpleNamespace(prompt_token_count=30, candidates_token_count=4)), (30, 4, None)),
    ({"usage": {"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": -3}}},
     (5, 1, None)),  # an impossible class count is unknown
], ids=["openai-chat", "openai-sdk-audio", "openai-responses", "anthropic", "anthropic-sdk", "anthropic-plain",
        "deepseek", "gemini-rest", "gemini-sdk", "impossible"])
def test_usage_of_each_provider(response: object, expected: tuple) -> None:
    if isinstance(response, openai.types.CompletionUsage):
        response = SimpleNamespace(usage=response)
    usage = extract.usage(response)
    assert (usage.input_tokens, usage.output_tokens, usage.details) == expected


def test_context_manager_records_the_exception_and_reraises(capture: Capture) -> None:
    tracker = track_llm_call(provider="vllm", model="llama-3.1-70b-instruct", recorder=capture.recorder)
    with pytest.raises(TimeoutError), tracker:
        raise TimeoutError("no answer")
    assert capture.one().error_type == "timeout"
    assert capture.one().app_id == "unknown"


def test_decorator_sync_async_and_generators(capture: Capture) -> None:
    track = track_llm_call(provider="openai", model="gpt-4o-mini", app_id="support-bot", department="support",
                           recorder=capture.recorder)

    @track
    def ask(prompt: str) -> dict:
        return {"choices": [{"finish_reason": "stop"}], "usage": {"prompt_tokens": len(prompt), "completion_tokens": 9}}

    @track
    async def ask_async() -> object:
        class Usage:
            prompt_tokens, completion_tokens = 5, 6

        class Reply:
            usage = Usage()

        return Reply()

    @track
    def stream_words():
        yield ""
        yield "hello"
        yield "world"

    @track
    def broken() -> None:
        raise openai.RateLimitError("slow down", response=_response(429), body=None)

    assert ask("abcd")["usage"]["completion_tokens"] == 9
    asyncio.run(ask_async())
    assert list(stream_words()) == ["", "hello", "world"]
    with pytest.raises(openai.RateLimitError):
        broken()
    sync_call, async_call, gen_call, failed = (c.call for c in capture.calls)
    assert (sync_call.input_tokens, sync_call.output_tokens, sync_call.finish_reason) == (4, 9, "stop")
    assert (async_call.input_tokens, async_call.output_tokens) == (5, 6)
    assert gen_call.streaming and gen_call.ttft_s is not None
    assert failed.error_type == "rate_limit"
    assert ask.__name__ == "ask"


def test_shared_tracker_in_threads(capture: Capture) -> None:
    """One track_llm_call object used by many threads at once: each `with` is its own call."""
    track = track_llm_call(provider="openai", model="gpt-4o", recorder=capture.recorder)
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        with track as call:
            barrier.wait()
            call.set_usage(n, n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(c.call.input_tokens for c in capture.calls) == list(range(8))
    assert capture.active() == 0


def test_failing_usage_function_keeps_the_result_and_records_success(capture: Capture,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """An Ollama reply without prompt_eval_count (a cached prompt): the user's `usage=` function
    raises KeyError. The call succeeded: its result is returned, it is recorded as a success with
    unknown usage, and one warning names the function."""
    def ollama_usage(reply: dict) -> tuple[int, int]:
        return reply["prompt_eval_count"], reply["eval_count"]

    track = track_llm_call(provider="ollama", model="llama3", usage=ollama_usage, recorder=capture.recorder)

    @track
    def ask() -> dict:
        return {"response": "hi", "eval_count": 7}

    @track
    async def ask_async() -> dict:
        return {"response": "hi", "eval_count": 7}

    with caplog.at_level("WARNING", logger="llm_exporter"):
        assert ask() == {"response": "hi", "eval_count": 7}
        assert asyncio.run(ask_async()) == {"response": "hi", "eval_count": 7}
        assert ask()["response"] == "hi"
    assert [c.error_type for c in capture.calls] == [None, None, None]
    assert [(c.call.input_tokens, c.call.output_tokens) for c in capture.calls] == [(0, 0)] * 3
    warnings = [r for r in caplog.records if getattr(r, "event", None) == "llm_usage_fn_failed"]
    assert len(warnings) == 1 and "ollama_usage" in warnings[0].getMessage()
    assert capture.active() == 0


def test_documented_ollama_usage_example(capture: Capture) -> None:
    """docs/instrument-your-service.md: optional fields read with .get(); a missing one is unknown."""
    @track_llm_call(provider="ollama", model="llama3", recorder=capture.recorder,
                    usage=lambda r: (r.get("prompt_eval_count"), r.get("eval_count")))
    def ask() -> dict:
        return {"response": "hi", "eval_count": 7}

    ask()
    call = capture.one()
    assert call.error_type is None and (call.call.input_tokens, call.call.output_tokens) == (0, 7)


def test_set_usage_never_raises(capture: Capture) -> None:
    with track_llm_call(provider="openai", model="gpt-4o", recorder=capture.recorder) as call:
        call.set_usage(float("nan"), float("inf"))
        call.set_usage(5, -1)
        call.set_usage("lots", 10 ** 400)
        call.set_usage(output_tokens=3.0)
    recorded = capture.one()
    assert recorded.error_type is None
    assert (recorded.call.input_tokens, recorded.call.output_tokens) == (5, 3)


def test_unreadable_result_object_does_not_fail_the_call(capture: Capture) -> None:
    class Reply:
        @property
        def usage(self) -> object:
            raise RuntimeError("lazy field failed to load")

    @track_llm_call(provider="openai", model="gpt-4o", recorder=capture.recorder)
    def ask() -> Reply:
        return Reply()

    assert isinstance(ask(), Reply)
    assert capture.one().error_type is None


def test_nested_with_on_one_tracker(capture: Capture) -> None:
    track = track_llm_call(provider="openai", model="gpt-4o", recorder=capture.recorder)
    with track as outer:
        outer.set_usage(1, 1)
        with track as inner:
            inner.set_usage(2, 2)
            assert capture.active() == 2
        assert capture.active() == 1
        with pytest.raises(ValueError), track:
            raise ValueError("inner failure")
    assert [(c.call.input_tokens, c.error_type) for c in capture.calls] == [(2, None), (0, "other"), (1, None)]
    assert capture.active() == 0
    with pytest.raises(RuntimeError):
        track.__exit__(None, None, None)  # every `with` was closed


@pytest.mark.parametrize("model", sorted(m for m in ODD_BODIES if "nesting" not in m))
@pytest.mark.parametrize("stream", [False, True])
def test_client_with_odd_json_records_the_call(upstream: OpenAIUpstream, capture: Capture, model: str,
                                               stream: bool) -> None:
    """Structurally odd replies (choices a number, usage a string, Infinity...) reach the caller
    as the SDK makes them; the wrapper records the call without raising."""
    client = sync_client(upstream, capture)
    result = client.chat.completions.create(model=model, messages=MESSAGES, stream=stream)
    if stream:
        assert len(list(result)) >= 3
    else:
        assert result.id == "x"
    assert capture.one().error_type is None
    assert capture.active() == 0


def test_configure_again_shuts_down_the_previous_telemetry() -> None:
    """Each configure() makes a new pipeline; the one it replaces stops its export threads."""
    code = textwrap.dedent("""
        import threading
        from llm_exporter.instrument import configure
        def exporters():
            return sorted(t.name for t in threading.enumerate() if t.name.startswith("otlp-"))
        configure(registry=None)
        first = exporters()
        for _ in range(4):
            configure(registry=None)
        print(first, exporters())
    """)
    env = {**os.environ, "OTEL_SDK_DISABLED": "false",
           "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9/v1/traces",
           "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://127.0.0.1:9/v1/logs"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                            timeout=60)
    out = result.stdout.strip().splitlines()[-1]
    assert out == "['otlp-logs', 'otlp-traces'] ['otlp-logs', 'otlp-traces']"


def _response(status: int) -> object:
    import httpx2  # the client library's own HTTP types

    return httpx2.Response(status, request=httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions"))


@pytest.mark.parametrize(("exc", "expected"), [
    (TimeoutError(), "timeout"),
    (TimeoutError(), "timeout"),
    (ConnectionResetError(), "other"),
    (ValueError("x"), "other"),
])
def test_classify_exception(exc: BaseException, expected: str) -> None:
    assert classify_exception(exc) == expected


# -- exposing /metrics ---------------------------------------------------------------------------


def test_start_metrics_server_serves_both_formats(capture: Capture) -> None:
    with track_llm_call(provider="openai", model="gpt-4o", recorder=capture.recorder) as call:
        call.set_usage(10, 10)
    port = free_port()
    server, thread = start_metrics_server(port, addr="127.0.0.1", registry=capture.registry)
    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert text.headers["content-type"].startswith("text/plain")
        assert 'llm_requests_total{app_id="unknown",department="unknown",model="gpt-4o"' in text.text
        om = requests.get(f"http://127.0.0.1:{port}/metrics", headers={"Accept": OPENMETRICS_ACCEPT}, timeout=5)
        assert om.headers["content-type"].startswith("application/openmetrics-text")
        assert f'trace_id="{call.trace_id}"' in om.text  # the exemplar
    finally:
        server.shutdown()
        thread.join(5)


def test_mount_metrics_on_fastapi_answers_without_redirect(capture: Capture) -> None:
    app = FastAPI()
    mount_metrics(app, registry=capture.registry)
    with track_llm_call(provider="openai", model="gpt-4o", recorder=capture.recorder):
        pass
    with TestClient(app) as client:
        response = client.get("/metrics", follow_redirects=False)
        assert response.status_code == 200
        assert "llm_request_duration_seconds_bucket" in response.text
        om = client.get("/metrics", headers={"Accept": OPENMETRICS_ACCEPT})
        assert om.text.rstrip().endswith("# EOF")
        assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_metrics_asgi_app(capture: Capture) -> None:
    with TestClient(metrics_asgi_app(registry=capture.registry)) as client:
        assert "llm_exporter_info" in client.get("/anything").text
        assert client.post("/").status_code == 405


def test_a_named_pricing_file_that_is_missing_stops_the_library_like_the_cli(tmp_path) -> None:
    code = textwrap.dedent("""
        import os, sys
        from llm_exporter.config import ConfigError
        from llm_exporter.instrument import configure, get_recorder
        try:
            configure(pricing_file=sys.argv[1], registry=None, telemetry=False)
        except ConfigError as exc:
            print("explicit:", exc)
        os.environ["LLM_EXPORTER_PRICING_FILE"] = sys.argv[1]
        try:
            get_recorder()  # the first recorded call configures from the environment
        except ConfigError as exc:
            print("environment:", exc)
        del os.environ["LLM_EXPORTER_PRICING_FILE"]
        print("default:", sorted(configure(registry=None, telemetry=False).pricing.prices)[:2])
    """)
    missing = str(tmp_path / "pricing.yml")
    result = subprocess.run([sys.executable, "-c", code, missing], capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in os.environ.items() if k != "LLM_EXPORTER_PRICING_FILE"})
    lines = result.stdout.splitlines()
    assert lines[0] == f"explicit: {missing}: (file): file not found", result.stderr
    assert lines[1] == f"environment: {missing}: (file): file not found"
    assert lines[2] == f"default: {sorted(PRICING.prices)[:2]}"  # the packaged pricing.yaml


def test_importing_the_library_starts_and_loads_nothing_heavy() -> None:
    code = ("import sys, threading, llm_exporter.instrument as i\n"
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'openai', 'aiohttp', 'pynvml', 'starlette',"
            " 'opentelemetry.sdk') if m in sys.modules), threading.active_count())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]", "1"]


# -- a whole instrumented service: metrics, spans and logs ----------------------------------------


SERVICE = textwrap.dedent("""
    import sys, time
    import openai
    from llm_exporter.instrument import configure, instrument_openai, start_metrics_server
    configure(app_id="doc-search", department="engineering")
    server, _ = start_metrics_server(int(sys.argv[2]), addr="127.0.0.1")
    client = instrument_openai(openai.OpenAI(base_url=sys.argv[1], api_key="sk-svc-secret-123456789", max_retries=0))
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    list(client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True))
    try:
        client.chat.completions.create(model="fail-500", messages=[])
    except openai.InternalServerError:
        pass
    print("done", flush=True)
    sys.stdin.read()  # keep serving /metrics until the test closes stdin
""")


def test_instrumented_service_sends_metrics_spans_and_logs(upstream: OpenAIUpstream, tmp_path) -> None:
    receiver = OtlpReceiver()
    port = free_port()
    script = tmp_path / "service.py"
    script.write_text(SERVICE)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "OTEL_SERVICE_NAME": "doc-search-service",
           "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "100",
           "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": receiver.url + "/v1/logs", "OTEL_BLRP_SCHEDULE_DELAY": "100",
           "LLM_EXPORTER_TRACE_SAMPLE_RATIO": "1", "LLM_EXPORTER_PRICING_FILE": str(CONFIG_DIR / "pricing.yaml")}
    process = subprocess.Popen([sys.executable, str(script), upstream.url, str(port)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.strip() == "done", first + process.stdout.read()
        fams = families(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
        assert sample_sum(fams["llm_requests"], "_total", app_id="doc-search", status="success") == 2
        assert sample_sum(fams["llm_errors"], "_total", error_type="server_error") == 1
        info = fams["llm_exporter_info"].samples[0].labels
        assert info["mode"] == "instrument"
        wait_for(lambda: len([s for s in receiver.spans() if s.kind == "CLIENT"]) >= 3, timeout=20,
                 what="three LLM spans from the instrumented service")
        wait_for(lambda: len(receiver.logs()) >= 3, timeout=20, what="log records from the instrumented service")
        clients = [s for s in receiver.spans() if s.kind == "CLIENT"]
        assert {s.resource.get("service.name") for s in clients} == {"doc-search-service"}
        sent = {tuple(e.headers["traceparent"].split("-")[1:3]) for e in upstream.requests[-3:]}
        assert {(s.trace_id, s.span_id) for s in clients} == sent  # the spans are the calls that went out
        assert {s.status for s in clients} == {"UNSET", "ERROR"} or {s.status for s in clients} == {"OK", "ERROR"}
        everything = json.dumps([repr(receiver.spans()), repr(receiver.logs())])
        assert "sk-svc-secret" not in everything
    finally:
        if process.stdin:
            process.stdin.close()
        process.wait(10)
        receiver.close()

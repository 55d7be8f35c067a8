"""The metering proxy as a real process in front of a real OpenAI-compatible server on 127.0.0.1.

Every answer is compared byte for byte with what the upstream sent; metrics are read back from
/metrics, spans and log records from a live OTLP receiver, and what the upstream received (body,
headers, traceparent) from the upstream's own record of the exchange.
"""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Iterator

import pytest
import requests
from llm_exporter.config import load_pricing
from llm_exporter.instrument.errors import classify_http
from llm_exporter.instrument.providers import provider_from_url
from llm_exporter.instrument.tracker import CallTracker
from llm_exporter.proxy.service import _inspect_body
from llm_exporter.proxy.sse import SSEMeter
from llm_exporter.settings import parse_settings

from tests.support.metrics_text import OPENMETRICS_ACCEPT, families, sample_sum
from tests.support.openai_upstream import OpenAIUpstream, prompt_tokens
from tests.support.otlp import OtlpReceiver
from tests.support.processes import CONFIG_DIR, Running, run_exporter, wait_for

SECRET = "sk-proxytest-" + secrets.token_hex(16)
AUTH = {"Authorization": f"Bearer {SECRET}"}
PRICING = load_pricing(CONFIG_DIR / "pricing.yaml")
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream(chunk_delay_s=0.002) as server:
        yield server


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def proxy(upstream: OpenAIUpstream, receiver: OtlpReceiver) -> Iterator[Running]:
    env = {
        "OTEL_SDK_DISABLED": "false",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": receiver.url + "/otlp/v1/logs",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_BLRP_SCHEDULE_DELAY": "100",
        "LLM_EXPORTER_TRACE_SAMPLE_RATIO": "1",
        "LLM_EXPORTER_DEFAULT_APP_ID": "proxy-default-app",
        "LLM_EXPORTER_DEFAULT_DEPARTMENT": "platform",
    }
    with run_exporter("--mode", "proxy", "--upstream-url", upstream.url, "--upstream-timeout", "1.5",
                      env=env) as running:
        yield running


def call(proxy: Running, app_id: str | None, payload: object, path: str = "/v1/chat/completions",
         headers: dict[str, str] | None = None, stream: bool = False) -> requests.Response:
    all_headers = {**AUTH, **(headers or {})}
    if app_id:
        all_headers["X-LLM-App-Id"] = app_id
        all_headers.setdefault("X-LLM-Department", "engineering")
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    all_headers.setdefault("Content-Type", "application/json")
    return requests.post(proxy.url + path, data=body, headers=all_headers, stream=stream, timeout=30)


def scrape(proxy: Running) -> dict:
    return families(requests.get(proxy.url + "/metrics", timeout=10).text)


def counter(fams: dict, name: str, **labels: str) -> float:
    return sample_sum(fams[name], "_total", **labels)


def hist_count(fams: dict, name: str, **labels: str) -> float:
    return sample_sum(fams[name], "_count", **labels)


def log_lines(proxy: Running) -> list[dict]:
    lines = []
    for line in proxy.log().splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def call_log(proxy: Running, app_id: str) -> list[dict]:
    return [entry for entry in log_lines(proxy) if entry.get("event") == "llm_call" and entry.get("app_id") == app_id]


# -- success, bytes, usage, cost ----------------------------------------------------------------


def test_chat_completion_bytes_usage_and_cost(proxy: Running, upstream: OpenAIUpstream) -> None:
    app = "t-chat"
    response = call(proxy, app, {"model": "gpt-4o", "messages": MESSAGES, "max_tokens": 7},
                    path="/v1/chat/completions?trace=1")
    exchange = upstream.last()
    assert response.status_code == 200
    assert response.content == bytes(exchange.response_body)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"].startswith("req-")  # the upstream's response headers came along
    # what the upstream received: the caller's body unchanged, Authorization forwarded, our headers not
    assert exchange.path == "/v1/chat/completions?trace=1"
    assert exchange.body == json.dumps({"model": "gpt-4o", "messages": MESSAGES, "max_tokens": 7}).encode()
    assert exchange.headers["authorization"] == f"Bearer {SECRET}"
    assert "x-llm-app-id" not in exchange.headers and "x-llm-department" not in exchange.headers
    assert exchange.headers["accept-encoding"] == "identity"

    usage = json.loads(response.content)["usage"]
    fams = scrape(proxy)
    labels = {"app_id": app, "model": "gpt-4o", "provider": "self_hosted"}
    assert counter(fams, "llm_requests", status="success", department="engineering", **labels) == 1
    assert counter(fams, "llm_requests", status="error", **labels) == 0
    assert counter(fams, "llm_tokens", direction="input", **labels) == usage["prompt_tokens"]
    assert counter(fams, "llm_tokens", direction="output", **labels) == usage["completion_tokens"] == 7
    expected_cost = PRICING.cost("gpt-4o", usage["prompt_tokens"], usage["completion_tokens"])
    assert counter(fams, "llm_cost_usd", **labels) == pytest.approx(expected_cost)
    assert hist_count(fams, "llm_request_duration_seconds", **labels) == 1
    assert hist_count(fams, "llm_time_to_first_token_seconds", **labels) == 0  # not streamed
    assert sample_sum(fams["llm_active_requests"], model="gpt-4o", provider="self_hosted") == 0


def test_stream_is_relayed_before_the_upstream_finishes(proxy: Running, upstream: OpenAIUpstream) -> None:
    """The first token reaches the caller while the upstream is still holding the rest back: the
    proxy cannot be buffering. Then the whole stream is compared byte for byte."""
    app = "t-stream"
    upstream.hold()
    try:
        response = call(proxy, app, {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True, "max_tokens": 6},
                        stream=True)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        received = b""
        chunks = response.iter_content(chunk_size=None)
        while b"tok0" not in received:
            received += next(chunks)  # a buffering proxy would block here until the test times out
        exchange = upstream.last(wait=False)
        assert not exchange.complete.is_set()
    finally:
        upstream.release()
    for chunk in chunks:
        received += chunk
    upstream.hold()
    assert received == bytes(exchange.response_body)
    # the proxy asked for usage on the caller's behalf; everything else in the body is the caller's
    sent = exchange.json
    assert sent["stream_options"] == {"include_usage": True}
    assert {k: v for k, v in sent.items() if k != "stream_options"} == {
        "model": "gpt-4o-mini", "messages": MESSAGES, "stream": True, "max_tokens": 6}

    fams = scrape(proxy)
    labels = {"app_id": app, "model": "gpt-4o-mini"}
    assert counter(fams, "llm_requests", status="success", **labels) == 1
    assert counter(fams, "llm_tokens", direction="output", **labels) == 6
    assert counter(fams, "llm_tokens", direction="input", **labels) == prompt_tokens(sent)
    assert hist_count(fams, "llm_time_to_first_token_seconds", **labels) == 1
    assert hist_count(fams, "llm_time_per_output_token_seconds", **labels) == 1
    assert counter(fams, "llm_cost_usd", **labels) == pytest.approx(PRICING.cost("gpt-4o-mini", prompt_tokens(sent), 6))


def test_caller_stream_options_are_respected(proxy: Running, upstream: OpenAIUpstream) -> None:
    app = "t-stream-options"
    payload = {"model": "gpt-4o", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": False}}
    response = call(proxy, app, payload)
    exchange = upstream.last()
    assert exchange.body == json.dumps(payload).encode()  # forwarded untouched
    assert response.content == bytes(exchange.response_body)
    assert b'"usage":{' not in response.content
    fams = scrape(proxy)
    assert counter(fams, "llm_requests", status="success", app_id=app) == 1
    assert counter(fams, "llm_tokens", direction="output", app_id=app) == 0  # no usage was sent
    assert hist_count(fams, "llm_time_to_first_token_seconds", app_id=app) == 1


@pytest.mark.parametrize(("path", "payload", "input_tokens", "output_tokens"), [
    ("/v1/completions", {"model": "gpt-4o-mini", "prompt": "one two three", "max_tokens": 3}, 3, 3),
    ("/v1/completions", {"model": "gpt-4o-mini", "prompt": "one two", "max_tokens": 4, "stream": True}, 2, 4),
    ("/v1/embeddings", {"model": "text-embedding-3-small", "input": ["a b c", "d e"]}, 5, 0),
    # > 64 KiB of floats: usage is read from the tail of the body
    ("/v1/embeddings", {"model": "text-embedding-3-large", "input": ["x y"] * 40, "dimensions": 400}, 80, 0),
])
def test_completions_and_embeddings(proxy: Running, upstream: OpenAIUpstream, path: str, payload: dict,
                                    input_tokens: int, output_tokens: int) -> None:
    app = f"t-{path.rsplit('/', 1)[1]}-{len(json.dumps(payload))}"
    response = call(proxy, app, payload, path=path)
    exchange = upstream.last()
    assert response.status_code == 200
    assert response.content == bytes(exchange.response_body)
    assert exchange.path == path
    fams = scrape(proxy)
    assert counter(fams, "llm_requests", status="success", app_id=app) == 1
    assert counter(fams, "llm_tokens", direction="input", app_id=app) == input_tokens
    assert counter(fams, "llm_tokens", direction="output", app_id=app) == output_tokens


# -- errors: returned unchanged, classified ------------------------------------------------------


@pytest.mark.parametrize(("model", "status", "error_type"), [
    ("fail-429", 429, "rate_limit"),
    ("fail-401", 401, "authentication"),
    ("fail-500", 500, "server_error"),
    ("fail-context", 400, "context_length_exceeded"),
    ("fail-filter", 400, "content_filter"),
])
def test_upstream_errors_pass_through_and_are_classified(proxy: Running, upstream: OpenAIUpstream, model: str,
                                                         status: int, error_type: str) -> None:
    app = f"t-{model}"
    response = call(proxy, app, {"model": model, "messages": MESSAGES})
    exchange = upstream.last()
    assert response.status_code == exchange.status == status
    assert response.content == bytes(exchange.response_body)
    if status == 429:
        assert response.headers["retry-after"] == "1"
    fams = scrape(proxy)
    assert counter(fams, "llm_requests", status="error", app_id=app) == 1
    assert counter(fams, "llm_errors", error_type=error_type, app_id=app, model=model) == 1
    assert hist_count(fams, "llm_request_duration_seconds", app_id=app) == 1  # failed calls are timed too


def test_upstream_hang_is_a_timeout(proxy: Running, upstream: OpenAIUpstream) -> None:
    app = "t-hang"
    response = call(proxy, app, {"model": "hang", "messages": MESSAGES})
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["type"] == "upstream_timeout" and set(error) == {"message", "type", "param", "code"}
    assert upstream.last().json["model"] == "hang"
    fams = scrape(proxy)
    assert counter(fams, "llm_errors", error_type="timeout", app_id=app) == 1


def test_connection_reset_is_other(proxy: Running) -> None:
    app = "t-reset"
    response = call(proxy, app, {"model": "reset", "messages": MESSAGES})
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "upstream_unavailable"
    assert counter(scrape(proxy), "llm_errors", error_type="other", app_id=app) == 1


def test_malformed_upstream_body_passes_through(proxy: Running, upstream: OpenAIUpstream) -> None:
    app = "t-malformed"
    response = call(proxy, app, {"model": "malformed", "messages": MESSAGES})
    assert response.status_code == 200
    assert response.content == bytes(upstream.last().response_body)
    fams = scrape(proxy)
    assert counter(fams, "llm_errors", error_type="other", app_id=app) == 1


def test_malformed_request_body_is_forwarded_unchanged(proxy: Running, upstream: OpenAIUpstream) -> None:
    """Pass-through: the upstream judges the body, and the caller gets the upstream's answer."""
    app = "t-bad-request"
    body = b'{"model": "gpt-4o", "messages": ['
    response = call(proxy, app, body)
    exchange = upstream.last()
    assert exchange.body == body
    assert response.status_code == 400
    assert response.content == bytes(exchange.response_body)
    fams = scrape(proxy)
    assert counter(fams, "llm_errors", error_type="invalid_request", app_id=app, model="unknown") == 1


@pytest.mark.parametrize(("model", "error_type"), [("reset-stream", "other"), ("hang-stream", "timeout")])
def test_broken_stream_reaches_the_caller_as_broken(proxy: Running, upstream: OpenAIUpstream, model: str,
                                                    error_type: str) -> None:
    app = f"t-{model}"
    response = call(proxy, app, {"model": model, "messages": MESSAGES, "stream": True}, stream=True)
    assert response.status_code == 200
    received = b""
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for chunk in response.iter_content(chunk_size=None):
            received += chunk
    sent = bytes(upstream.last().response_body)
    assert received == sent and b"[DONE]" not in received  # everything the upstream sent, then the break
    fams = scrape(proxy)
    assert counter(fams, "llm_errors", error_type=error_type, app_id=app) == 1
    assert sample_sum(fams["llm_active_requests"], model=model) == 0
    assert any(e.get("event") == "proxy_stream_broken" and e.get("error_type") == error_type for e in log_lines(proxy))
    assert "Traceback" not in proxy.log()


def test_error_event_inside_a_stream(proxy: Running, upstream: OpenAIUpstream) -> None:
    app = "t-stream-error"
    response = call(proxy, app, {"model": "stream-error", "messages": MESSAGES, "stream": True})
    assert response.content == bytes(upstream.last().response_body)
    assert counter(scrape(proxy), "llm_errors", error_type="server_error", app_id=app) == 1


def test_content_filter_finish_reason_is_an_error(proxy: Running) -> None:
    app = "t-filtered"
    response = call(proxy, app, {"model": "filtered", "messages": MESSAGES})
    assert response.status_code == 200
    assert counter(scrape(proxy), "llm_errors", error_type="content_filter", app_id=app) == 1


def test_caller_disconnect_stops_the_upstream_call(proxy: Running, upstream: OpenAIUpstream) -> None:
    """A caller that hangs up mid-stream: the call is recorded as cancelled, and the proxy drops
    the upstream connection instead of reading (and paying for) the rest."""
    app = "t-disconnect"
    upstream.hold()
    host, port = proxy.url.removeprefix("http://").split(":")
    body = json.dumps({"model": "gated-stream", "messages": MESSAGES, "stream": True}).encode()
    request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
               f"X-LLM-App-Id: {app}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    try:
        with socket.create_connection((host, int(port)), timeout=20) as sock:
            sock.sendall(request)
            received = b""
            while b"tok0" not in received:
                data = sock.recv(65536)
                assert data, "the proxy closed the connection before the first token"
                received += data
        exchange = upstream.last(wait=False)

        def recorded() -> bool:
            return counter(scrape(proxy), "llm_errors", error_type="other", app_id=app) == 1

        wait_for(recorded, timeout=15, what="the cancelled call in /metrics")
    finally:
        upstream.release()
    assert exchange.complete.wait(30)
    assert exchange.aborted, "the upstream finished writing: the proxy kept reading after the caller left"
    assert sample_sum(scrape(proxy)["llm_active_requests"], model="gated-stream") == 0
    upstream.hold()
    (entry,) = call_log(proxy, app)
    assert entry["finish_reason"] == "cancelled"


# -- labels, trace context, secrets, the one upstream -------------------------------------------


def test_default_app_id_and_department(proxy: Running) -> None:
    response = call(proxy, None, {"model": "gpt-4o", "messages": MESSAGES})
    assert response.status_code == 200
    fams = scrape(proxy)
    assert counter(fams, "llm_requests", status="success", app_id="proxy-default-app", department="platform") >= 1


def test_trace_context_is_continued_and_propagated(proxy: Running, upstream: OpenAIUpstream,
                                                   receiver: OtlpReceiver) -> None:
    app = "t-trace"
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    response = call(proxy, app, {"model": "gpt-4o", "messages": MESSAGES},
                    headers={"traceparent": f"00-{trace_id}-{parent}-01"})
    assert response.status_code == 200
    version, sent_trace, span_id, flags = upstream.last().headers["traceparent"].split("-")
    assert (version, sent_trace, flags) == ("00", trace_id, "01")
    assert span_id != parent

    def span_arrived() -> bool:
        return any(s.span_id == span_id for s in receiver.spans())

    wait_for(span_arrived, timeout=20, what="the proxied call's span at the OTLP receiver")
    (span,) = [s for s in receiver.spans() if s.span_id == span_id]
    assert (span.trace_id, span.parent_span_id, span.kind, span.name) == (trace_id, parent, "CLIENT", "chat gpt-4o")
    (entry,) = call_log(proxy, app)
    assert (entry["trace_id"], entry["span_id"]) == (trace_id, span_id)


def test_new_trace_when_the_caller_sends_none(proxy: Running, upstream: OpenAIUpstream) -> None:
    app = "t-new-trace"
    call(proxy, app, {"model": "gpt-4o", "messages": MESSAGES}, headers={"traceparent": "not-a-traceparent"})
    _, trace_id, span_id, _ = upstream.last().headers["traceparent"].split("-")
    (entry,) = call_log(proxy, app)
    assert (entry["trace_id"], entry["span_id"]) == (trace_id, span_id)


def test_authorization_is_never_logged_traced_or_exposed(proxy: Running, upstream: OpenAIUpstream,
                                                          receiver: OtlpReceiver) -> None:
    secret = "sk-leakcheck-" + secrets.token_hex(12)
    headers = {"Authorization": f"Bearer {secret}", "api-key": secret}
    app = "t-secret"
    for payload in ({"model": "gpt-4o", "messages": MESSAGES}, {"model": "fail-401", "messages": MESSAGES},
                    {"model": "gpt-4o", "messages": MESSAGES, "stream": True}, {"model": "reset", "messages": []}):
        call(proxy, app, payload, headers=headers)
    assert upstream.requests[-1].headers["authorization"] == f"Bearer {secret}"  # forwarded, though
    wait_for(lambda: len([e for e in receiver.logs() if e.attributes.get("app_id") == app]) >= 4, timeout=20,
             what="the calls' log records at the OTLP receiver")
    exposed = [
        proxy.log(),
        requests.get(proxy.url + "/metrics", timeout=10).text,
        requests.get(proxy.url + "/metrics", headers={"Accept": OPENMETRICS_ACCEPT}, timeout=10).text,
        repr(receiver.spans()),
        repr(receiver.logs()),
    ]
    for text in exposed:
        assert secret not in text
        assert SECRET not in text


def test_only_the_configured_upstream_is_contacted(proxy: Running, upstream: OpenAIUpstream) -> None:
    with OpenAIUpstream() as other:
        before = upstream.request_count
        tricks = [
            {"Host": f"127.0.0.1:{other.port}"},
            {"X-Forwarded-Host": f"127.0.0.1:{other.port}", "Forwarded": f"host=127.0.0.1:{other.port}"},
        ]
        for headers in tricks:
            assert call(proxy, "t-host", {"model": "gpt-4o", "messages": MESSAGES}, headers=headers).ok
        body = {"model": "gpt-4o", "messages": MESSAGES, "api_base": other.url, "base_url": other.url}
        assert call(proxy, "t-host", body).ok
        assert call(proxy, "t-host", {"model": "gpt-4o", "messages": MESSAGES},
                    path=f"/v1/chat/completions?u=@127.0.0.1:{other.port}").ok
        host, port = proxy.url.removeprefix("http://").split(":")
        for target in (f"http://127.0.0.1:{other.port}/v1/chat/completions", f"//127.0.0.1:{other.port}/v1/chat/"
                       "completions", "/v1/chat/completions/../../../v1/chat/completions"):
            raw = json.dumps({"model": "gpt-4o", "messages": MESSAGES}).encode()
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall(f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{other.port}\r\nContent-Length: "
                             f"{len(raw)}\r\nConnection: close\r\n\r\n".encode() + raw)
                while sock.recv(65536):
                    pass
        assert other.request_count == 0
        assert upstream.request_count >= before + 4


# -- units: classification, provider, request rewriting, SSE parsing, settings ---------------------


@pytest.mark.parametrize(("status", "body", "expected"), [
    (200, b"{}", None),
    (429, b'{"error": {"code": "insufficient_quota"}}', "rate_limit"),
    (401, b"", "authentication"),
    (403, b"", "authentication"),
    (400, b'{"error": {"code": "context_length_exceeded"}}', "context_length_exceeded"),
    (400, b'{"error": {"message": "This model\'s maximum context length is 8192 tokens"}}', "context_length_exceeded"),
    (400, b'{"error": {"code": "content_filter"}}', "content_filter"),
    (400, b'{"error": {"code": "invalid_value"}}', "invalid_request"),
    (404, b'{"error": {"code": "model_not_found"}}', "invalid_request"),
    (408, b"", "timeout"),
    (504, b"", "timeout"),
    (500, b"", "server_error"),
    (503, b"not json", "server_error"),
    (418, b"", "other"),
])
def test_classify_http(status: int, body: bytes, expected: str | None) -> None:
    assert classify_http(status, body) == expected


@pytest.mark.parametrize(("url", "provider"), [
    ("https://api.openai.com/v1", "openai"),
    ("https://myorg.openai.azure.com/openai/deployments/x", "azure_openai"),
    ("https://api.anthropic.com/v1", "anthropic"),
    ("https://generativelanguage.googleapis.com/v1beta/openai", "google"),
    ("https://api.groq.com/openai/v1", "groq"),
    ("https://openrouter.ai/api/v1", "openrouter"),
    ("http://vllm:8000/v1", "vllm"),
    ("http://vllm-llama.internal:8000/v1", "vllm"),
    ("http://ollama:11434/v1", "ollama"),
    ("http://gpu-box-3:11434/v1", "ollama"),
    ("http://127.0.0.1:8000/v1", "self_hosted"),
    ("http://localhost:8080/v1", "self_hosted"),
    ("https://api.example-llm.com/v1", "example-llm"),
    ("https://llm-gateway.corp/v1", "llm-gateway"),
])
def test_provider_from_url(url: str, provider: str) -> None:
    assert provider_from_url(url) == provider


def test_include_usage_is_added_only_when_the_caller_did_not_say() -> None:
    plain = json.dumps({"model": "m", "messages": []}).encode()
    assert _inspect_body(plain, "chat") == ("m", False, plain)  # not a stream: bytes untouched
    model, stream, body = _inspect_body(b'{"model": "m", "stream": true}', "chat")
    assert (model, stream, json.loads(body)) == ("m", True, {"model": "m", "stream": True,
                                                             "stream_options": {"include_usage": True}})
    _, _, body = _inspect_body(b'{"model": "m", "stream": true, "stream_options": {"x": 1}}', "chat")
    assert json.loads(body)["stream_options"] == {"x": 1, "include_usage": True}
    kept = b'{"model": "m", "stream": true, "stream_options": {"include_usage": false}}'
    assert _inspect_body(kept, "chat")[2] == kept
    assert _inspect_body(b"[1, 2]", "chat") == ("unknown", False, b"[1, 2]")
    assert _inspect_body(b"\xff\xfe", "chat") == ("unknown", False, b"\xff\xfe")


class _NullRecorder:
    def call_started(self, *args: object) -> None:
        pass

    def call_finished(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("split", [1, 7, 64, 100_000])
def test_sse_meter_reads_events_split_anywhere(split: int) -> None:
    events = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "model": "m-2024"},
        {"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 2}},
    ]
    stream = b"data: not json\n\n" + b"".join(b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events)
    stream += b": keep-alive comment\n\nevent: ping\ndata: {}\n\ndata: [DONE]\n\n"
    tracker = CallTracker(_NullRecorder(), provider="p", model="m", app_id="a", department="d")  # type: ignore[arg-type]
    meter = SSEMeter(tracker)
    for start in range(0, len(stream), split):
        meter.feed(stream[start:start + split])
    meter.close()
    assert meter.done and meter.malformed == 1
    assert tracker.ttft_s is not None
    assert (tracker.input_tokens, tracker.output_tokens, tracker.finish_reason) == (11, 2, "stop")


@pytest.mark.parametrize("url", ["api.openai.com/v1", "ftp://x/v1", "https://key:secret@api.openai.com/v1",
                                 "https://api.openai.com/v1?x=1"])
def test_bad_upstream_url_is_refused(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_settings(["--mode", "proxy", "--upstream-url", url], environ={})
    assert "--upstream-url" in capsys.readouterr().err


def test_proxy_mode_needs_an_upstream() -> None:
    with pytest.raises(SystemExit):
        parse_settings(["--mode", "proxy"], environ={})
    settings = parse_settings(["--mode", "proxy"], environ={"LLM_EXPORTER_UPSTREAM_URL": "http://vllm:8000/v1",
                                                            "LLM_EXPORTER_DEFAULT_APP_ID": "a",
                                                            "LLM_EXPORTER_DEFAULT_DEPARTMENT": "d"})
    assert (settings.upstream_url, settings.default_app_id, settings.default_department) == (
        "http://vllm:8000/v1", "a", "d")

"""The metering proxy as a real process in front of a real OpenAI-compatible server on 127.0.0.1.

Every answer is compared byte for byte with what the upstream sent; metrics are read back from
/metrics, spans and log records from a live OTLP receiver, and what the upstream received (body,
headers, traceparent) from the upstream's own record of the exchange.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
from collections.abc import Iterator

import pytest
import requests
from prometheus_client import generate_latest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from llm_exporter.config import Budgets, load_pricing
from llm_exporter.instrument import extract
from llm_exporter.instrument import tracker as instrument_tracker
from llm_exporter.instrument.errors import classify_http
from llm_exporter.instrument.providers import provider_from_url
from llm_exporter.instrument.tracker import CallTracker
from llm_exporter.proxy import service as proxy_service
from llm_exporter.proxy.service import DEFAULT_MAX_REQUEST_BYTES, ProxyConfig, _inspect_body, validate_upstream
from llm_exporter.proxy.sse import MAX_EVENT_BYTES, SSEMeter
from llm_exporter.recorder import Recorder
from llm_exporter.request_body import InvalidPayload, MalformedBody
from llm_exporter.settings import Settings, parse_settings
from tests.support.metrics_text import OPENMETRICS_ACCEPT, families, sample_sum
from tests.support.openai_upstream import ODD_BODIES, OpenAIUpstream, prompt_tokens
from tests.support.otlp import OtlpReceiver
from tests.support.processes import CONFIG_DIR, Running, free_port, run_exporter, wait_for

SECRET = "sk-proxytest-" + secrets.token_hex(16)
AUTH = {"Authorization": f"Bearer {SECRET}"}
PRICING = load_pricing(CONFIG_DIR / "pricing.yaml")
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
MAX_REQUEST_BYTES = 1024 * 1024  # the proxy under test refuses larger request bodies


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
        "LLM_EXPORTER_MAX_REQUEST_BYTES": str(MAX_REQUEST_BYTES),
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
    """The first token reaches the caller while the upstream (model `gated-stream`) is holding the
    rest back: the proxy cannot be buffering. Then the whole stream is compared byte for byte."""
    app = "t-stream"
    upstream.hold()
    try:
        response = call(proxy, app, {"model": "gated-stream", "messages": MESSAGES, "stream": True, "max_tokens": 6},
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
        "model": "gated-stream", "messages": MESSAGES, "stream": True, "max_tokens": 6}

    fams = scrape(proxy)
    labels = {"app_id": app, "model": "gated-stream"}
    assert counter(fams, "llm_requests", status="success", **labels) == 1
    assert counter(fams, "llm_tokens", direction="output", **labels) == 6
    assert counter(fams, "llm_tokens", direction="input", **labels) == prompt_tokens(sent)
    assert hist_count(fams, "llm_time_to_first_token_seconds", **labels) == 1
    assert hist_count(fams, "llm_time_per_output_token_seconds", **labels) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_cached_and_reasoning_tokens_are_priced_on_their_own(proxy: Running, upstream: OpenAIUpstream,
                                                               stream: bool) -> None:
    """OpenAI's prompt_tokens includes the cached tokens and completion_tokens the reasoning ones:
    the direction totals are recorded as reported, and each class is billed at its own price."""
    app = f"t-classes-{stream}"
    messages = [{"role": "system", "content": "You answer in one word. " * 20}, *MESSAGES]
    payload = {"model": "gpt-4o", "messages": messages, "prompt_cache_key": "k1", "reasoning_effort": "low",
               "max_tokens": 4, "stream": stream}
    response = call(proxy, app, payload)
    assert response.status_code == 200
    if stream:
        events = [json.loads(line[6:]) for line in response.text.splitlines()
                  if line.startswith("data: {")]
        usage = events[-1]["usage"]
    else:
        usage = response.json()["usage"]
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert 0 < cached < usage["prompt_tokens"] and 0 < reasoning < usage["completion_tokens"]
    fams = scrape(proxy)
    assert counter(fams, "llm_tokens", direction="input", app_id=app) == usage["prompt_tokens"]
    assert counter(fams, "llm_tokens", direction="output", app_id=app) == usage["completion_tokens"]
    assert counter(fams, "llm_tokens_by_class", token_class="cached_input", app_id=app) == cached
    assert counter(fams, "llm_tokens_by_class", token_class="reasoning_output", app_id=app) == reasoning
    price = PRICING.prices["gpt-4o"]  # no reasoning price of its own: reasoning bills as output
    expected = ((usage["prompt_tokens"] - cached) * price.input + cached * price.cached_input
                + usage["completion_tokens"] * price.output) / 1e6
    assert counter(fams, "llm_cost_usd", app_id=app) == pytest.approx(expected)
    assert expected < PRICING.cost("gpt-4o", usage["prompt_tokens"], usage["completion_tokens"])


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
    ("fail-quota", 429, "insufficient_quota"),
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


def test_unreachable_upstream_is_named_with_the_os_error_and_makes_the_proxy_unready() -> None:
    """Nothing listens on the upstream's port: each call gets a 502 naming the upstream and the
    OS error, and /readyz answers 503 saying why, until the upstream comes up."""
    port = free_port()
    upstream_url = f"http://127.0.0.1:{port}/v1"
    with run_exporter("--mode", "proxy", "--upstream-url", upstream_url, ready_path="/healthz") as proxy:
        response = call(proxy, "t-down", {"model": "gpt-4o", "messages": MESSAGES})
        assert response.status_code == 502
        error = response.json()["error"]
        assert error["type"] == "upstream_unavailable"
        assert error["message"] == (f"the upstream {upstream_url} could not be reached: "
                                    "Connection refused (ClientConnectorError)")
        assert SECRET not in response.text
        (line,) = call_log(proxy, "t-down")
        assert line["error"] == "other"  # the log line carries the message, redacted as every message is
        assert line["error_message"].endswith(
            f":{port}/v1 could not be reached: Connection refused (ClientConnectorError)")
        ready = requests.get(proxy.url + "/readyz", timeout=5)
        assert ready.status_code == 503
        reason = f"cannot connect to 127.0.0.1:{port}: Connection refused (ConnectionRefusedError)"
        assert ready.json() == {"status": "not ready", "mode": "proxy", "upstream": upstream_url, "reason": reason}
        with OpenAIUpstream(port=port):
            wait_for(lambda: requests.get(proxy.url + "/readyz", timeout=5).status_code == 200, 10,
                     "/readyz to see the upstream come up")
            assert call(proxy, "t-up", {"model": "gpt-4o", "messages": MESSAGES}).status_code == 200
        events = [entry.get("event") for entry in log_lines(proxy)]
        assert "proxy_upstream_unreachable" in events and "proxy_upstream_reachable" in events


def test_malformed_upstream_body_passes_through(proxy: Running, upstream: OpenAIUpstream) -> None:
    app = "t-malformed"
    response = call(proxy, app, {"model": "malformed", "messages": MESSAGES})
    assert response.status_code == 200
    assert response.content == bytes(upstream.last().response_body)
    fams = scrape(proxy)
    assert counter(fams, "llm_errors", error_type="other", app_id=app) == 1


def assert_refused_locally(proxy: Running, upstream: OpenAIUpstream, before: int, response: requests.Response,
                           app: str, status: int, reason: str, route: str = "/v1/chat/completions") -> dict:
    """Refused by the proxy itself: never sent upstream, not an LLM call (no model "unknown",
    nothing unpriced), counted in llm_rejected_requests_total{route,reason}."""
    assert response.status_code == status, response.content
    assert response.json()["error"]["type"] == reason
    assert upstream.request_count == before, "a refused request reached the upstream"
    fams = scrape(proxy)
    assert counter(fams, "llm_requests", app_id=app) == 0
    assert counter(fams, "llm_unpriced_requests", model="unknown") == 0
    assert sample_sum(fams["llm_active_requests"], model="unknown") == 0
    return fams


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"model": "gpt-4o", "messages": [', "malformed_body"),
    (b"\xff\xfe not utf-8", "malformed_body"),
    (b"[1, 2]", "invalid_payload"),
    (b'{"messages": []}', "invalid_payload"),
    (b'{"model": 5, "messages": []}', "invalid_payload"),
    (b'{"model": " ", "messages": []}', "invalid_payload"),
])
def test_request_the_proxy_cannot_meter_is_refused_locally(proxy: Running, upstream: OpenAIUpstream,
                                                           body: bytes, reason: str) -> None:
    app = f"t-refused-{reason}"
    rejected_before = counter(scrape(proxy), "llm_rejected_requests", route="/v1/chat/completions", reason=reason)
    before = upstream.request_count
    response = call(proxy, app, body)
    fams = assert_refused_locally(proxy, upstream, before, response, app, 400, reason)
    assert counter(fams, "llm_rejected_requests", route="/v1/chat/completions", reason=reason) == rejected_before + 1


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


# -- metering never breaks the pass-through --------------------------------------------------------


def assert_recorded_once(proxy: Running, app: str, status: str, model: str) -> dict:
    fams = scrape(proxy)
    assert counter(fams, "llm_requests", app_id=app) == 1
    assert counter(fams, "llm_requests", app_id=app, status=status) == 1
    assert sample_sum(fams["llm_active_requests"], model=model) == 0
    return fams


# (input, output) tokens recorded for each odd JSON body, and whether the call is a success
ODD_OUTCOMES = {
    "odd-choices": (3, 2, "success"),
    "odd-choice-items": (0, 0, "success"),
    "odd-usage": (0, 0, "success"),
    "odd-infinity": (0, 0, "success"),  # Infinity / NaN: unknown
    "odd-huge": (0, 0, "success"),  # 1e400 / -1e400: unknown
    "odd-bigint": (0, 4, "success"),  # a 400-digit count: unknown
    "odd-nesting": (1, 0, "success"),  # > 64 KiB: only the trailing usage block is read
    "odd-nesting-small": (0, 0, "error"),  # deeper than the JSON parser goes: unreadable, like non-JSON
}


@pytest.mark.parametrize("model", sorted(ODD_BODIES))
def test_odd_json_response_passes_through(proxy: Running, upstream: OpenAIUpstream, model: str) -> None:
    app = f"t-{model}"
    response = call(proxy, app, {"model": model, "messages": MESSAGES})
    exchange = upstream.last()
    assert response.status_code == 200
    assert response.content == bytes(exchange.response_body) == ODD_BODIES[model]
    input_tokens, output_tokens, status = ODD_OUTCOMES[model]
    fams = assert_recorded_once(proxy, app, status, model)
    assert counter(fams, "llm_tokens", direction="input", app_id=app) == input_tokens
    assert counter(fams, "llm_tokens", direction="output", app_id=app) == output_tokens
    if status == "error":
        assert counter(fams, "llm_errors", error_type="other", app_id=app) == 1
    assert "Traceback" not in proxy.log()


@pytest.mark.parametrize("model", sorted(ODD_BODIES))
def test_odd_json_events_in_a_stream_pass_through(proxy: Running, upstream: OpenAIUpstream, model: str) -> None:
    app = f"t-{model}-stream"
    response = call(proxy, app, {"model": model, "messages": MESSAGES, "stream": True}, stream=True)
    received = b"".join(response.iter_content(chunk_size=None))
    exchange = upstream.last()
    assert response.status_code == 200
    assert received == bytes(exchange.response_body)
    assert received.startswith(b"data: " + ODD_BODIES[model] + b"\n\n") and received.endswith(b"data: [DONE]\n\n")
    fams = assert_recorded_once(proxy, app, "success", model)
    assert hist_count(fams, "llm_time_to_first_token_seconds", app_id=app) == 1
    assert "Traceback" not in proxy.log()


def test_deeply_nested_request_body_is_refused_locally(proxy: Running, upstream: OpenAIUpstream) -> None:
    app = "t-deep-request"
    depth = 100_000
    body = b'{"model": "gpt-4o", "stream": true, "messages": ' + b"[" * depth + b"]" * depth + b"}"
    before = upstream.request_count
    response = call(proxy, app, body)
    assert_refused_locally(proxy, upstream, before, response, app, 400, "malformed_body")
    assert "Traceback" not in proxy.log()


def test_stream_request_with_a_lone_surrogate_gets_usage_added(proxy: Running, upstream: OpenAIUpstream) -> None:
    """json.loads accepts the escape \\ud800; re-encoding the body to add include_usage must not fail."""
    app = "t-surrogate"
    body = b'{"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "a \\ud800 \xc3\xa9"}]}'
    response = call(proxy, app, body)
    exchange = upstream.last()
    assert response.status_code == 200 and response.content == bytes(exchange.response_body)
    sent = exchange.json
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["messages"][0]["content"] == "a \ud800 \u00e9"
    fams = assert_recorded_once(proxy, app, "success", "gpt-4o")
    assert counter(fams, "llm_tokens", direction="output", app_id=app) == 5


@pytest.mark.parametrize("model", ["sse-cr", "sse-crlf"])
def test_stream_with_cr_or_crlf_line_endings(proxy: Running, upstream: OpenAIUpstream, model: str) -> None:
    app = f"t-{model}"
    response = call(proxy, app, {"model": model, "messages": MESSAGES, "stream": True, "max_tokens": 3})
    exchange = upstream.last()
    assert response.content == bytes(exchange.response_body)
    assert b"\r" in response.content and (model == "sse-crlf") == (b"\n" in response.content)
    fams = assert_recorded_once(proxy, app, "success", model)
    assert counter(fams, "llm_tokens", direction="output", app_id=app) == 3
    assert counter(fams, "llm_tokens", direction="input", app_id=app) == prompt_tokens(exchange.json)
    assert hist_count(fams, "llm_time_to_first_token_seconds", app_id=app) == 1


def test_stream_event_without_end_is_passed_on_and_not_buffered(proxy: Running, upstream: OpenAIUpstream) -> None:
    """2 MiB of data lines and no blank line: the bytes all reach the caller; metering gives up on
    the stream past 1 MiB instead of holding it all (usage is then unknown), and says so."""
    app = "t-sse-unbroken"
    response = call(proxy, app, {"model": "sse-unbroken", "messages": MESSAGES, "stream": True})
    exchange = upstream.last()
    assert response.status_code == 200
    assert response.content == bytes(exchange.response_body)
    assert len(response.content) > 1.5 * MAX_EVENT_BYTES
    fams = assert_recorded_once(proxy, app, "success", "sse-unbroken")
    assert counter(fams, "llm_tokens", direction="output", app_id=app) == 0
    assert any(e.get("event") == "proxy_event_too_large" for e in log_lines(proxy))


@pytest.mark.parametrize("stream", [False, True])
def test_a_failing_meter_never_breaks_the_pass_through(upstream: OpenAIUpstream, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture, stream: bool) -> None:
    """Whatever goes wrong inside the metering code (here: it raises on every response), the
    caller gets the upstream's bytes, the call is recorded once as `other`/metering_failed, and
    llm_active_requests goes back to 0. In-process, so the metering code can be broken on purpose."""
    def broken(*args: object) -> None:
        raise RuntimeError("metering bug")

    monkeypatch.setattr(proxy_service, "_meter_body", broken)
    monkeypatch.setattr(instrument_tracker, "_warned", set())
    monkeypatch.setattr(proxy_service.SSEMeter, "feed", broken)
    recorder = Recorder(PRICING, Budgets(departments={}), mode="proxy", version="test")
    calls: list = []
    recorder.listeners.append(calls.append)
    service = proxy_service.ProxyService(recorder, ProxyConfig(upstream.url))

    @contextlib.asynccontextmanager
    async def lifespan(app: object):  # type: ignore[no-untyped-def]
        yield
        await service.aclose()

    app = service.middleware(Starlette(lifespan=lifespan))
    with caplog.at_level("WARNING", logger="llm_exporter"), TestClient(app) as client:
        for _ in range(2):
            response = client.post("/v1/chat/completions", headers={"X-LLM-App-Id": "t-meter-bug"},
                                   json={"model": "gpt-4o", "messages": MESSAGES, "stream": stream})
            assert response.status_code == 200
            assert response.content == bytes(upstream.last().response_body)
    assert [(c.error_type, c.call.finish_reason, c.app_id) for c in calls] == [
        ("other", "metering_failed", "t-meter-bug")] * 2
    assert sample_sum(families(generate_latest(recorder).decode())["llm_active_requests"]) == 0
    warnings = [r for r in caplog.records if getattr(r, "event", None) == "proxy_metering_failed"]
    assert len(warnings) == 1 and "metering bug" in caplog.text  # once, with its traceback


def raw_post(proxy: Running, head: str, body_parts: list[bytes]) -> bytes:
    """Send a request head and some body bytes, keep the connection open, and read the answer:
    an answer proves the proxy did not wait for the rest of the body."""
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n{head}\r\n".encode())
        for part in body_parts:
            sock.sendall(part)
        received = b""
        while True:
            head, found, body = received.partition(b"\r\n\r\n")
            if found:
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), None)
                if length is not None and len(body) >= length:
                    return received
            data = sock.recv(65536)
            if not data:
                return received
            received += data


def test_request_over_the_size_limit_is_refused_without_reading_it(proxy: Running,
                                                                   upstream: OpenAIUpstream) -> None:
    before = upstream.request_count
    declared = raw_post(proxy, f"Content-Type: application/json\r\nX-LLM-App-Id: t-413\r\n"
                               f"Content-Length: {10 * 1024 ** 3}\r\n", [b'{"model": "gpt-4o", "messages": ['])
    chunk = b"x" * 65536
    chunked = raw_post(proxy, "Content-Type: application/json\r\nX-LLM-App-Id: t-413\r\n"
                              "Transfer-Encoding: chunked\r\n",
                       [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (MAX_REQUEST_BYTES // len(chunk) + 1))
    for answer in (declared, chunked):
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413 "), head
        assert json.loads(body)["error"]["type"] == "body_too_large"
    assert upstream.request_count == before  # nothing went upstream
    fams = scrape(proxy)
    assert counter(fams, "llm_rejected_requests", route="/v1/chat/completions", reason="body_too_large") == 2
    assert counter(fams, "llm_requests", app_id="t-413") == 0, "a refused request is not an LLM call"
    assert sample_sum(fams["llm_active_requests"], model="unknown") == 0
    # a body just under the limit goes through
    filler = "w " * ((MAX_REQUEST_BYTES - 200) // 2)
    response = call(proxy, "t-413-ok", {"model": "gpt-4o", "messages": [{"role": "user", "content": filler}]})
    assert response.status_code == 200 and upstream.request_count == before + 1


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
    (429, b'{"error": {"code": "rate_limit_exceeded"}}', "rate_limit"),
    (429, b'{"error": {"code": "insufficient_quota"}}', "insufficient_quota"),
    (429, b'{"error": {"type": "insufficient_quota", "code": null}}', "insufficient_quota"),
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
    with pytest.raises(InvalidPayload):
        _inspect_body(b"[1, 2]", "chat")
    with pytest.raises(MalformedBody):
        _inspect_body(b"\xff\xfe", "chat")


class _NullRecorder:
    def call_started(self, *args: object) -> None:
        pass

    def call_finished(self, *args: object) -> None:
        pass


def null_tracker() -> CallTracker:
    return CallTracker(_NullRecorder(), provider="p", model="m", app_id="a", department="d")  # type: ignore[arg-type]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("split", [1, 2, 7, 64, 100_000])
def test_sse_meter_reads_events_split_anywhere(split: int, newline: bytes) -> None:
    """LF, CRLF and a lone CR all end a line (the SSE spec), wherever the network splits them,
    a CRLF split between its CR and its LF included."""
    events = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "model": "m-2024"},
        {"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 2}},
    ]
    two = newline * 2
    stream = b"data: not json" + two + b"".join(b"data: " + json.dumps(e).encode() + two for e in events)
    stream += b": keep-alive comment" + two + b"event: ping" + newline + b"data: {}" + two + b"data: [DONE]" + two
    tracker = null_tracker()
    meter = SSEMeter(tracker)
    for start in range(0, len(stream), split):
        meter.feed(stream[start:start + split])
    meter.close()
    assert meter.done and meter.malformed == 1 and meter.events == 6
    assert tracker.ttft_s is not None
    assert (tracker.input_tokens, tracker.output_tokens, tracker.finish_reason) == (11, 2, "stop")


def test_sse_meter_multi_line_data_with_mixed_line_endings() -> None:
    tracker = null_tracker()
    meter = SSEMeter(tracker)
    meter.feed(b'data: {"choices": [],\r\ndata: "usage": {"prompt_tokens": 4,\rdata:"completion_tokens": 1}}\r')
    meter.feed(b"\n\r\n")  # the CRLF ending the last line, split after its CR, then the blank line
    assert (meter.events, meter.malformed) == (1, 0)
    assert (tracker.input_tokens, tracker.output_tokens) == (4, 1)


@pytest.mark.parametrize("piece", [b"data: " + b"x" * 1000 + b"\n", b"y" * 4096])  # data lines; one endless line
def test_sse_meter_holds_at_most_one_event_limit(piece: bytes) -> None:
    """A stream that never completes an event: what the meter holds stays under the limit, and
    once past it the meter stops reading that stream (later events are not metered)."""
    tracker = null_tracker()
    meter = SSEMeter(tracker, max_event_bytes=64 * 1024)
    for _ in range(1000):  # ~1-4 MiB
        meter.feed(piece * 4)
        assert sum(map(len, meter._data)) + len(meter._pending) <= 64 * 1024
    assert meter.overflowed
    meter.feed(b'\n\ndata: {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 9}}\n\n')
    meter.close()
    assert (tracker.input_tokens, tracker.output_tokens) == (0, 0)
    assert not meter._data and not meter._pending
    assert SSEMeter(tracker).max_event_bytes == MAX_EVENT_BYTES == 1024 * 1024


@pytest.mark.parametrize("body", [
    *ODD_BODIES.values(),
    b'{"choices": 5}', b'{"choices": "abc"}', b'{"choices": [{"delta": 5, "text": []}]}', b'{"usage": 7}',
    b'{"usage": {"prompt_tokens": Infinity, "completion_tokens": -Infinity}}', b'{"usage": {"input_tokens": "1e999"}}',
    b'{"usage": {"prompt_tokens": "12", "completion_tokens": 3.0}}', b'{"usage": {"prompt_tokens": true}}',
    b'{"model": 5, "choices": [{"finish_reason": 5}]}',
])
def test_odd_json_is_read_without_raising(body: bytes) -> None:
    tracker = null_tracker()
    try:
        parsed = json.loads(body)
    except RecursionError:  # deeper than the parser goes: the SSE meter counts it as malformed
        parsed = None
    tracker.observe_chunk(parsed)
    tracker.observe_response(parsed)
    meter = SSEMeter(tracker)
    meter.feed(b"data: " + body + b"\n\n")
    meter.close()
    assert meter.events + meter.malformed == 1
    assert 0 <= tracker.input_tokens <= extract.MAX_TOKENS and 0 <= tracker.output_tokens <= extract.MAX_TOKENS
    assert tracker.finish_reason is None or isinstance(tracker.finish_reason, str)
    assert tracker.response_model is None or isinstance(tracker.response_model, str)


@pytest.mark.parametrize(("value", "expected"), [
    (12, 12), (12.0, 12), ("12", 12), (0, 0), (None, None), (True, None), (-1, None), (float("nan"), None),
    (float("inf"), None), (10 ** 400, None), ("1e400", None), ("x", None), ([1], None), ({"a": 1}, None),
])
def test_token_count(value: object, expected: int | None) -> None:
    assert extract.token_count(value) == expected


def test_ask_for_stream_usage_is_shared_by_proxy_and_client() -> None:
    class NotGiven:  # the OpenAI SDK's "argument left out" sentinel is falsy
        def __bool__(self) -> bool:
            return False

    for options, expected in [(None, {"include_usage": True}), (NotGiven(), {"include_usage": True}),
                              ({"x": 1}, {"x": 1, "include_usage": True})]:
        params = {"stream_options": options}
        assert extract.ask_for_stream_usage(params) and params["stream_options"] == expected
    caller_options = {"x": 1}
    extract.ask_for_stream_usage({"stream_options": caller_options})
    assert caller_options == {"x": 1}  # the caller's dict is not modified
    for options in ({"include_usage": False}, {"include_usage": True}, "bogus", 0):
        params = {"stream_options": options}
        assert not extract.ask_for_stream_usage(params) and params == {"stream_options": options}
    params: dict = {}
    assert extract.ask_for_stream_usage(params) and params == {"stream_options": {"include_usage": True}}


def test_request_size_limit_setting() -> None:
    assert ProxyConfig("http://u/v1").max_request_bytes == DEFAULT_MAX_REQUEST_BYTES == 16 * 1024 * 1024
    assert parse_settings([], {"LLM_EXPORTER_MAX_REQUEST_BYTES": "2048"}).max_request_bytes == 2048
    assert parse_settings(["--max-request-bytes", "10"]).max_request_bytes == 10
    assert Settings().max_request_bytes == DEFAULT_MAX_REQUEST_BYTES
    for bad in ("0", "-5", "lots"):
        with pytest.raises(SystemExit):
            parse_settings(["--max-request-bytes", bad])


@pytest.mark.parametrize("url", ["api.openai.com/v1", "ftp://x/v1", "https://key:secret@api.openai.com/v1",
                                 "https://api.openai.com/v1?x=1", "https://:pw@api.openai.com/v1",
                                 "https://api.openai.com/v1#frag", "http://vllm:99999/v1", "http://vllm:port/v1",
                                 "http:///v1"])
def test_bad_upstream_url_is_refused(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """One check, the proxy's: what the settings parser accepts the proxy accepts, and the reverse."""
    with pytest.raises(SystemExit):
        parse_settings(["--mode", "proxy", "--upstream-url", url], environ={})
    assert "--upstream-url" in capsys.readouterr().err
    with pytest.raises(ValueError):
        validate_upstream(url)


@pytest.mark.parametrize("url", ["http://vllm:8000/v1", "https://api.openai.com/v1/", "http://[::1]:8000/v1"])
def test_good_upstream_url_is_accepted(url: str) -> None:
    assert parse_settings(["--mode", "proxy", "--upstream-url", url], environ={}).upstream_url == url
    assert validate_upstream(url) == url.rstrip("/")


def test_proxy_mode_needs_an_upstream() -> None:
    with pytest.raises(SystemExit):
        parse_settings(["--mode", "proxy"], environ={})
    settings = parse_settings(["--mode", "proxy"], environ={"LLM_EXPORTER_UPSTREAM_URL": "http://vllm:8000/v1",
                                                            "LLM_EXPORTER_DEFAULT_APP_ID": "a",
                                                            "LLM_EXPORTER_DEFAULT_DEPARTMENT": "d"})
    assert (settings.upstream_url, settings.default_app_id, settings.default_department) == (
        "http://vllm:8000/v1", "a", "d")

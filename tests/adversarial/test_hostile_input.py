"""Hostile input to every body-reading route, in every mode: deep, huge, slow, half-sent, wrongly
typed or unknown. Each answer is a clear 4xx JSON error in the route's own format (408 and a
closed connection for a stalled body), never a 500; nothing is recorded from it; it is counted in
llm_rejected_requests_total{route,reason}; the log has no traceback and nothing at error level."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import pytest
import requests

from llm_exporter.app import SCENARIO_MAX_BYTES, WEBHOOK_MAX_BYTES
from tests.adversarial.client import (
    PROXY_ROUTES,
    chunk,
    error_reason,
    log_problems,
    post_head,
    raw_exchange,
    recorded_calls,
    rejected,
)
from tests.adversarial.conftest import BODY_TIMEOUT_S, PROXY_MAX_REQUEST_BYTES
from tests.adversarial.figures import Figures
from tests.support.processes import Running

# (mode fixture, route, body size limit)
ROUTES = [
    ("mock", "/mock/scenario", SCENARIO_MAX_BYTES),
    ("mock", "/alertmanager/webhook", WEBHOOK_MAX_BYTES),
    ("real", "/alertmanager/webhook", WEBHOOK_MAX_BYTES),
    *[("proxy", route, PROXY_MAX_REQUEST_BYTES) for route in PROXY_ROUTES],
]
IDS = [f"{mode}{route}" for mode, route, _ in ROUTES]
DEEP = b"[" * 100_000


def target(request: pytest.FixtureRequest, mode: str, token_file: Path) -> tuple[Running, list[str]]:
    """The exporter of `mode` and the headers a legitimate sender would add (the webhook token)."""
    running = request.getfixturevalue(mode)
    headers = [f"Authorization: Bearer {token_file.read_text().strip()}"] if mode == "mock" else []
    return running, headers


def assert_untouched(running: Running) -> None:
    """Nothing recorded (no LLM call, no notification) and nothing alarming in the log."""
    assert recorded_calls(running) == 0, "a refused request was recorded as an LLM call"
    links = requests.get(running.url + "/", timeout=5).json()["links"]
    if "notifications" in links:
        assert requests.get(running.url + links["notifications"], timeout=5).json() == []
    assert log_problems(running) == []


def assert_refused(running: Running, route: str, answer_status: int | None, answer: object, status: int,
                   reason: str, before: float) -> None:
    assert answer_status == status, answer
    assert error_reason(route, answer) == reason
    assert rejected(running, route, reason) == before + 1, f"{reason} on {route} was not counted once"


@pytest.mark.parametrize(("mode", "route", "limit"), ROUTES, ids=IDS)
def test_deeply_nested_json_is_a_400(request, token_file, figures: Figures, mode: str, route: str, limit: int) -> None:
    running, headers = target(request, mode, token_file)
    before = rejected(running, route, "malformed_body")
    body = DEEP[: min(len(DEEP), limit)]
    answer = raw_exchange(running.url, post_head(route, len(body), *headers), [body])
    assert_refused(running, route, answer.status, answer.json(), 400, "malformed_body", before)
    assert_untouched(running)
    figures.add("hostile_cases", 1, "requests", "hand-made hostile requests (deep, huge, slow, half-sent, typed)")


@pytest.mark.parametrize(("mode", "route", "limit"), ROUTES, ids=IDS)
def test_body_declared_over_the_limit_is_a_413_before_it_is_read(request, token_file, figures: Figures, mode: str,
                                                                 route: str, limit: int) -> None:
    running, headers = target(request, mode, token_file)
    before = rejected(running, route, "body_too_large")
    answer = raw_exchange(running.url, post_head(route, 256 * 1024 * 1024, *headers), [b'{"x": "' + b"y" * 1024])
    assert_refused(running, route, answer.status, answer.json(), 413, "body_too_large", before)
    assert answer.closed, "the connection must be closed: the rest of the body is never read"
    assert_untouched(running)
    figures.add("hostile_cases", 1, "requests", "hand-made hostile requests (deep, huge, slow, half-sent, typed)")


@pytest.mark.parametrize(("mode", "route", "limit"), ROUTES, ids=IDS)
def test_chunked_body_over_the_limit_is_a_413(request, token_file, figures: Figures, mode: str, route: str,
                                              limit: int) -> None:
    running, headers = target(request, mode, token_file)
    before = rejected(running, route, "body_too_large")
    piece = b"x" * 65536
    parts = [chunk(b'{"pad": "'), *[chunk(piece)] * (limit // len(piece) + 2)]
    answer = raw_exchange(running.url, post_head(route, None, *headers), parts)
    assert_refused(running, route, answer.status, answer.json(), 413, "body_too_large", before)
    assert answer.closed
    assert_untouched(running)
    figures.add("hostile_cases", 1, "requests", "hand-made hostile requests (deep, huge, slow, half-sent, typed)")


@pytest.mark.parametrize(("mode", "route", "limit"), ROUTES, ids=IDS)
def test_stalled_body_gets_a_408_and_the_connection_is_closed(request, token_file, figures: Figures, mode: str,
                                                               route: str, limit: int) -> None:
    running, headers = target(request, mode, token_file)
    before = rejected(running, route, "body_timeout")
    answer = raw_exchange(running.url, post_head(route, 1000, *headers), [b'{"model": '])  # 990 bytes never come
    assert_refused(running, route, answer.status, answer.json(), 408, "body_timeout", before)
    assert answer.closed
    assert answer.elapsed_s >= BODY_TIMEOUT_S * 0.9
    assert_untouched(running)
    figures.add("hostile_cases", 1, "requests", "hand-made hostile requests (deep, huge, slow, half-sent, typed)")


@pytest.mark.parametrize("mode", ["mock", "proxy"])
def test_many_stalled_uploads_are_all_closed_after_the_timeout(request, token_file, figures: Figures,
                                                               mode: str) -> None:
    """The slow-upload attack: many connections each send half a body and wait."""
    running, headers = target(request, mode, token_file)
    route = "/alertmanager/webhook" if mode == "mock" else "/v1/chat/completions"
    count = 200

    def stall(_: int) -> int | None:
        return raw_exchange(running.url, post_head(route, 5000, *headers), [b"{"], timeout=BODY_TIMEOUT_S * 20).status

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
        statuses = list(pool.map(stall, range(count)))
    elapsed = time.monotonic() - start
    assert statuses == [408] * count
    figures.record(f"stalled_uploads_closed_s_{mode}", elapsed, "s",
                   f"time until all {count} stalled uploads were answered 408 and closed ({mode} mode, "
                   f"--body-timeout {BODY_TIMEOUT_S:g} s)")
    assert_untouched(running)
    figures.add("hostile_cases", count, "requests", "hand-made hostile requests (deep, huge, slow, half-sent, typed)")


@pytest.mark.parametrize(("mode", "route", "limit"), ROUTES, ids=IDS)
def test_client_hanging_up_mid_body_is_quiet(request, token_file, figures: Figures, mode: str, route: str,
                                            limit: int) -> None:
    running, headers = target(request, mode, token_file)
    for _ in range(5):
        raw_exchange(running.url, post_head(route, 1000, *headers), [b'{"model": "gpt-4o", '], hang_up=True)
    time.sleep(0.3)
    assert_untouched(running)  # no ClientDisconnect traceback, nothing at error level, nothing recorded
    figures.add("hostile_cases", 5, "requests", "hand-made hostile requests (deep, huge, slow, half-sent, typed)")


# bodies each route refuses itself (the proxy forwards anything it can meter, so its list holds
# only what it cannot: not JSON, not an object, no model)
WRONG = {
    "/mock/scenario": [b"", b"null", b"5", b'"error_burst"', b"[]", b"{}", b'{"scenario": 5}',
                       b'{"scenario": ["normal"]}', b'{"scenario": "normal", "x": 1}', b"\xff\xfe\x00",
                       b'{"scenario": "\\ud800"}', b'{"scenario": "normal"} trailing'],
    "/alertmanager/webhook": [b"", b"null", b"{}", b"[]", b'{"version": 4}', b'{"version": "4", "alerts": "x"}',
                              b'{"version": "4", "status": "firing", "receiver": "r", "groupKey": "g", "alerts": []}',
                              b'{"version": "4", "status": "firing", "receiver": "r", "groupKey": "g", "alerts": '
                              b'[{"status": "firing", "labels": {"a": 1}, "startsAt": "2024-01-01T00:00:00Z"}]}',
                              b'{"version": "4", "status": "firing", "receiver": "r", "groupKey": "g", "alerts": '
                              b'[{"status": "firing", "labels": {}, "startsAt": "yesterday"}]}',
                              b'{"version": "4", "status": "exploded", "receiver": "r", "groupKey": "g", "alerts": '
                              b'[{"status": "firing", "labels": {}, "startsAt": "2024-01-01T00:00:00Z"}]}',
                              b'{"version": "4", "status": "firing", "receiver": "r", "groupKey": "g", "alerts": '
                              b'[{"status": "firing", "labels": {}, "startsAt": 1700000000}]}',
                              b'{"version": "4", "status": "firing", "receiver": "r", "groupKey": "g", "alerts": '
                              b'[{"status": "firing", "labels": {}, "startsAt": "0"}]}',
                              b"\xff\xfe"],
    "/v1/chat/completions": [b"", b"null", b"5", b"[]", b"{}", b'{"model": null}', b'{"model": ""}',
                             b'{"model": 3}', b'{"model": ["gpt-4o"]}', b"\xff\xfe", b'{"model": "gpt-4o"'],
}


@pytest.mark.parametrize(("mode", "route", "limit"), ROUTES, ids=IDS)
def test_wrongly_typed_bodies_get_a_clear_4xx(request, token_file, figures: Figures, mode: str, route: str,
                                              limit: int) -> None:
    running, headers = target(request, mode, token_file)
    auth = dict(h.split(": ", 1) for h in headers)
    for body in WRONG.get(route, WRONG["/v1/chat/completions"]):
        response = requests.post(running.url + route, data=body, timeout=10,
                                 headers={"Content-Type": "application/json", **auth})
        assert 400 <= response.status_code < 500, (body, response.status_code, response.text)
        assert error_reason(route, response.json()) in ("malformed_body", "invalid_payload"), body
    assert_untouched(running)
    figures.add("hostile_cases", len(WRONG.get(route, WRONG["/v1/chat/completions"])), "requests",
                "hand-made hostile requests (deep, huge, slow, half-sent, typed)")


def test_junk_to_the_proxy_never_reaches_the_upstream_nor_the_unpriced_alert(proxy: Running, upstream) -> None:
    before = upstream.request_count
    for body in WRONG["/v1/chat/completions"]:
        requests.post(proxy.url + "/v1/chat/completions", data=body, timeout=10)
    assert upstream.request_count == before
    metrics = requests.get(proxy.url + "/metrics", timeout=5).text
    assert "llm_unpriced_requests_total{" not in metrics, "junk raised the unpriced-model alert's series"
    assert 'model="unknown"' not in metrics

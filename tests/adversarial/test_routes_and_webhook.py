"""Each mode serves only its own routes; /docs works offline where it is on; the alert webhook
takes only well-formed Alertmanager payloads, with the bearer token when one is configured, and
what it keeps stays bounded in bytes whatever is posted to it."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import requests

from llm_exporter.alert_webhook import KEEP_BYTES, KEEP_NOTIFICATIONS, LOG_ALERTS_PER_NOTIFICATION, MAX_ALERTS
from llm_exporter.app import WEBHOOK_MAX_BYTES
from tests.adversarial.client import log_problems, memory_kib, rejected
from tests.adversarial.figures import Figures, scaled
from tests.e2e_support.alerting import alertmanager_config
from tests.support.processes import Running, run_alertmanager, run_exporter, wait_for, webhook_token_file

WEBHOOK = "/alertmanager/webhook"

# mode -> (method, path) -> served?
SERVED = {
    "mock": {("GET", "/mock/scenario"): True, ("POST", WEBHOOK): True, ("GET", "/alertmanager/notifications"): True,
             ("GET", "/docs"): True, ("GET", "/openapi.json"): True, ("POST", "/v1/chat/completions"): False},
    "real": {("GET", "/mock/scenario"): False, ("POST", WEBHOOK): True, ("GET", "/alertmanager/notifications"): True,
             ("GET", "/docs"): False, ("GET", "/openapi.json"): False, ("POST", "/v1/chat/completions"): False},
    "config": {("GET", "/mock/scenario"): False, ("GET", "/sources"): False, ("POST", WEBHOOK): True,
               ("GET", "/alertmanager/notifications"): True, ("GET", "/docs"): False, ("GET", "/openapi.json"): False,
               ("POST", "/v1/chat/completions"): False},
    "proxy": {("GET", "/mock/scenario"): False, ("POST", "/mock/scenario"): False, ("POST", WEBHOOK): False,
              ("GET", "/alertmanager/notifications"): False, ("GET", "/docs"): False,
              ("GET", "/openapi.json"): False, ("GET", "/docs/static/swagger-ui-bundle.js"): False},
}


def alert(name: str = "TestAlert", **labels: str) -> dict:
    return {"status": "firing", "labels": {"alertname": name, "severity": "warning", **labels},
            "annotations": {"summary": f"{name} fired"}, "startsAt": "2026-01-01T00:00:00.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/graph", "fingerprint": "abc"}


def payload(alerts: list[dict]) -> dict:
    return {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing", "receiver": "ticket",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am:9093",
            "alerts": alerts}


def bearer(token_file: Path) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_file.read_text().strip()}"}


@pytest.mark.parametrize("mode", sorted(SERVED))
def test_each_mode_serves_only_its_own_routes(request: pytest.FixtureRequest, mode: str) -> None:
    running: Running = request.getfixturevalue(mode)
    for (method, path), served in SERVED[mode].items():
        response = requests.request(method, running.url + path, timeout=10, json={})
        if served:
            assert response.status_code != 404, (mode, method, path)
        else:
            assert response.status_code == 404, (mode, method, path, response.status_code)
            assert response.json()["error"] and response.json()["mode"] == mode
    index = requests.get(running.url + "/", timeout=5).json()["links"]
    for path in index.values():  # the index names only what is served
        if path.startswith("/"):
            assert requests.request("POST" if path == WEBHOOK or path.startswith("/v1") else "GET",
                                    running.url + path, timeout=10, json={}).status_code != 404, path


@pytest.mark.parametrize("mode", sorted(SERVED))
def test_unknown_routes_and_methods_get_json_errors(request: pytest.FixtureRequest, mode: str) -> None:
    running: Running = request.getfixturevalue(mode)
    for method, path, status in (("GET", "/nope", 404), ("PUT", "/metrics", 405), ("DELETE", "/healthz", 405),
                                 ("GET", "/%2e%2e/etc/passwd", 404), ("POST", "/metrics", 405)):
        response = requests.request(method, running.url + path, timeout=10)
        assert response.status_code == status, (method, path)
        assert "error" in response.json()
    assert log_problems(running) == []


def test_docs_work_offline_from_local_files(mock: Running) -> None:
    """Every asset the Swagger UI page loads is served by the exporter itself: no CDN, no network."""
    html = requests.get(mock.url + "/docs", timeout=10).text
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html) + re.findall(r"url:\s*'([^']+)'", html)
    assert urls and not [u for u in urls if "//" in u], f"external references in /docs: {urls}"
    assert '"validatorUrl": null' in html, "the online validator badge would call out"
    kinds = {}
    for url in urls:
        response = requests.get(mock.url + url, timeout=10)
        assert response.status_code == 200, url
        kinds[url.rsplit(".", 1)[-1]] = response
    assert "SwaggerUIBundle" in kinds["js"].text and len(kinds["js"].content) > 500_000
    assert kinds["css"].headers["content-type"].startswith("text/css")
    assert json.loads(kinds["json"].text)["paths"], "the page loads the exporter's own schema"


def test_docs_can_be_turned_on_in_proxy_mode(upstream) -> None:
    with run_exporter("--mode", "proxy", "--upstream-url", upstream.url, "--docs", "on") as running:
        paths = requests.get(running.url + "/openapi.json", timeout=10).json()["paths"]
        assert {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/metrics"} <= set(paths)
        assert WEBHOOK not in paths and "/mock/scenario" not in paths
        assert requests.get(running.url + "/docs", timeout=10).status_code == 200


# -- the webhook ------------------------------------------------------------------------------


def test_webhook_requires_the_bearer_token(mock: Running, token_file: Path) -> None:
    token = token_file.read_text().strip()
    before = rejected(mock, WEBHOOK, "unauthorized")
    body = payload([alert()])
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": f"Basic {token}"},
                    {"Authorization": f"Bearer {token}x"}, {"Authorization": token}, {"Authorization": "Bearer"}):
        response = requests.post(mock.url + WEBHOOK, json=body, headers=headers, timeout=10)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["reason"] == "unauthorized"
    assert rejected(mock, WEBHOOK, "unauthorized") == before + 6
    assert requests.get(mock.url + "/alertmanager/notifications", timeout=5).json() == []
    assert "llm_alert_notifications_total{" not in requests.get(mock.url + "/metrics", timeout=5).text
    assert token not in mock.log(), "the webhook token reached the log"


def test_webhook_with_the_token_records_once_and_logs_no_token(mock: Running, token_file: Path) -> None:
    token = token_file.read_text().strip()
    response = requests.post(mock.url + WEBHOOK, json=payload([alert("Ok1")]),
                             headers={"Authorization": f"bearer {token}"}, timeout=10)  # scheme is case-insensitive
    assert response.status_code == 200 and response.json() == {"received": 1}
    entries = requests.get(mock.url + "/alertmanager/notifications", timeout=5).json()
    assert [e["alertname"] for e in entries][-1] == "Ok1"
    assert token not in mock.log()


def test_bad_token_file_stops_start_up_without_quoting_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.support.processes import CONFIG_DIR

    secret_like = tmp_path / "short"
    secret_like.write_text("s3cr3t\n")
    for path, expected in ((tmp_path / "missing", "webhook token file not found"),
                           (secret_like, "at least 16"), (tmp_path, "cannot be read")):
        result = subprocess.run([sys.executable, "-m", "llm_exporter", "--mode", "mock", "--port", "1",
                                 "--pricing-file", str(CONFIG_DIR / "pricing.yaml"),
                                 "--budgets-file", str(CONFIG_DIR / "budgets.yaml"),
                                 "--webhook-token-file", str(path)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 2 and expected in result.stderr, result.stderr
        assert "s3cr3t" not in result.stderr + result.stdout


def test_alertmanager_with_a_wrong_token_delivers_nothing(tmp_path: Path) -> None:
    """The real Alertmanager (the shipped config) with a token the exporter does not expect: its
    notifications are refused and counted, nothing lands in the list, and it says so."""
    right, wrong = webhook_token_file(tmp_path / "right"), webhook_token_file(tmp_path / "wrong")
    with (run_exporter("--mode", "mock", "--mock-rps", "0", "--webhook-token-file", str(right)) as exporter,
          run_alertmanager(alertmanager_config(exporter.url + WEBHOOK, token_file=wrong)) as alertmanager):
        posted = [{"labels": {"alertname": "WrongTokenProbe", "severity": "warning"},
                   "annotations": {"summary": "probe"}}]
        assert requests.post(alertmanager.url + "/api/v2/alerts", json=posted, timeout=10).ok
        wait_for(lambda: rejected(exporter, WEBHOOK, "unauthorized") >= 1, timeout=30,
                 what="Alertmanager's notification refused with 401")
        assert requests.get(exporter.url + "/alertmanager/notifications", timeout=5).json() == []
        assert wrong.read_text().strip() not in exporter.log()


def test_too_many_alerts_in_one_notification_are_refused(mock: Running, token_file: Path,
                                                         figures: Figures) -> None:
    before = len(requests.get(mock.url + "/alertmanager/notifications", timeout=5).json())
    over = requests.post(mock.url + WEBHOOK, json=payload([alert()] * (MAX_ALERTS + 1)), headers=bearer(token_file),
                         timeout=30)
    assert over.status_code == 400 and "alerts" in over.json()["error"]
    huge = payload([alert()] * 100_000)  # ~25 MB: refused by size before it is parsed
    refused = requests.post(mock.url + WEBHOOK, json=huge, headers=bearer(token_file), timeout=60)
    assert refused.status_code == 413
    assert len(requests.get(mock.url + "/alertmanager/notifications", timeout=5).json()) == before
    # the largest notification accepted: MAX_ALERTS alerts, logged LOG_ALERTS_PER_NOTIFICATION + 1 lines
    lines_before = mock.log().count('"event":"alert_notification')
    start = time.perf_counter()
    accepted = requests.post(mock.url + WEBHOOK, json=payload([alert(f"Many{i}") for i in range(MAX_ALERTS)]),
                             headers=bearer(token_file), timeout=30)
    elapsed = time.perf_counter() - start
    assert accepted.json() == {"received": MAX_ALERTS}
    wait_for(lambda: mock.log().count('"event":"alert_notification') >= lines_before + LOG_ALERTS_PER_NOTIFICATION + 1,
             timeout=10, what="the notification's log lines")
    assert mock.log().count('"event":"alert_notification') == lines_before + LOG_ALERTS_PER_NOTIFICATION + 1
    figures.record("webhook_max_notification_s", elapsed, "s",
                   f"time to accept the largest notification ({MAX_ALERTS} alerts); the server is blocked "
                   "no longer than this")
    assert log_problems(mock) == []


def test_notification_list_is_bounded_in_bytes(tmp_path: Path, figures: Figures) -> None:
    """Notifications just under the size limit whose alerts carry many long labels: the list keeps
    fewer than KEEP_NOTIFICATIONS entries because KEEP_BYTES binds first, and the process stops
    growing once the list is full."""
    token = webhook_token_file(tmp_path)
    labels = {f"label{n:02d}": "v" * 250 for n in range(30)}
    big = json.dumps(payload([alert(f"Big{i}", **labels) for i in range(100)])).encode()
    assert len(big) < WEBHOOK_MAX_BYTES
    count = scaled(60, 200)
    with run_exporter("--mode", "mock", "--mock-rps", "0", "--webhook-token-file", str(token)) as exporter:
        headers = {**bearer(token), "Content-Type": "application/json"}
        session = requests.Session()
        rss = []
        for i in range(count):
            assert session.post(exporter.url + WEBHOOK, data=big, headers=headers, timeout=30).status_code == 200
            if i in (count // 4, count - 1):
                rss.append(memory_kib(exporter.process.pid))
        listed = requests.get(exporter.url + "/alertmanager/notifications", timeout=10)
        peak_mib = memory_kib(exporter.process.pid, "VmHWM") / 1024
    assert len(listed.content) <= KEEP_BYTES * 1.05, len(listed.content)
    assert 0 < len(listed.json()) < KEEP_NOTIFICATIONS, "the byte bound, not the count, must be what binds here"
    kept_unbounded_kib = (count - 1 - count // 4) * len(big) / 1024
    growth_kib = rss[1] - rss[0]
    assert growth_kib < 0.1 * kept_unbounded_kib, (growth_kib, kept_unbounded_kib)
    figures.record("webhook_flood_peak_rss_mib", peak_mib, "MiB",
                   f"exporter peak resident memory after {count} notifications of {len(big) / 1e6:.2f} MB each")
    figures.record("webhook_flood_list_bytes", len(listed.content), "bytes",
                   f"size of GET /alertmanager/notifications after that flood ({len(listed.json())} entries)")
    figures.record("webhook_flood_rss_growth_mib", growth_kib / 1024, "MiB",
                   f"memory growth over the last {count - 1 - count // 4} notifications of the flood "
                   f"(an unbounded list would have kept ~{kept_unbounded_kib / 1024:.0f} MiB)")
    figures.add("hostile_cases", count + 2, "requests", "hand-made hostile requests (deep, huge, slow, half-sent, "
                "typed)")

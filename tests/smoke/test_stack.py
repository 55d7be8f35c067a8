"""Stack smoke test: a running stack checked through each component's own HTTP API.

Run against compose with `make smoke`; runs in `make test` against the parts started locally
(see conftest.py). Grafana, Loki and Tempo checks follow the HTTP APIs documented for the pinned
versions (Grafana 13, Loki 3.7, Tempo 3.0).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import yaml

from prometheus import generator
from tests.smoke.conftest import Stack
from tests.support.processes import REPO

EXPECTED_JOBS = {"llm-exporter", "prometheus", "alertmanager"}
WAIT_S = 90


def eventually(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Retry `check` until it returns a truthy value; fail with the last error otherwise."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (requests.RequestException, AssertionError, KeyError, ValueError) as exc:
            last = exc
        time.sleep(1)
    pytest.fail(f"{what} not true after {timeout}s (last error: {last})")


def reachable(stack: Stack, name: str, url: str | None, ready_path: str) -> str:
    """The component's URL once it answers; skip (with the reason) only where it cannot run."""
    if url is None:
        pytest.skip(f"{name} cannot run on this machine (no container engine); `make smoke` checks it "
                    "against the compose stack")
    try:
        requests.get(url + ready_path, timeout=3)
    except requests.RequestException as exc:
        if stack.external and not stack.require_all:
            pytest.skip(f"{name} does not answer at {url} ({exc.__class__.__name__}); is the stack up?")
        raise
    eventually(lambda: requests.get(url + ready_path, timeout=3).ok, f"{name} ready at {url}{ready_path}")
    return url


def get(url: str, path: str, **params: Any) -> Any:
    response = requests.get(url + path, params=params, timeout=10)
    response.raise_for_status()
    return response.json()


# -- Prometheus -------------------------------------------------------------------------------


def test_prometheus_targets_up(stack: Stack) -> None:
    url = reachable(stack, "Prometheus", stack.prometheus, "/-/ready")

    def all_up() -> bool:
        targets = get(url, "/api/v1/targets")["data"]["activeTargets"]
        jobs = {t["labels"]["job"] for t in targets}
        down = [(t["labels"]["job"], t["lastError"]) for t in targets if t["health"] != "up"]
        assert jobs >= EXPECTED_JOBS, f"missing jobs: {EXPECTED_JOBS - jobs}"
        assert not down, f"targets not up: {down}"
        return True

    eventually(all_up, "every Prometheus target up")


def _evaluates(url: str, rule: dict) -> bool:
    """A rule Prometheus has not evaluated yet (a group with a long interval, such as the 30-day
    SLO rates every 5 minutes, first runs at an offset within its interval) is evaluated here
    through the query API instead: its expression must run without error."""
    return get(url, "/api/v1/query", query=rule["query"])["status"] == "success"


def test_prometheus_rule_groups_loaded_without_error(stack: Stack) -> None:
    url = reachable(stack, "Prometheus", stack.prometheus, "/-/ready")
    shipped = {group.name for group in generator.groups()}

    def loaded_and_healthy() -> bool:
        groups = get(url, "/api/v1/rules")["data"]["groups"]
        names = {g["name"] for g in groups}
        assert shipped <= names, f"rule groups not loaded: {shipped - names}"
        rules = [r for g in groups for r in g["rules"]]
        bad = [(r["name"], r.get("health"), r.get("lastError")) for r in rules
               if r.get("lastError") or (r.get("health") != "ok" and not
                                         (r.get("health") == "unknown" and _evaluates(url, r)))]
        assert not bad, f"rules not healthy: {bad[:5]}"
        assert any(r.get("health") == "ok" for r in rules), "no rule evaluated yet"
        return True

    eventually(loaded_and_healthy, "every shipped rule group loaded and evaluated without error")


def exemplar_trace_ids(prometheus: str) -> set[str]:
    now = time.time()
    data = get(prometheus, "/api/v1/query_exemplars", query="llm_request_duration_seconds_bucket",
               start=now - 900, end=now)["data"]
    return {e["labels"]["trace_id"] for series in data for e in series["exemplars"] if "trace_id" in e["labels"]}


def test_prometheus_stores_exemplars_with_trace_ids(stack: Stack) -> None:
    url = reachable(stack, "Prometheus", stack.prometheus, "/-/ready")
    ids = eventually(lambda: exemplar_trace_ids(url), "exemplars with a trace_id label in Prometheus")
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


# -- Alertmanager -----------------------------------------------------------------------------


def test_alertmanager_ready_with_the_shipped_receivers(stack: Stack) -> None:
    url = reachable(stack, "Alertmanager", stack.alertmanager, "/-/ready")
    shipped = {r["name"] for r in yaml.safe_load((REPO / "alertmanager" / "alertmanager.yml").read_text())["receivers"]}
    live = {r["name"] for r in get(url, "/api/v2/receivers")}
    assert live == shipped
    status = get(url, "/api/v2/status")
    assert status["cluster"]["status"] in ("disabled", "ready"), status["cluster"]


# -- Grafana ----------------------------------------------------------------------------------


def shipped_dashboards() -> dict[str, dict]:
    return {d["uid"]: d for d in (json.loads(p.read_text()) for p in (REPO / "grafana" / "dashboards").glob("*.json"))}


def panel_datasource_uids(dashboard: dict) -> set[str]:
    uids: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            source = node.get("datasource")
            if isinstance(source, dict) and isinstance(source.get("uid"), str) and not source["uid"].startswith("$"):
                uids.add(source["uid"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(dashboard.get("panels", []))
    return uids


# Datasources whose plugin has no backend health check (Grafana answers 500 "Plugin unavailable"
# for Alertmanager, grafana/grafana#83794): reached through Grafana's datasource proxy instead.
PROXY_HEALTH_PATHS = {"alertmanager": "/api/v2/status", "tempo": "/ready"}


def datasource_healthy(session: requests.Session, url: str, uid: str) -> bool:
    health = session.get(f"{url}/api/datasources/uid/{uid}/health", timeout=30)
    if health.ok and health.json().get("status") == "OK":
        return True
    if uid in PROXY_HEALTH_PATHS:
        return session.get(f"{url}/api/datasources/proxy/uid/{uid}{PROXY_HEALTH_PATHS[uid]}", timeout=30).ok
    pytest.fail(f"datasource {uid}: {health.status_code} {health.text[:200]}")
    return False


def test_grafana_datasources_healthy_and_dashboards_loaded(stack: Stack) -> None:
    url = reachable(stack, "Grafana", stack.grafana, "/api/health")
    session = requests.Session()
    session.auth = stack.grafana_auth
    assert session.get(url + "/api/health", timeout=10).json()["database"] == "ok"
    listing = session.get(url + "/api/datasources", timeout=10)
    assert listing.ok, f"Grafana login {stack.grafana_auth[0]} refused ({listing.status_code}): check .env"
    uids = {d["uid"] for d in listing.json()}
    assert {"prometheus", "loki", "tempo", "alertmanager"} <= uids
    for uid in uids:
        assert datasource_healthy(session, url, uid), uid
    found = {d["uid"] for d in session.get(url + "/api/search", params={"type": "dash-db"}, timeout=10).json()}
    expected = shipped_dashboards()
    assert set(expected) <= found, f"dashboards not loaded: {set(expected) - found}"
    for uid in expected:
        dashboard = session.get(f"{url}/api/dashboards/uid/{uid}", timeout=10).json()["dashboard"]
        missing = panel_datasource_uids(dashboard) - uids
        assert not missing, f"{uid}: panels reference missing datasources {missing}"


# -- Loki and Tempo: one request across all three signals --------------------------------------


def loki_lines(loki: str, query: str) -> list[str]:
    now_ns = time.time_ns()
    data = get(loki, "/loki/api/v1/query_range", query=query, start=now_ns - 900 * 10**9, end=now_ns, limit=20)
    return [line for stream in data["data"]["result"] for _, line in stream["values"]]


def test_loki_has_the_exporter_logs(stack: Stack) -> None:
    url = reachable(stack, "Loki", stack.loki, "/ready")
    eventually(lambda: loki_lines(url, '{service_name="llm-exporter"}'), "exporter logs in Loki")


def test_a_trace_is_in_tempo_loki_and_prometheus_exemplars(stack: Stack) -> None:
    tempo = reachable(stack, "Tempo", stack.tempo, "/ready")
    loki = reachable(stack, "Loki", stack.loki, "/ready")
    exemplars = eventually(lambda: exemplar_trace_ids(stack.prometheus), "exemplars in Prometheus")

    def traced() -> str | None:
        now = int(time.time())
        found = get(tempo, "/api/search", q='{resource.service.name="llm-exporter"}', limit=200,
                    start=now - 900, end=now)
        ids = {t["traceID"].rjust(32, "0") for t in found.get("traces", [])}
        assert ids, "TraceQL search returned no traces"
        return next(iter(ids & exemplars), None)

    trace_id = eventually(traced, "a TraceQL-found trace whose id is also a Prometheus exemplar")
    eventually(lambda: loki_lines(loki, f'{{service_name="llm-exporter"}} | trace_id="{trace_id}"'),
               f"Loki log lines for trace {trace_id}")

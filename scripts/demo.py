#!/usr/bin/env python3
"""Guided demo: switch the mock through its fault scenarios and show, for each, which alert
fires, after how long, where it is shown in Grafana and where its notification lands.

Every answer is read from the running stack's APIs (Prometheus rules and alerts, Alertmanager
alert groups and receivers, Grafana dashboards, the exporter's notification log); nothing below is
a script of expected output. Run after `docker compose up -d`: `make demo`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from stack_env import grafana_credentials  # scripts/ is on sys.path when run as a script

SCENARIOS = ("error_burst", "latency_spike", "budget_overrun", "gpu_idle")
METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


@dataclass
class Urls:
    exporter: str
    prometheus: str
    alertmanager: str
    grafana: str
    grafana_auth: tuple[str, str] | None  # None: the admin password could not be read


@dataclass
class Seen:
    name: str
    labels: dict[str, str]
    pending_after: float | None = None
    firing_after: float | None = None
    notified_after: float | None = None
    receivers: set[str] = field(default_factory=set)


def get(url: str, **params: Any) -> Any:
    response = requests.get(url, params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def say(text: str = "") -> None:
    print(text, flush=True)


def rules_by_alert(urls: Urls) -> dict[str, dict]:
    groups = get(urls.prometheus + "/api/v1/rules", type="alert")["data"]["groups"]
    return {rule["name"]: rule for group in groups for rule in group["rules"]}


def recording_rules(urls: Urls) -> dict[str, str]:
    """Recorded name -> its expressions (one rule per source may record the same name)."""
    groups = get(urls.prometheus + "/api/v1/rules", type="record")["data"]["groups"]
    out: dict[str, str] = {}
    for rule in (rule for group in groups for rule in group["rules"]):
        out[rule["name"]] = f"{out[rule['name']]}\nor\n{rule['query']}" if rule["name"] in out else rule["query"]
    return out


def active_alerts(urls: Urls) -> list[dict]:
    return get(urls.prometheus + "/api/v1/alerts")["data"]["alerts"]


def alert_key(alert: dict) -> tuple:
    return tuple(sorted(alert["labels"].items()))


def series_names(query: str) -> list[str]:
    """Metric and recording-rule names in a PromQL expression, in order (functions dropped)."""
    return [n for n in METRIC.findall(query) if n.startswith("llm_") or ":" in n]


def expand(names: list[str], recording: dict[str, str]) -> set[str]:
    """The names plus everything the recording rules behind them are computed from."""
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += series_names(recording.get(name, ""))
    return seen


def matching_panels(dashboard: dict, rule_query: str, recording: dict[str, str]) -> list[str]:
    """Titles of the dashboard's panels that plot the series the alert is about (the first series
    in its expression; the others are gates), directly or through recording rules."""
    watched = expand(series_names(rule_query)[:1], recording)
    return [panel.get("title", "(untitled)") for panel in dashboard.get("panels", [])
            if any(watched & expand(series_names(t.get("expr", "")), recording) for t in panel.get("targets", []))]


def grafana_panels(urls: Urls, dashboard_uid: str, rule_query: str, recording: dict[str, str]) -> tuple[str, list[str]]:
    """The dashboard's title and the panels showing what the rule watches, from Grafana's API."""
    try:
        response = requests.get(f"{urls.grafana}/api/dashboards/uid/{dashboard_uid}", auth=urls.grafana_auth,
                                timeout=10)
        response.raise_for_status()
    except requests.RequestException as exc:
        return dashboard_uid, [f"(Grafana not reachable at {urls.grafana}: {exc.__class__.__name__})"]
    dashboard = response.json()["dashboard"]
    return dashboard.get("title", dashboard_uid), matching_panels(dashboard, rule_query, recording)


def notifications(urls: Urls) -> list[dict]:
    try:
        return get(urls.exporter + "/alertmanager/notifications")
    except requests.RequestException:
        return []


def alertmanager_receivers(urls: Urls, alertname: str) -> set[str]:
    groups = get(urls.alertmanager + "/api/v2/alerts/groups")
    return {group["receiver"]["name"] for group in groups
            for alert in group["alerts"] if alert["labels"].get("alertname") == alertname}


def run_scenario(urls: Urls, scenario: str, timeout: float, min_watch: float,
                 rules: dict[str, dict]) -> list[Seen]:
    before = {alert_key(a) for a in active_alerts(urls)}
    notified_before = len(notifications(urls))
    response = requests.post(urls.exporter + "/mock/scenario", json={"scenario": scenario}, timeout=10)
    response.raise_for_status()
    say(f"\n=== {scenario}: {response.json()['description']}")
    started = time.monotonic()
    seen: dict[tuple, Seen] = {}
    while time.monotonic() - started < timeout:
        elapsed = time.monotonic() - started
        for alert in active_alerts(urls):
            key = alert_key(alert)
            if key in before:
                continue
            entry = seen.setdefault(key, Seen(alert["labels"]["alertname"], alert["labels"]))
            if entry.pending_after is None:
                entry.pending_after = elapsed
                wait = rules.get(entry.name, {}).get("duration", 0)
                when = f"fires after {wait:.0f}s more if the condition holds" if wait else "fires at once (no for:)"
                say(f"  [{elapsed:5.0f}s] {entry.name} is pending ({_labels(entry.labels)}); it {when}")
            if alert["state"] == "firing" and entry.firing_after is None:
                entry.firing_after = elapsed
                say(f"  [{elapsed:5.0f}s] {entry.name} is FIRING: {alert['annotations'].get('summary', '')}")
                entry.receivers = alertmanager_receivers(urls, entry.name)
        for note in notifications(urls)[notified_before:]:
            for entry in seen.values():
                if note["alertname"] == entry.name and entry.notified_after is None and note["status"] == "firing":
                    entry.notified_after = time.monotonic() - started
                    say(f"  [{entry.notified_after:5.0f}s] notification for {entry.name} delivered to receiver "
                        f"'{note['receiver']}'")
        done = seen and all(e.notified_after is not None for e in seen.values())
        if done and time.monotonic() - started >= min_watch:
            break
        time.sleep(5)
    return list(seen.values())


def _labels(labels: dict[str, str]) -> str:
    keep = ("severity", "model", "app_id", "department", "gpu")
    return ", ".join(f"{k}={labels[k]}" for k in keep if k in labels)


def explain(urls: Urls, found: list[Seen], rules: dict[str, dict], recording: dict[str, str]) -> None:
    if not found:
        say("  no new alert within the time limit (longer `for:` durations need a longer --timeout)")
        return
    for name in sorted({s.name for s in found}):
        entries = [s for s in found if s.name == name]
        rule = rules.get(name, {})
        annotations = rule.get("annotations", {})
        match = re.search(r"/d/([A-Za-z0-9_-]+)", annotations.get("dashboard_url", ""))
        say(f"  {name} (severity {entries[0].labels.get('severity', '?')}, for: {rule.get('duration', 0):.0f}s)")
        if match:
            title, panels = grafana_panels(urls, match.group(1), rule.get("query", ""), recording)
            say(f"    shown on Grafana dashboard '{title}' ({urls.grafana}/d/{match.group(1)}), "
                f"panels: {', '.join(panels) or '(none matched the rule query)'}")
        fired = [e.firing_after for e in entries if e.firing_after is not None]
        say(f"    fired after {min(fired):.0f}s" if fired else "    still pending when the demo moved on")
        receivers = set().union(*(e.receivers for e in entries))
        if receivers:
            say(f"    routed by Alertmanager to: {', '.join(sorted(receivers))} "
                f"(notifications: {urls.exporter}/alertmanager/notifications and the exporter's log)")
        say(f"    runbook: {annotations.get('runbook_url', '(none)')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("DEMO_TIMEOUT", 900)),
                        help="seconds to wait per scenario (alerts have `for:` durations of minutes)")
    parser.add_argument("--min-watch", type=float, default=240,
                        help="keep watching a scenario at least this long for slower alerts (seconds)")
    args = parser.parse_args()
    try:
        grafana_auth: tuple[str, str] | None = grafana_credentials()
    except RuntimeError as exc:  # no .env password and no running compose stack to read it from
        grafana_auth = None
        say(f"demo: Grafana's admin password is not known ({exc}); dashboards are read without logging in")
    urls = Urls(
        exporter=os.environ.get("EXPORTER_URL", "http://127.0.0.1:9101"),
        prometheus=os.environ.get("PROMETHEUS_URL", "http://127.0.0.1:9090"),
        alertmanager=os.environ.get("ALERTMANAGER_URL", "http://127.0.0.1:9093"),
        grafana=os.environ.get("GRAFANA_URL", "http://127.0.0.1:3000"),
        grafana_auth=grafana_auth,
    )
    try:
        rules, recording = rules_by_alert(urls), recording_rules(urls)
        requests.get(urls.exporter + "/mock/scenario", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        say(f"demo: the stack does not answer ({exc}). Start it with `docker compose up -d` first.")
        return 1
    say(f"Prometheus has {len(rules)} alert rules. Grafana: {urls.grafana}")
    try:
        for scenario in args.scenarios:
            found = run_scenario(urls, scenario, args.timeout, args.min_watch, rules)
            explain(urls, found, rules, recording)
    finally:
        requests.post(urls.exporter + "/mock/scenario", json={"scenario": "normal"}, timeout=10)
        say("\nBack to the normal scenario. Alerts resolve as their 5-minute windows clear.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

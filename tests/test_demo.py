"""`make demo` against the parts of the stack that run here: it must find the alert that fires,
its routing and its notification from the live APIs (Grafana is absent and reported as such)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e_support.alerting import alertmanager_config, prometheus_config, shortened_rule_files
from tests.support.processes import (
    REPO,
    free_port,
    run_alertmanager,
    run_exporter,
    run_prometheus,
    webhook_token_file,
)


@pytest.mark.e2e
def test_demo_reports_alert_routing_and_notification(tmp_path) -> None:
    token = webhook_token_file(tmp_path / "secrets")
    with (run_exporter("--mode", "mock", "--mock-rps", "10", "--webhook-token-file", str(token)) as exporter,
          run_alertmanager(alertmanager_config(exporter.url + "/alertmanager/webhook",
                                               token_file=token)) as alertmanager):
        config = prometheus_config(exporter.url.removeprefix("http://"), alertmanager.url.removeprefix("http://"),
                                   "demo")
        with run_prometheus(config, shortened_rule_files(tmp_path / "rules")) as prometheus:
            env = {**os.environ, "EXPORTER_URL": exporter.url, "PROMETHEUS_URL": prometheus.url,
                   "ALERTMANAGER_URL": alertmanager.url, "GRAFANA_URL": f"http://127.0.0.1:{free_port()}"}
            result = subprocess.run(
                [sys.executable, str(REPO / "scripts" / "demo.py"), "--scenarios", "budget_overrun",
                 "--timeout", "90", "--min-watch", "0"], env=env, capture_output=True, text=True, timeout=150)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "=== budget_overrun:" in out
    assert "LLMExpensiveRequest is FIRING" in out, out
    assert "notification for LLMExpensiveRequest delivered to receiver 'ticket'" in out, out
    assert "routed by Alertmanager to: ticket" in out, out
    assert "Grafana not reachable" in out and "runbook: https://" in out, out
    assert "Back to the normal scenario" in out


def load_demo():
    import importlib.util

    if str(REPO / "scripts") not in sys.path:  # demo.py imports its sibling stack_env, as when run as a script
        sys.path.insert(0, str(REPO / "scripts"))
    spec = importlib.util.spec_from_file_location("demo", REPO / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["demo"] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def test_every_alert_links_a_dashboard_with_a_panel_showing_its_series() -> None:
    """What `make demo` prints as 'shown on dashboard … panels: …' must never come up empty."""
    import json

    from prometheus import generator

    demo = load_demo()
    dashboards = {p.stem: json.loads(p.read_text()) for p in (REPO / "grafana" / "dashboards").glob("*.json")}
    recording: dict[str, str] = {}
    for record in generator.records():  # as demo.recording_rules reads them from Prometheus
        recording[record.name] = f"{recording[record.name]}\nor\n{record.expr}" if record.name in recording \
            else record.expr
    for alert in generator.alerts():
        assert alert.dashboard in dashboards, (alert.name, alert.dashboard)
        if alert.name in ("TargetDown", "AlertmanagerNotificationsFailing"):
            continue  # about the stack itself, shown by the overview's firing-alerts panel
        assert demo.matching_panels(dashboards[alert.dashboard], alert.expr, recording), alert.name

"""alertmanager/alertmanager.yml: amtool checks, the route per severity, receivers whose
secrets stay out of the repository, and inhibition proven on a real Alertmanager (amtool cannot
test inhibition statically): alerts are posted to its API v2 and /api/v2/alerts is read back.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.e2e_support import alerting
from tests.support.processes import Running, run_alertmanager, webhook_token_file

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "alertmanager" / "alertmanager.yml"
WEBHOOK = "http://exporter:9101/alertmanager/webhook"


def amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        pytest.fail("amtool is not installed: run `make deps`")
    return path


def config() -> dict[str, Any]:
    return yaml.safe_load(CONFIG.read_text())


def route_test(*labels: str, receiver: str | None = None) -> subprocess.CompletedProcess[str]:
    args = [amtool(), "config", "routes", "test", f"--config.file={CONFIG}"]
    if receiver:
        args.append(f"--verify.receivers={receiver}")
    return subprocess.run([*args, *labels], capture_output=True, text=True, timeout=30)


def test_amtool_check_config() -> None:
    result = subprocess.run([amtool(), "check-config", str(CONFIG)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout, "the notification templates must be loaded and parsed"


@pytest.mark.parametrize(("labels", "receiver"), [
    (["severity=critical", "alertname=LLMDailyBudgetExceeded", "department=research"], "pager"),
    (["severity=critical", "alertname=TargetDown", "job=llm-exporter"], "pager"),
    (["severity=warning", "alertname=LLMErrorRatioHigh", "model=gpt-4o"], "ticket"),
    (["severity=warning", "alertname=LLMGPUUnderutilized"], "ticket"),
    (["alertname=SomethingWithoutSeverity"], "ticket"),
    (["severity=info", "alertname=Unknown"], "ticket"),
])
def test_routes_by_severity(labels: list[str], receiver: str) -> None:
    result = route_test(*labels, receiver=receiver)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[0] == receiver


def test_route_verification_can_fail() -> None:
    """The route check is a real check: a critical alert does not reach the ticket receiver."""
    assert route_test("severity=critical", "alertname=X", receiver="ticket").returncode != 0


def test_grouping_and_timers() -> None:
    route = config()["route"]
    assert route["group_by"] == ["alertname", "department", "model"]
    for key in ("group_wait", "group_interval", "repeat_interval"):
        assert key in route
    critical = next(r for r in route["routes"] if r["matchers"] == ['severity="critical"'])
    assert alerting.parse_duration(critical["repeat_interval"]) < alerting.parse_duration(route["repeat_interval"])


def test_default_receivers_need_no_account_and_secrets_come_from_files() -> None:
    receivers = {r["name"]: r for r in config()["receivers"]}
    for name in ("pager", "ticket"):
        hooks = receivers[name]["webhook_configs"]
        assert [h["url"] for h in hooks] == [WEBHOOK] and all(h["send_resolved"] for h in hooks)
    assert receivers["slack"]["slack_configs"][0]["api_url_file"].startswith("/run/secrets/")
    assert receivers["pagerduty"]["pagerduty_configs"][0]["routing_key_file"].startswith("/run/secrets/")
    assert receivers["email"]["email_configs"][0]["auth_password_file"].startswith("/run/secrets/")
    text = CONFIG.read_text()
    for inline_secret in ("api_url:", "routing_key:", "service_key:", "auth_password:", "auth_secret:",
                          "hooks.slack.com", "bearer_token:"):
        assert inline_secret not in text, inline_secret


# --------------------------------------------------------------------------- live inhibition

@pytest.fixture(scope="module")
def alertmanager() -> Iterator[Running]:
    # The shipped file, with the webhook pointed at a closed port: this test reads alert states,
    # not deliveries (the end-to-end test covers those).
    token = webhook_token_file(Path(tempfile.mkdtemp(prefix="am-token-")))
    with run_alertmanager(alerting.alertmanager_config("http://127.0.0.1:9/alertmanager/webhook",
                                                       token_file=token)) as running:
        yield running


def post(am: Running, *alerts: dict[str, str]) -> None:
    now = dt.datetime.now(dt.UTC)
    body = [{"labels": labels, "annotations": {"summary": "test"},
             "startsAt": now.isoformat(), "endsAt": (now + dt.timedelta(minutes=10)).isoformat()}
            for labels in alerts]
    requests.post(am.url + "/api/v2/alerts", json=body, timeout=5).raise_for_status()


def states(am: Running, test: str) -> dict[str, tuple[str, int]]:
    """alert key -> (state, number of inhibiting alerts), for the alerts of one test case."""
    got = requests.get(am.url + "/api/v2/alerts", params={"filter": f'case="{test}"'}, timeout=5).json()
    return {a["labels"]["key"]: (a["status"]["state"], len(a["status"]["inhibitedBy"])) for a in got}


def test_target_down_silences_the_alerts_of_its_job(alertmanager: Running) -> None:
    case = "target-down"
    post(alertmanager,
         {"case": case, "key": "down", "alertname": "TargetDown", "severity": "critical",
          "job": "llm-exporter", "instance": "exporter:9101"},
         {"case": case, "key": "same-job", "alertname": "LLMErrorRatioHigh", "severity": "warning",
          "job": "llm-exporter", "app_id": "support-bot", "model": "gpt-4o-mini"},
         {"case": case, "key": "same-job-critical", "alertname": "LLMErrorBudgetBurnFast", "severity": "critical",
          "alert_family": "llm_error_budget_burn", "job": "llm-exporter", "model": "gpt-4o"},
         {"case": case, "key": "other-job", "alertname": "LLMErrorRatioHigh", "severity": "warning",
          "job": "my-service", "app_id": "support-bot", "model": "gpt-4o-mini"},
         {"case": case, "key": "no-job", "alertname": "LLMDailyBudgetExceeded", "severity": "critical",
          "alert_family": "llm_daily_budget", "department": "research"})
    got = states(alertmanager, case)
    assert got["down"] == ("active", 0)
    assert got["same-job"][0] == "suppressed" and got["same-job"][1] == 1
    assert got["same-job-critical"][0] == "suppressed"
    assert got["other-job"] == ("active", 0)
    assert got["no-job"] == ("active", 0)


def test_critical_silences_its_warning_twin_only(alertmanager: Running) -> None:
    case = "twins"
    job = "twins"  # not the job of the other case's TargetDown, which would silence these too
    budget = {"case": case, "alert_family": "llm_daily_budget"}
    burn = {"case": case, "alert_family": "llm_error_budget_burn", "job": job, "provider": "openai"}
    post(alertmanager,
         {**budget, "key": "research-critical", "alertname": "LLMDailyBudgetExceeded", "severity": "critical",
          "department": "research"},
         {**budget, "key": "research-warning", "alertname": "LLMDailyBudgetNearlySpent", "severity": "warning",
          "department": "research"},
         {**budget, "key": "support-warning", "alertname": "LLMDailyBudgetNearlySpent", "severity": "warning",
          "department": "support"},
         {**burn, "key": "gpt-4o-fast", "alertname": "LLMErrorBudgetBurnFast", "severity": "critical",
          "model": "gpt-4o"},
         {**burn, "key": "gpt-4o-slow", "alertname": "LLMErrorBudgetBurnSlow", "severity": "warning",
          "model": "gpt-4o"},
         {**burn, "key": "mini-slow", "alertname": "LLMErrorBudgetBurnSlow", "severity": "warning",
          "model": "gpt-4o-mini"},
         # A critical alert of another family, or of none, silences nothing.
         {"case": case, "key": "unrelated-warning", "alertname": "LLMGPUUnderutilized", "severity": "warning",
          "job": job},
         {"case": case, "key": "familyless-critical", "alertname": "SomeCritical", "severity": "critical",
          "job": job})
    got = states(alertmanager, case)
    assert got["research-warning"] == ("suppressed", 1)
    assert got["gpt-4o-slow"] == ("suppressed", 1)
    for key in ("research-critical", "support-warning", "gpt-4o-fast", "mini-slow", "unrelated-warning",
                "familyless-critical"):
        assert got[key] == ("active", 0), (key, got[key])

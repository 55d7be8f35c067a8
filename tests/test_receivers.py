"""The production stack's Alertmanager receivers, filled from `.env` or secret files
(llm_exporter.stack_receivers, run by compose's `secrets` service).

Bad settings stop the job with a message naming them; the rendered configurations pass
`amtool check-config` whichever integrations are on; and a real Alertmanager 0.25 running a
rendered configuration delivers real notifications to a Slack-compatible and a
PagerDuty-compatible HTTP server and to an SMTP server on 127.0.0.1 (the wire formats of
Alertmanager's own notifiers: notify/slack/slack.go and notify/pagerduty/pagerduty.go at v0.25.0).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from llm_exporter import stack_receivers
from llm_exporter.stack_receivers import ReceiverError, Receivers, read_receivers
from tests.e2e_support import alerting
from tests.support.processes import free_port, run_alertmanager, run_exporter, wait_for, webhook_token_file
from tests.test_alertmanager import amtool

SHIPPED = alerting.ALERTMANAGER_DIR / "alertmanager.yml"
SLACK_PATH = "/services/T000/B000/XXXXXXXX"
PAGERDUTY_KEY = "0123456789abcdef0123456789abcdef"
SMTP = {"SMTP_SMARTHOST": "smtp.example.com:587", "SMTP_FROM": "alertmanager@example.com",
        "SMTP_TO": "oncall@example.com", "SMTP_PASSWORD": "smtp-secret"}
EVERYTHING = {"SLACK_WEBHOOK_URL": "https://hooks.slack.com" + SLACK_PATH, "PAGERDUTY_ROUTING_KEY": PAGERDUTY_KEY,
              **SMTP}


# -- settings -----------------------------------------------------------------------------------


def test_nothing_set_means_no_integration() -> None:
    assert read_receivers({}) == Receivers()
    assert "reach only the exporter's notification log" in " ".join(stack_receivers.describe(Receivers()))


@pytest.mark.parametrize(("environ", "message"), [
    ({"SLACK_WEBHOOK_URL": "hooks.slack.com/services/x"}, "SLACK_WEBHOOK_URL must be an absolute https:// URL"),
    ({"PAGERDUTY_ROUTING_KEY": "two words"}, "PAGERDUTY_ROUTING_KEY must be one line without spaces"),
    ({"SMTP_TO": "oncall@example.com"}, "missing: SMTP_SMARTHOST, SMTP_FROM"),
    ({"SMTP_PASSWORD": "pw"}, "missing: SMTP_SMARTHOST, SMTP_FROM, SMTP_TO"),
    ({**SMTP, "SMTP_SMARTHOST": "smtp.example.com"}, "SMTP_SMARTHOST must be host:port"),
    ({**SMTP, "SMTP_TO": "oncall"}, "SMTP_FROM and SMTP_TO must be e-mail addresses"),
])
def test_settings_that_cannot_work_are_refused_by_name(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ReceiverError, match=message):
        read_receivers(environ)


def test_secret_files_are_read_when_the_environment_is_silent(tmp_path: Path) -> None:
    (tmp_path / "pagerduty_routing_key").write_text(PAGERDUTY_KEY + "\n")
    (tmp_path / "slack_webhook_url").write_text("https://hooks.slack.com/from-file\n")
    got = read_receivers({"SLACK_WEBHOOK_URL": "https://hooks.slack.com/from-env"}, tmp_path)
    assert got.pagerduty_routing_key == PAGERDUTY_KEY
    assert got.slack_webhook_url == "https://hooks.slack.com/from-env", "the environment wins, as .env is explicit"
    (tmp_path / "smtp_password").write_text("pw")
    (tmp_path / "smtp_password").chmod(0)
    if os.geteuid() != 0:  # root reads any file
        with pytest.raises(ReceiverError, match="readable by the stack's user, uid 10101"):
            read_receivers(SMTP | {"SMTP_PASSWORD": ""}, tmp_path)


# -- the secrets job ----------------------------------------------------------------------------


def run_job(directory: Path, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PAGERDUTY_", "SMTP_"))}
    return subprocess.run([sys.executable, "-m", "llm_exporter.stack_secrets", str(directory),
                           "--alertmanager-config", str(SHIPPED)], env={**env, **environ},
                          capture_output=True, text=True, timeout=30)


def test_the_job_writes_secret_files_and_a_config_without_secrets(tmp_path: Path) -> None:
    first = run_job(tmp_path, EVERYTHING)
    assert first.returncode == 0, first.stderr
    text = (tmp_path / "alertmanager.yml").read_text()
    for secret in (EVERYTHING["SLACK_WEBHOOK_URL"], PAGERDUTY_KEY, SMTP["SMTP_PASSWORD"]):
        assert secret not in text and secret not in first.stdout + first.stderr
    assert (tmp_path / "pagerduty_routing_key").read_text() == PAGERDUTY_KEY, "no newline: 0.25 does not trim"
    assert (tmp_path / "smtp_password").read_text() == SMTP["SMTP_PASSWORD"]
    assert stat.S_IMODE((tmp_path / "slack_webhook_url").stat().st_mode) == 0o444
    assert "pager -> pagerduty, slack, email, exporter notification log" in first.stdout
    config = yaml.safe_load(text)
    receivers = {r["name"]: r for r in config["receivers"]}
    assert set(receivers) == {"pager", "ticket"}, "the ready-to-fill receivers are merged, not kept"
    assert receivers["pager"]["pagerduty_configs"][0]["routing_key_file"] == str(tmp_path / "pagerduty_routing_key")
    assert "pagerduty_configs" not in receivers["ticket"], "warnings never page"
    assert config["route"] == yaml.safe_load(SHIPPED.read_text())["route"]
    second = run_job(tmp_path, {"PAGERDUTY_ROUTING_KEY": PAGERDUTY_KEY})
    assert second.returncode == 0, second.stderr
    assert not (tmp_path / "slack_webhook_url").exists() and not (tmp_path / "smtp_password").exists()
    assert "slack" not in (tmp_path / "alertmanager.yml").read_text()


def test_the_job_stops_on_a_setting_that_cannot_work(tmp_path: Path) -> None:
    result = run_job(tmp_path, {"SMTP_TO": "oncall@example.com"})
    assert result.returncode == 1
    assert "Alertmanager receivers: e-mail needs SMTP_SMARTHOST, SMTP_FROM, SMTP_TO" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "alertmanager.yml").exists()


@pytest.mark.parametrize("environ", [{}, {"SLACK_WEBHOOK_URL": EVERYTHING["SLACK_WEBHOOK_URL"]},
                                     {"PAGERDUTY_ROUTING_KEY": PAGERDUTY_KEY}, SMTP,
                                     {k: v for k, v in SMTP.items() if k != "SMTP_PASSWORD"}, EVERYTHING],
                         ids=["none", "slack", "pagerduty", "email", "email-without-auth", "all"])
def test_every_rendered_config_passes_amtool(tmp_path: Path, environ: dict[str, str]) -> None:
    assert run_job(tmp_path, environ).returncode == 0
    result = subprocess.run([amtool(), "check-config", str(tmp_path / "alertmanager.yml")], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout
    for severity, receiver in (("critical", "pager"), ("warning", "ticket")):
        route = subprocess.run([amtool(), "config", "routes", "test", f"--config.file={tmp_path / 'alertmanager.yml'}",
                                f"--verify.receivers={receiver}", f"severity={severity}", "alertname=X"],
                               capture_output=True, text=True, timeout=30)
        assert route.returncode == 0, route.stdout + route.stderr


# -- live delivery --------------------------------------------------------------------------------


class HttpRecorder:
    """An HTTP server on 127.0.0.1 that answers every POST with `status` and keeps what it got."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                recorder.received.append((self.path, json.loads(self.rfile.read(length))))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> HttpRecorder:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """aiosmtpd handler: every message, and the credentials it was sent with."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.logins.append((data.login.decode(), data.password.decode()))
            return AuthResult(success=data.password.decode() == SMTP["SMTP_PASSWORD"])
        return AuthResult(success=False)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox, port = Mailbox(), free_port()
    # PLAIN only: aiosmtpd's LOGIN challenge ("User Name") is not the "Username:" Alertmanager's
    # LOGIN client expects (notify/email/email.go), so Alertmanager would abort it.
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=mailbox.authenticate,
                            auth_require_tls=False, auth_exclude_mechanism=["LOGIN"])
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def post_alerts(url: str, *alerts: dict[str, str]) -> None:
    now = dt.datetime.now(dt.UTC)
    body = [{"labels": labels, "annotations": {"summary": f"{labels['alertname']} test", "description": "test",
                                               "runbook_url": "https://example.com/runbook"},
             "startsAt": now.isoformat(), "endsAt": (now + dt.timedelta(minutes=10)).isoformat()} for labels in alerts]
    requests.post(url + "/api/v2/alerts", json=body, timeout=5).raise_for_status()


@pytest.mark.e2e
def test_a_real_alertmanager_delivers_to_slack_pagerduty_and_email(tmp_path: Path, smtp_server) -> None:
    mailbox, smtp_port = smtp_server
    token = webhook_token_file(tmp_path / "token")
    with (HttpRecorder(200, {"ok": True}) as slack,
          HttpRecorder(202, {"status": "success", "message": "Event processed"}) as pagerduty,
          run_exporter("--mode", "config", "--webhook-token-file", str(token)) as exporter):
        environ = {**EVERYTHING, "SLACK_WEBHOOK_URL": slack.url + SLACK_PATH,
                   "SMTP_SMARTHOST": f"127.0.0.1:{smtp_port}"}
        # The shipped file as the live tests run it (1 s group timers, the webhook at this test's
        # exporter), then rendered; the test points PagerDuty's documented `url` at its double and
        # lets e-mail go without STARTTLS (the double has no certificate).
        shipped = yaml.safe_load(alerting.alertmanager_config(exporter.url + "/alertmanager/webhook",
                                                              token_file=token))
        config = stack_receivers.render(shipped, alerting.ALERTMANAGER_DIR, read_receivers(environ), tmp_path)
        pager = next(r for r in config["receivers"] if r["name"] == "pager")
        pager["pagerduty_configs"][0]["url"] = pagerduty.url + "/v2/enqueue"
        for receiver in config["receivers"]:
            for email in receiver.get("email_configs", []):
                email["require_tls"] = False
        stack_receivers.write_secret_files(tmp_path, read_receivers(environ), Path.write_text)
        with run_alertmanager(yaml.safe_dump(config, sort_keys=False)) as alertmanager:
            post_alerts(alertmanager.url,
                        {"alertname": "LLMDailyBudgetExceeded", "severity": "critical", "department": "research"},
                        {"alertname": "LLMGPUUnderutilized", "severity": "warning", "gpu": "0"})
            def delivered() -> bool:
                return len(slack.received) >= 2 and len(pagerduty.received) >= 1 and len(mailbox.messages) >= 2

            try:
                wait_for(delivered, timeout=60, what="Slack, PagerDuty and e-mail deliveries")
            except TimeoutError as exc:
                raise AssertionError(f"{exc}: slack {len(slack.received)}, pagerduty {len(pagerduty.received)}, "
                                     f"mail {len(mailbox.messages)}\n{alertmanager.log()[-3000:]}") from None
            wait_for(lambda: len(requests.get(exporter.url + "/alertmanager/notifications", timeout=5).json()) >= 2,
                     timeout=30, what="the exporter's notification log")
    assert {path for path, _ in slack.received} == {SLACK_PATH}
    titles = sorted(body["attachments"][0]["title"] for _, body in slack.received)
    assert titles == ["[FIRING:1] LLMDailyBudgetExceeded department=research", "[FIRING:1] LLMGPUUnderutilized"]
    ((path, event),) = pagerduty.received  # the warning is not paged
    assert path == "/v2/enqueue" and event["routing_key"] == PAGERDUTY_KEY and event["event_action"] == "trigger"
    assert event["payload"]["summary"] == "[FIRING:1] LLMDailyBudgetExceeded department=research"
    assert {(sender, tuple(to)) for sender, to, _ in mailbox.messages} == {(SMTP["SMTP_FROM"], (SMTP["SMTP_TO"],))}
    assert any("Subject: [FIRING:1] LLMDailyBudgetExceeded" in text for _, _, text in mailbox.messages)
    assert set(mailbox.logins) == {(SMTP["SMTP_FROM"], SMTP["SMTP_PASSWORD"])}

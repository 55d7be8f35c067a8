"""`make demo` against the parts of the stack that run here: a real mock exporter, Prometheus 2.42
with the shipped prometheus.yml and rules (intervals of a second), Alertmanager 0.25 with the
shipped routing and inhibitions (short group timers). Grafana is absent and reported as such.

The demo must load its time-compressed copy of the rules through the shipped rule_files entry,
attribute each notification to its alert from the notification's labels, report an inhibited and
a silenced alert as such (from Alertmanager's API), show the vLLM and LiteLLM jobs it adds through
prometheus/targets/, and put everything back, also when interrupted.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from llm_exporter.mock.scenarios import SCENARIOS
from prometheus import generator
from tests.e2e_support.alerting import alertmanager_config
from tests.support.processes import (
    CONFIG_DIR,
    REPO,
    Running,
    free_port,
    run_alertmanager,
    run_exporter,
    run_prometheus,
    shipped_prometheus_config,
    wait_for,
    webhook_token_file,
)

SCRIPTS = REPO / "scripts"
RESEARCH_DAILY_USD = 30  # the runaway agent (~$23/s) crosses 80% and 100% of it within seconds


def load(name: str):
    """A module of scripts/, imported as `make demo` runs it (scripts/ first on sys.path)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    return importlib.import_module(name)


def demo_prometheus_config(config_dir: Path, exporter: str, alertmanager: str, own: str) -> dict:
    """The shipped prometheus.yml with every address of this test, one-second intervals, and its
    relative paths (rule_files, target files) under `config_dir`, as compose mounts them."""
    config = shipped_prometheus_config()
    config["global"] = {**config["global"], "scrape_interval": "1s", "scrape_timeout": "1s",
                        "evaluation_interval": "1s"}
    config["rule_files"] = [str(config_dir / pattern) for pattern in config["rule_files"]]
    addresses = {"llm-exporter": exporter, "prometheus": own, "alertmanager": alertmanager}
    for job in config["scrape_configs"]:
        if job["job_name"] in addresses:
            job["static_configs"] = [{"targets": [addresses[job["job_name"]]]}]
        for sd in job.get("file_sd_configs", []):
            sd["files"] = [str(config_dir / pattern) for pattern in sd["files"]]
    config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return config


@dataclass
class DemoStack:
    exporter: Running
    alertmanager: Running
    prometheus: Running
    config_dir: Path

    def run(self, *args: str, **popen: object) -> subprocess.Popen:
        env = {**os.environ, "EXPORTER_URL": self.exporter.url, "PROMETHEUS_URL": self.prometheus.url,
               "ALERTMANAGER_URL": self.alertmanager.url, "GRAFANA_URL": f"http://127.0.0.1:{free_port()}",
               "GRAFANA_ADMIN_PASSWORD": "not-used"}  # no `docker compose exec` to read it
        return subprocess.Popen([sys.executable, str(SCRIPTS / "demo.py"), "--prometheus-dir", str(self.config_dir),
                                 *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)

    def rule_groups(self) -> list[str]:
        response = requests.get(self.prometheus.url + "/api/v1/rules", timeout=30).json()
        return [group["name"] for group in response["data"]["groups"]]

    def scenario(self) -> str:
        return requests.get(self.exporter.url + "/mock/scenario", timeout=30).json()["active"]


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """One stack for the file's live tests: the interrupted run first (it leaves the stack as it was)."""
    tmp_path = tmp_path_factory.mktemp("demo")
    token = webhook_token_file(tmp_path / "secrets")
    budgets = yaml.safe_load((CONFIG_DIR / "budgets.yaml").read_text())
    budgets["departments"]["research"]["daily"] = RESEARCH_DAILY_USD
    (tmp_path / "budgets.yaml").write_text(yaml.safe_dump(budgets))
    config_dir = tmp_path / "etc-prometheus"
    shutil.copytree(REPO / "prometheus" / "rules", config_dir / "rules")
    (config_dir / "targets").mkdir()
    port = free_port()
    with (run_exporter("--mode", "mock", "--mock-rps", "10", "--webhook-token-file", str(token),
                       "--budgets-file", str(tmp_path / "budgets.yaml")) as exporter,
          run_alertmanager(alertmanager_config(exporter.url + "/alertmanager/webhook", token_file=token)) as am):
        config = demo_prometheus_config(config_dir, exporter.url.removeprefix("http://"),
                                        am.url.removeprefix("http://"), f"127.0.0.1:{port}")
        with run_prometheus(config, port=port) as prometheus:
            wait_for(lambda: exporter_scraped(prometheus.url), timeout=30, what="the exporter's first scrape")
            yield DemoStack(exporter, am, prometheus, config_dir)


def exporter_scraped(prometheus: str) -> bool:
    targets = requests.get(prometheus + "/api/v1/targets", timeout=30).json()["data"]["activeTargets"]
    return any(t["labels"].get("job") == "llm-exporter" and t["health"] == "up" for t in targets)


def silence(alertmanager: str, alertname: str, comment: str) -> str:
    now = time.time()
    body = {"matchers": [{"name": "alertname", "value": alertname, "isRegex": False, "isEqual": True}],
            "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)),
            "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600)),
            "createdBy": "test_demo", "comment": comment}
    response = requests.post(alertmanager + "/api/v2/silences", json=body, timeout=30)
    response.raise_for_status()
    return response.json()["silenceID"]


def assert_put_back(stack: DemoStack) -> None:
    changes = load("demo_changes")
    assert stack.scenario() == "normal"
    assert changes.GROUP not in stack.rule_groups()
    assert not (stack.config_dir / changes.RULES_FILE).exists()
    assert not (stack.config_dir / changes.TARGETS_FILE).exists()


@pytest.mark.e2e
def test_an_interrupted_demo_puts_the_stack_back(demo_stack) -> None:
    process = demo_stack.run("--scenarios", "error_burst", "--no-sources")
    lines = []
    with contextlib.suppress(Exception):
        for line in process.stdout:
            lines.append(line)
            if line.startswith("=== error_burst"):
                break
    time.sleep(2)
    assert demo_stack.scenario() == "error_burst"
    assert load("demo_changes").GROUP in demo_stack.rule_groups()
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 130, "".join(lines) + out
    assert "Interrupted." in out and "Mock scenario: normal" in out, out
    assert_put_back(demo_stack)


@pytest.mark.e2e
def test_demo_attributes_notifications_reports_held_alerts_shows_sources_and_puts_back(demo_stack) -> None:
    silenced = silence(demo_stack.alertmanager.url, "LLMExpensiveRequest", "calls over $1 are expected today")
    process = demo_stack.run("--scenarios", "budget_overrun", "--limit", "90", "--min-watch", "0")
    out, _ = process.communicate(timeout=240)
    assert process.returncode == 0, out
    changes = load("demo_changes")
    # up front: how long at most, and what is compressed and how
    first = out.index("=== budget_overrun")
    assert ("This demo takes at most 2 min 45 s: 1 fault scenario (budget_overrun 90 s), a vLLM fleet behind "
            "LiteLLM 45 s, setup and clean-up.") in out[:first], out
    assert f"each waiting 1/{changes.FOR_DIVISOR} as long (10m -> 30s, 5m -> 15s, 2m -> 6s)" in out[:first], out
    assert "Prometheus still scrapes every 1s and evaluates every 1s" in out[:first], out
    # this test's Alertmanager waits a second, not the shipped 10 to 30 (tests/e2e_support/alerting.py)
    assert ("Alertmanager's routes, inhibitions or timers differ from alertmanager/alertmanager.yml"
            in out[:first]), out
    webhook = f"webhook {demo_stack.exporter.url}/alertmanager/webhook"
    assert f"Alertmanager's receivers: pager: {webhook}; ticket: {webhook}" in out[:first], out
    # every notification attributed, from its labels, to the receiver it reached
    exceeded = "LLMDailyBudgetExceeded{department=research} (time-compressed)"
    assert f"notification (firing) for {exceeded} -> receiver 'pager'" in out, out
    # held back, as Alertmanager's API says: inhibited by the critical twin, silenced by our silence
    assert (f"LLMDailyBudgetNearlySpent{{department=research}} (time-compressed) held back by Alertmanager: "
            f"inhibited by {exceeded}") in out, out
    assert (f"held back by Alertmanager: silenced by silence {silenced} (test_demo: "
            "'calls over $1 are expected today'") in out, out
    assert "LLMExpensiveRequest{" in out and "shipped rule without for: fires at once" in out, out
    # the step ended once the three alerts it shows were notified or held back, not at its limit
    summary = out[out.index("=== a vLLM fleet"):]
    assert "Not within this step: LLMMonthlyBudgetForecastExceeded" in out[first:out.index("=== a vLLM fleet")]
    # the vLLM and LiteLLM jobs, through the layers panel and the engine panels
    for layer in ("llm (client)", "litellm (gateway)", "vllm (engine)"):
        assert f"    {layer}: " in summary, out
    assert "'LLM GPU' > 'KV-cache usage (engines)'" in summary and "from vLLM alone" in summary, out
    assert "Grafana does not answer" in out, out
    # put back, and the closing lines only say what the APIs confirm
    assert "Mock scenario: normal (the exporter reports it active)." in out, out
    assert "Prometheus no longer evaluates the time-compressed copies" in out, out
    assert_put_back(demo_stack)
    on = {a["labels"]["alertname"] for a in requests.get(demo_stack.prometheus.url + "/api/v1/alerts",
                                                          timeout=30).json()["data"]["alerts"]}
    closing = out[out.index("Still on in Prometheus"):].splitlines()[1:]
    assert closing and all(line.split(":")[0].strip() in on for line in closing if line.startswith("    ")), \
        (closing, on)


def test_each_default_step_shows_alerts_of_its_scenarios_row() -> None:
    demo = load("demo")
    for name in SCENARIOS:
        if name != "normal":
            step = demo.step_for(name, None)
            assert step.shows and set(step.shows) <= set(SCENARIOS[name].alerts), name
    total = sum(s.limit_s for s in demo.STEPS.values()) + demo.SOURCES_LIMIT_S + demo.SETUP_AND_CLEANUP_S
    assert total < 600, "`make demo` must finish within 10 minutes"
    assert f"takes at most {demo.minutes(total)}" in (REPO / "README.md").read_text()
    assert f"(at most {demo.minutes(total)}, time-compressed)" in (REPO / "Makefile").read_text()


def test_the_demo_refuses_a_stack_without_the_mock_fleet(tmp_path: Path) -> None:
    """The production stack's exporter runs in config mode: nothing to switch, nothing written."""
    with run_exporter("--mode", "config") as exporter:
        env = {**os.environ, "EXPORTER_URL": exporter.url, "PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",
               "ALERTMANAGER_URL": f"http://127.0.0.1:{free_port()}", "GRAFANA_ADMIN_PASSWORD": "not-used"}
        result = subprocess.run([sys.executable, str(SCRIPTS / "demo.py"), "--prometheus-dir", str(tmp_path)],
                                env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the production stack has no mock fleet to switch" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_the_copies_are_the_shipped_alerts_waiting_a_twentieth(tmp_path: Path) -> None:
    changes = load("demo_changes")
    rules = changes.compressed_rules()["groups"][0]["rules"]
    assert {r["alert"] for r in rules} == {a.name for a in generator.alerts() if changes.compressed(a)}
    assert {"TargetDown", "LLMExpensiveRequest"}.isdisjoint(r["alert"] for r in rules)
    for rule in rules:
        shipped = generator.alert(rule["alert"])
        assert rule["expr"].strip() == shipped.to_yaml()["expr"].strip()
        assert int(rule["for"].removesuffix("s")) * changes.FOR_DIVISOR == \
            pytest.approx(generator.config.seconds(shipped.for_), abs=changes.FOR_DIVISOR)
        assert rule["labels"] == {**shipped.to_yaml()["labels"], "demo": "time-compressed"}
    path = tmp_path / changes.RULES_FILE
    changes.write_owned(path, changes.compressed_rules())
    result = subprocess.run([shutil.which("promtool") or "promtool", "check", "rules", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_demo_writes_only_where_prometheus_reads_and_git_ignores() -> None:
    changes = load("demo_changes")
    config = shipped_prometheus_config()
    assert any(changes.RULES_FILE.match(pattern) for pattern in config["rule_files"])
    file_sd = [f for job in config["scrape_configs"] for sd in job.get("file_sd_configs", []) for f in sd["files"]]
    assert any(changes.TARGETS_FILE.match(pattern) for pattern in file_sd)
    for path in (changes.RULES_FILE, changes.TARGETS_FILE):
        ignored = subprocess.run(["git", "check-ignore", "-q", f"prometheus/{path}"], cwd=REPO)
        assert ignored.returncode == 0, f"prometheus/{path} is not ignored by git"


def test_someone_elses_file_is_neither_replaced_nor_removed(tmp_path: Path) -> None:
    changes = load("demo_changes")
    mine = tmp_path / "targets" / "demo-sources.yml"
    mine.parent.mkdir()
    mine.write_text("- targets: ['my-vllm:8000']\n")
    with pytest.raises(changes.DemoError, match="was not written by the demo"):
        changes.write_owned(mine, [])
    assert not changes.remove_owned(mine) and mine.read_text() == "- targets: ['my-vllm:8000']\n"


def test_every_alert_about_the_traffic_names_panels_showing_what_it_watches() -> None:
    """What `make demo` prints as "Grafana: ... panels: ..." must never come up empty."""
    panels = load("demo_panels")
    for alert in generator.alerts():
        if load("demo_changes").capability.alert_sources(alert):
            assert panels.panels_showing(alert), alert.name
    assert panels.panels_showing(generator.alert("LLMErrorRatioHigh")) == \
        ["Error ratio", "Error ratio by model", "Error ratio by app"]


def test_the_demo_says_when_alertmanager_routes_as_shipped(tmp_path: Path) -> None:
    """Against the shipped routing (only the webhook moved), the demo says so; test_demo_attributes...
    shows the other answer against this file's retimed Alertmanager."""
    config = yaml.safe_load((REPO / "alertmanager" / "alertmanager.yml").read_text())
    token = webhook_token_file(tmp_path)
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"http://127.0.0.1:{free_port()}/alertmanager/webhook"
            hook["http_config"]["authorization"]["credentials_file"] = str(token)
    config["templates"] = [str(REPO / "alertmanager" / t) for t in config["templates"]]
    demo, watch = load("demo"), load("demo_watch")
    with run_alertmanager(yaml.safe_dump(config)) as alertmanager:
        said = demo.routing(watch.Alertmanager(alertmanager.url))
    assert said == "Alertmanager runs the routes, inhibitions and timers of alertmanager/alertmanager.yml."

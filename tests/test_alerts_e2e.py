"""Live end-to-end alerting: real exporter -> real Prometheus -> real Alertmanager -> webhook.

One Alertmanager (the shipped alertmanager.yml) delivers to the webhook of a "receiver"
exporter; each mock scenario gets its own exporter (--mock-rps 20) and its own Prometheus (the
shipped rule files), all on 127.0.0.1 with ephemeral ports, running side by side. After a
short warm-up of normal traffic every scenario switches its exporter (POST /mock/scenario) and
the test waits until the alerts that scenario must raise arrive at the receiver
(GET /alertmanager/notifications); it then switches back to `normal` and, where the alert's
window allows it within the test, waits for the resolved notification. The `normal` instance
must deliver nothing, then its exporter is stopped (TargetDown) and started again (resolved).

Shortened `for:` and Alertmanager timers come from tests/e2e_support/alerting.py (a documented
transformation of the shipped files, never a second copy). Measured times to detect are
written to build/e2e-alert-timings.json and summarised in docs/alerts.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml

from tests.e2e_support import alerting
from tests.support.processes import (
    CONFIG_DIR,
    REPO,
    exporter_command,
    free_port,
    require_binary,
    stop,
    wait_until_ok,
    webhook_token_file,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

MOCK_RPS = "20"
WARMUP_S = {"traffic_stop": 20.0}  # seconds of normal traffic before the switch
DEFAULT_WARMUP_S = 35.0
DEADLINE_S = 210.0  # after the switch, per scenario
RESOLVE_DEADLINE_S = 120.0  # resolved in 4-36 s on a quiet machine (docs/alerts.md); a loaded one takes longer

# scenario -> (alerts that must be delivered, alerts whose resolution is awaited after the switch back)
EXPECTED: dict[str, tuple[set[str], set[str]]] = {
    # Failed calls keep arriving for a minute after the switch back (timeouts last 60 s) and the
    # 5-minute ratios need minutes to dilute them: resolution is covered by the promtool tests.
    # The burn-rate alerts count a pair once it has called for 5 minutes (prometheus/tests/slo.test.yml);
    # the live run is shorter.
    "error_burst": ({"LLMErrorRatioHigh"}, set()),
    "latency_spike": ({"LLMLatencyP95High", "LLMTimeToFirstTokenP95High", "LLMTimePerOutputTokenP95High"}, set()),
    "budget_overrun": ({"LLMDailyBudgetNearlySpent", "LLMDailyBudgetExceeded", "LLMExpensiveRequest"}, set()),
    "gpu_idle": ({"LLMGPUUnderutilized"}, {"LLMGPUUnderutilized"}),
    "quality_drop": ({"LLMQualityScoreLow", "LLMNegativeFeedbackHigh"}, {"LLMQualityScoreLow"}),
    "traffic_stop": ({"LLMTrafficStopped"}, {"LLMTrafficStopped"}),
}
SEVERITY_RECEIVER = {"critical": "pager", "warning": "ticket"}


@dataclass
class Proc:
    process: subprocess.Popen
    url: str
    log_path: Path
    port: int


@dataclass
class Instance:
    scenario: str
    exporter: Proc
    prometheus: Proc
    warmup_s: float
    switched_at: float | None = None
    switched_back_at: float | None = None
    detected: dict[str, float] = field(default_factory=dict)
    resolved: dict[str, float] = field(default_factory=dict)
    done: bool = False


class Stack(contextlib.ExitStack):
    """Starts processes without waiting for each one, then waits for all of them together."""

    def __init__(self, workdir: Path) -> None:
        super().__init__()
        self.workdir = workdir

    def spawn(self, name: str, argv: list[str], port: int, env: dict[str, str] | None = None) -> Proc:
        log_path = self.workdir / f"{name}.log"
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, cwd=self.workdir,
                                       env={**os.environ, **(env or {})})
        self.callback(stop, process)
        return Proc(process, f"http://127.0.0.1:{port}", log_path, port)

    def exporter(self, name: str, *args: str, port: int | None = None) -> Proc:
        port = port or free_port()
        argv = exporter_command(
            "--mode", "mock", "--host", "127.0.0.1", "--port", str(port), "--mock-rps", MOCK_RPS,
            "--pricing-file", str(CONFIG_DIR / "pricing.yaml"), "--budgets-file", str(CONFIG_DIR / "budgets.yaml"),
            "--objectives-file", str(CONFIG_DIR / "objectives.yaml"), *args)
        return self.spawn(name, argv, port, {"OTEL_SDK_DISABLED": "true", "PYTHONUNBUFFERED": "1"})

    def prometheus(self, scenario: str, exporter: Proc, alertmanager: Proc, rule_files: list[Path]) -> Proc:
        port = free_port()
        home = self.workdir / f"prometheus-{scenario}"
        home.mkdir()
        config = alerting.prometheus_config(f"127.0.0.1:{exporter.port}", f"127.0.0.1:{alertmanager.port}", scenario)
        config["rule_files"] = [str(p) for p in rule_files]
        (home / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        argv = [require_binary("prometheus"), f"--config.file={home / 'prometheus.yml'}",
                f"--storage.tsdb.path={home / 'data'}", f"--web.listen-address=127.0.0.1:{port}"]
        return self.spawn(f"prometheus-{scenario}", argv, port)

    def alertmanager(self, webhook_url: str, token_file: Path) -> Proc:
        port = free_port()
        home = self.workdir / "alertmanager"
        home.mkdir()
        (home / "alertmanager.yml").write_text(alerting.alertmanager_config(webhook_url, token_file=token_file))
        argv = [require_binary("prometheus-alertmanager"), f"--config.file={home / 'alertmanager.yml'}",
                f"--storage.path={home / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address="]
        return self.spawn("alertmanager", argv, port)


def ready(proc: Proc, path: str, timeout: float = 60.0) -> None:
    wait_until_ok(proc.url + path, proc.process, proc.log_path, timeout)


class Receiver:
    """Everything the receiver exporter got, kept here because it only remembers the last 200."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: set[str] = set()
        self.entries: list[dict] = []

    def poll(self) -> list[dict]:
        new = []
        for entry in requests.get(self.url + "/alertmanager/notifications", timeout=5).json():
            key = json.dumps(entry, sort_keys=True)
            if key not in self.seen:
                self.seen.add(key)
                self.entries.append(entry)
                new.append(entry)
        return new


def switch(instance: Instance, scenario: str) -> float:
    response = requests.post(instance.exporter.url + "/mock/scenario", json={"scenario": scenario}, timeout=5)
    response.raise_for_status()
    return time.time()


def write_timings(instances: list[Instance], target_down: dict[str, float | None], receiver: Receiver) -> Path:
    out_dir = REPO / "build"
    out_dir.mkdir(exist_ok=True)
    report = {
        "rps": int(MOCK_RPS), "scrape_and_eval_interval": alerting.SCRAPE_INTERVAL,
        "for_divisor": alerting.FOR_DIVISOR, "group_wait": alerting.GROUP_WAIT,
        "group_interval": alerting.GROUP_INTERVAL, "scenarios": {},
    }
    for inst in instances:
        delivered = sorted({e["alertname"] for e in receiver.entries
                            if e["labels"].get("e2e_scenario") == inst.scenario and e["status"] == "firing"})
        report["scenarios"][inst.scenario] = {
            "warmup_s": inst.warmup_s,
            "time_to_detect_s": {k: round(v - inst.switched_at, 1) for k, v in sorted(inst.detected.items())},
            "time_to_resolve_s": {k: round(v - inst.switched_back_at, 1) for k, v in sorted(inst.resolved.items())},
            "all_alerts_delivered": delivered,
        }
    report["scenarios"]["target_down"] = target_down
    path = out_dir / "e2e-alert-timings.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def test_fault_scenarios_deliver_their_alerts_through_alertmanager() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="alerts-e2e-"))
    rule_files = alerting.shortened_rule_files(workdir / "rules")
    with Stack(workdir) as stack:
        token = webhook_token_file(workdir / "secrets")
        receiver_proc = stack.exporter("receiver", "--mock-rps", "0", "--webhook-token-file", str(token))
        alertmanager = stack.alertmanager(receiver_proc.url + "/alertmanager/webhook", token)
        exporters = {name: stack.exporter(f"exporter-{name}", "--seed", str(seed))
                     for seed, name in enumerate(["normal", *EXPECTED], start=11)}
        ready(receiver_proc, "/readyz")
        ready(alertmanager, "/-/ready")
        for proc in exporters.values():
            ready(proc, "/readyz")
        instances = [
            Instance(name, proc, stack.prometheus(name, proc, alertmanager, rule_files),
                     WARMUP_S.get(name, DEFAULT_WARMUP_S))
            for name, proc in exporters.items()
        ]
        for inst in instances:
            ready(inst.prometheus, "/-/ready")
        started = time.time()
        receiver = Receiver(receiver_proc.url)
        normal = next(i for i in instances if i.scenario == "normal")
        faults = [i for i in instances if i.scenario != "normal"]

        while not all(i.done for i in faults):
            now = time.time()
            for entry in receiver.poll():
                inst = next((i for i in instances if i.scenario == entry["labels"].get("e2e_scenario")), None)
                if inst is None or inst is normal or inst.switched_at is None:
                    continue
                name = entry["alertname"]
                if entry["status"] == "firing":
                    inst.detected.setdefault(name, entry["received_at"])
                elif inst.switched_back_at is not None and name in EXPECTED[inst.scenario][1]:
                    inst.resolved.setdefault(name, entry["received_at"])
            for inst in faults:
                must_fire, must_resolve = EXPECTED[inst.scenario]
                if inst.switched_at is None and now - started >= inst.warmup_s:
                    inst.switched_at = switch(inst, inst.scenario)
                elif inst.switched_at is not None and inst.switched_back_at is None:
                    if must_fire <= inst.detected.keys():
                        inst.switched_back_at = switch(inst, "normal")
                        inst.done = not must_resolve
                    elif now - inst.switched_at > DEADLINE_S:
                        pytest.fail(f"{inst.scenario}: {sorted(must_fire - inst.detected.keys())} not delivered "
                                    f"within {DEADLINE_S:.0f}s (got {sorted(inst.detected)}); "
                                    f"Prometheus log: {inst.prometheus.log_path}")
                elif inst.switched_back_at is not None and not inst.done:
                    if must_resolve <= inst.resolved.keys():
                        inst.done = True
                    elif now - inst.switched_back_at > RESOLVE_DEADLINE_S:
                        pytest.fail(f"{inst.scenario}: {sorted(must_resolve - inst.resolved.keys())} not resolved "
                                    f"within {RESOLVE_DEADLINE_S:.0f}s of switching back to normal")
            time.sleep(0.5)

        # The normal scenario delivered nothing in all that time.
        normal_alerts = [e for e in receiver.entries if e["labels"].get("e2e_scenario") == "normal"]
        assert normal_alerts == [], f"normal traffic raised alerts: {normal_alerts}"

        # TargetDown: stop the normal instance's exporter, then start it again on the same port.
        stop(normal.exporter.process)
        down_at = time.time()
        target_down: dict[str, float | None] = {"time_to_detect_s": None, "time_to_resolve_s": None}
        while target_down["time_to_detect_s"] is None and time.time() - down_at < 60:
            for entry in receiver.poll():
                if entry["labels"].get("e2e_scenario") == "normal" and entry["alertname"] == "TargetDown" \
                        and entry["status"] == "firing":
                    target_down["time_to_detect_s"] = round(entry["received_at"] - down_at, 1)
            time.sleep(0.5)
        assert target_down["time_to_detect_s"] is not None, "TargetDown not delivered within 60s"
        restarted = stack.exporter("exporter-normal-again", "--seed", "11", port=normal.exporter.port)
        ready(restarted, "/readyz")
        up_at = time.time()
        while target_down["time_to_resolve_s"] is None and time.time() - up_at < 60:
            for entry in receiver.poll():
                if entry["labels"].get("e2e_scenario") == "normal" and entry["alertname"] == "TargetDown" \
                        and entry["status"] == "resolved":
                    target_down["time_to_resolve_s"] = round(entry["received_at"] - up_at, 1)
            time.sleep(0.5)
        assert target_down["time_to_resolve_s"] is not None, f"TargetDown not resolved within {RESOLVE_DEADLINE_S:.0f}s"

        # Each notification went to the receiver its severity routes to.
        for entry in receiver.entries:
            assert entry["receiver"] == SEVERITY_RECEIVER[entry["severity"]], entry
        # ...and was counted by the receiving exporter.
        metrics = requests.get(receiver_proc.url + "/metrics", timeout=5).text
        counted = [line for line in metrics.splitlines() if line.startswith("llm_alert_notifications_total{")
                   and 'alertname="TargetDown"' in line and 'receiver="pager"' in line and 'status="firing"' in line]
        assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 1, metrics

        path = write_timings(instances, target_down, receiver)
        print(f"\nalert timings ({time.time() - started:.0f}s in all) -> {path}\n{path.read_text()}",
              file=sys.stderr)
    shutil.rmtree(workdir, ignore_errors=True)  # kept, with every process's log, when the test fails

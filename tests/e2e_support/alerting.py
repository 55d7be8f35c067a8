"""The documented transformations that let the live alert test run in minutes instead of hours.

They are applied at test time to the SHIPPED files (prometheus/prometheus.yml,
prometheus/rules/*.yml, alertmanager/alertmanager.yml); nothing here is a second copy of a rule.
docs/alerts.md describes them next to the measured times.

1. Alert rules: every `for:` is divided by FOR_DIVISOR (10m -> 30s, 2m -> 6s), at least 1 s.
   Expressions, labels, annotations and recording rules are untouched (test_rules.py checks it).
2. Prometheus: scrape and evaluation every second; one scrape job for the test's exporter,
   renamed `llm-exporter-<scenario>` so that a TargetDown in one scenario inhibits only its own
   alerts; an external label `e2e_scenario` tells the scenarios apart at the shared receiver.
3. Alertmanager: group_wait 1 s and group_interval 2 s on every route, the webhook URL of every
   receiver pointed at the test's exporter and its bearer token file at the test's own token (the
   exporter is started with the same file), the templates directory given as an absolute path.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from prometheus import generator
from prometheus.generator import outputs
from tests.support.processes import shipped_prometheus_config

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "prometheus"
RULES_DIR = outputs.RULES_DIR
ALERTMANAGER_DIR = REPO / "alertmanager"

FOR_DIVISOR = 20
SCRAPE_INTERVAL = "1s"
GROUP_WAIT = "1s"
GROUP_INTERVAL = "2s"

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def parse_duration(text: str) -> float:
    """Prometheus duration ("1h30m", "90s") in seconds."""
    text = str(text).strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    millis = max(1, round(seconds * 1000))
    if millis % 1000:
        return f"{millis}ms"
    return f"{millis // 1000}s"


def shorten_for(rule_file: dict[str, Any], divisor: int = FOR_DIVISOR) -> dict[str, Any]:
    """A copy of a parsed rule file whose alerts wait `for / divisor` (at least 1 s)."""
    out = copy.deepcopy(rule_file)
    for group in out.get("groups", []):
        for rule in group.get("rules", []):
            if "alert" in rule and rule.get("for"):
                rule["for"] = format_duration(max(1.0, parse_duration(rule["for"]) / divisor))
    return out


def shortened_rule_files(target_dir: Path, divisor: int = FOR_DIVISOR) -> list[Path]:
    """Every shipped rule file, transformed by shorten_for, written to target_dir."""
    target_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in shipped_rule_files():
        data = shorten_for(yaml.safe_load(path.read_text()), divisor)
        out = target_dir / path.name
        out.write_text(yaml.safe_dump(data, sort_keys=False, width=1000))
        written.append(out)
    return written


def shipped_rule_files() -> list[Path]:
    """The committed rule files, in the generator's order (the drift test proves they are current)."""
    return [RULES_DIR / rule_file.name for rule_file in generator.rule_files()]


def rule_files_evaluated_every(interval: str, target_dir: Path) -> list[Path]:
    """Every shipped rule file with each group evaluated every `interval` (rules untouched), for
    live tests that want recorded series within seconds."""
    target_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in shipped_rule_files():
        document = yaml.safe_load(path.read_text())
        for group in document["groups"]:
            group["interval"] = interval
        out = target_dir / path.name
        out.write_text(yaml.safe_dump(document, sort_keys=False, width=1000))
        written.append(out)
    return written


def prometheus_config(exporter_target: str, alertmanager_target: str, scenario: str) -> dict[str, Any]:
    """The shipped prometheus.yml reduced to the test's exporter, with one-second intervals."""
    shipped = shipped_prometheus_config()
    jobs = [job for job in shipped["scrape_configs"] if job["job_name"] == "llm-exporter"]
    if len(jobs) != 1:
        raise AssertionError("prometheus.yml must have exactly one `llm-exporter` scrape job")
    job = copy.deepcopy(jobs[0])
    job["job_name"] = f"llm-exporter-{scenario}"
    job["static_configs"] = [{"targets": [exporter_target]}]
    config = copy.deepcopy(shipped)
    config["global"] = {**shipped.get("global", {}), "scrape_interval": SCRAPE_INTERVAL,
                        "scrape_timeout": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL,
                        "external_labels": {"e2e_scenario": scenario}}
    config["scrape_configs"] = [job]
    config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager_target]}]}]}
    return config


def _retime(route: dict[str, Any]) -> None:
    if "group_wait" in route:
        route["group_wait"] = GROUP_WAIT
    if "group_interval" in route:
        route["group_interval"] = GROUP_INTERVAL
    for child in route.get("routes", []):
        _retime(child)


def alertmanager_config(webhook_url: str, *, token_file: Path) -> str:
    """The shipped alertmanager.yml with short grouping timers, the webhook at webhook_url and
    the webhook's bearer token read from token_file."""
    config = yaml.safe_load((ALERTMANAGER_DIR / "alertmanager.yml").read_text())
    route = config["route"]
    route["group_wait"], route["group_interval"] = GROUP_WAIT, GROUP_INTERVAL
    _retime(route)
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = webhook_url
            webhook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    config["templates"] = [str(ALERTMANAGER_DIR / t) for t in config.get("templates", [])]
    return yaml.safe_dump(config, sort_keys=False)

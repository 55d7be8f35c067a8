"""Thresholds read from the shipped Prometheus rules, so panels and alerts cannot drift apart.

A panel threshold is looked up as "the constant that alert ALERT compares SERIES with", e.g.
`alert_threshold("LLMLatencyP95High", "model:llm_request_duration_seconds:p95_rate5m")` finds
`model:llm_request_duration_seconds:p95_rate5m > 30` in that alert's expression and returns 30.
A rule that is renamed, removed or rewritten makes the generator fail instead of going stale.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "prometheus" / "rules"

_NUMBER = r"([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"
_COMPARISON = r"\s*(?:>=|<=|>|<|==)\s*"


class RuleLookupError(LookupError):
    pass


@functools.cache
def _rules() -> tuple[dict[str, Any], ...]:
    rules: list[dict[str, Any]] = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        document = yaml.safe_load(path.read_text()) or {}
        for group in document.get("groups", []):
            rules.extend(group.get("rules", []))
    return tuple(rules)


def recorded_names() -> set[str]:
    """Every series name a shipped recording rule produces."""
    return {rule["record"] for rule in _rules() if "record" in rule}


def recording_expr(record: str) -> str:
    for rule in _rules():
        if rule.get("record") == record:
            return str(rule["expr"])
    raise RuleLookupError(f"no recording rule {record!r} in {RULES_DIR}")


def alert_expr(alert: str) -> str:
    for rule in _rules():
        if rule.get("alert") == alert:
            return str(rule["expr"])
    raise RuleLookupError(f"no alerting rule {alert!r} in {RULES_DIR}")


def alert_threshold(alert: str, series: str) -> float:
    """The constant `series` is compared with in `alert` (it must be one value)."""
    expr = alert_expr(alert)
    found = {float(m) for m in re.findall(re.escape(series) + r"(?![\w:])" + _COMPARISON + _NUMBER, expr)}
    if len(found) != 1:
        raise RuleLookupError(f"alert {alert}: expected one threshold on {series}, found {sorted(found)}")
    return found.pop()


def slo_target() -> float:
    """The availability SLO (the `vector(X)` of llm:slo_availability_target)."""
    match = re.fullmatch(r"\s*vector\(\s*" + _NUMBER + r"\s*\)\s*", recording_expr("llm:slo_availability_target"))
    if match is None:
        raise RuleLookupError("llm:slo_availability_target is not a plain vector(<number>)")
    return float(match.group(1))

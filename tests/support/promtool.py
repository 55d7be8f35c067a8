"""promtool unit tests run on the shipped rules each test reads.

A promtool test's alerts and PromQL expressions read a handful of the shipped rules, but promtool
evaluates every loaded rule at every step: a three-day case evaluates some 190 rules 1,000 times
or more. Each test here is run with the rule files cut to the rules it reads, transitively (the
same groups in the same order, each keeping its interval), which makes the multi-day cases 3 to 7
times faster. Nothing else changes: a rule no expression reads, directly or through another rule,
cannot change what the test sees. `promtool test rules prometheus/tests/*.test.yml` (and
`make check`) still runs the committed files on every rule.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from prometheus import generator
from prometheus.generator.capability import identifiers
from prometheus.generator.model import Alert, Group, Record, RuleFile, render_rule_file

TIMEOUT_S = 300


def binary() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: run `make deps`")
    return path


def _alerts_read(tests: list[dict[str, Any]], exprs: list[str]) -> set[str]:
    """Alerts the tests check: those named in alert_rule_test, and those an expression over ALERTS
    names (every alert when it names none, as `group by (alertname) (ALERTS)` does)."""
    names = {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])}
    every = {alert.name for alert in generator.alerts()}
    for expr in exprs:
        found = identifiers(expr)
        if "ALERTS" in found or "ALERTS_FOR_STATE" in found:
            names |= (found & every) or every
    return names


def rules_read_by(alert_names: set[str], exprs: Iterable[str]) -> tuple[RuleFile, ...]:
    """The shipped rule files holding only the named alerts and the recording rules that they and
    `exprs` read, directly or through other recording rules."""
    recorded: dict[str, list[Record]] = {}
    for record in generator.records():
        recorded.setdefault(record.name, []).append(record)
    pending = [*exprs, *(alert.expr for alert in generator.alerts() if alert.name in alert_names)]
    needed: set[str] = set()
    while pending:
        for name in identifiers(pending.pop()) & recorded.keys() - needed:
            needed.add(name)
            pending += [record.expr for record in recorded[name]]

    def kept(rule: Record | Alert) -> bool:
        return rule.name in (needed if isinstance(rule, Record) else alert_names)

    return tuple(
        RuleFile(rule_file.name, rule_file.header, tuple(
            Group(group.name, rules, group.comment, group.interval)
            for group in rule_file.groups if (rules := tuple(r for r in group.rules if kept(r)))))
        for rule_file in generator.rule_files())


def write(document: dict[str, Any], directory: Path, name: str,
          edit: Callable[[str, str], str] = lambda _file, text: text) -> Path:
    """Write the promtool test `document` (header and tests) into `directory` as `name`, with
    rule files cut to what its tests read; `edit(file name, text)` may change a cut rule file."""
    tests = document["tests"]
    exprs = [case["expr"] for test in tests for case in test.get("promql_expr_test", [])]
    rule_files = rules_read_by(_alerts_read(tests, exprs), exprs)
    paths = []
    for rule_file in (f for f in rule_files if f.groups):
        path = directory / f"{Path(name).stem}.{rule_file.name}"
        path.write_text(edit(rule_file.name, render_rule_file(rule_file)))
        paths.append(path.name)
    groups = {group.name for rule_file in rule_files for group in rule_file.groups}
    cut = {**document, "rule_files": paths,
           "group_eval_order": [g for g in document.get("group_eval_order", []) if g in groups]}
    test_path = directory / name
    test_path.write_text(yaml.safe_dump(cut, sort_keys=False, width=10_000))
    return test_path


def run(document: dict[str, Any], directory: Path, name: str = "case.test.yml",
        edit: Callable[[str, str], str] = lambda _file, text: text) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` on `document` with the rules it reads (see `write`)."""
    path = write(document, directory, name, edit)
    return subprocess.run([binary(), "test", "rules", path.name], cwd=directory, capture_output=True, text=True,
                          timeout=TIMEOUT_S)

"""Rules as typed data, and their rendering to Prometheus rule files.

A `Record` or an `Alert` is what a rule file entry says, plus what the docs and tests need to
know about it (its comment, the contract families an alert is about, a one-line "fires when").
`render_rule_file` writes the committed YAML: comments included, expressions as literal blocks,
descriptions folded, so the generated files stay pleasant to read in a pull request.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from .config import FOR, GRAFANA_URL, RUNBOOK_BASE, Severity


@dataclass(frozen=True)
class Record:
    """A recording rule: `name` (level:metric:operations) is computed from `expr`. Several rules
    may record one name when their static `labels` differ (one rule per source of a signal)."""

    name: str
    expr: str
    comment: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    subject: str | None = None  # the series the rule is about, when the rest of `expr` only gates it

    def to_yaml(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"record": self.name, "expr": _expr(self.expr)}
        if self.labels:
            rule["labels"] = dict(self.labels)
        return rule


@dataclass(frozen=True)
class Alert:
    """An alerting rule and what the docs say about it.

    `reads` names the contract families the alert is about beyond those every source must expose
    (docs/metrics.md, column "Required"): fed with only those, the alert must be able to fire.
    `fires_when` is the one-line condition shown in the README and docs/alerts.md tables.
    `subject` is the series the alert watches: the sources that feed it are the sources that can
    raise the alert (docs/sources.md's capability matrix).
    """

    name: str
    expr: str
    severity: Severity
    summary: str
    description: str
    dashboard: str
    fires_when: str
    reads: tuple[str, ...] = ()
    family: str | None = None
    comment: str = ""
    subject: str | None = None  # the series compared with the threshold (the rest of `expr` gates it)

    @property
    def for_(self) -> str | None:
        """How long the condition must hold (prometheus/generator/config.py FOR; None fires at once)."""
        return FOR[self.name]

    @property
    def runbook_url(self) -> str:
        return RUNBOOK_BASE + self.name.lower()

    def to_yaml(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": _expr(self.expr)}
        if self.for_:
            rule["for"] = self.for_
        labels = {"severity": self.severity}
        if self.family:
            labels["alert_family"] = self.family
        rule["labels"] = labels
        rule["annotations"] = {
            "summary": self.summary,
            "description": _Folded(" ".join(self.description.split())),
            "runbook_url": self.runbook_url,
            "dashboard_url": f"{GRAFANA_URL}/d/{self.dashboard}",
        }
        return rule


Rule = Record | Alert


@dataclass(frozen=True)
class Group:
    """A rule group. Rules of one group are evaluated in order, so a rule may use the series an
    earlier rule of the same group recorded in the same evaluation."""

    name: str
    rules: tuple[Rule, ...]
    comment: str = ""
    interval: str | None = None


@dataclass(frozen=True)
class RuleFile:
    name: str  # file name under prometheus/rules/
    header: str
    groups: tuple[Group, ...] = field(default_factory=tuple)

    def rules(self) -> Iterator[Rule]:
        for group in self.groups:
            yield from group.rules


# -- YAML --------------------------------------------------------------------------------------


class _Literal(str):
    """Rendered as a `|` block (multi-line PromQL)."""


class _Folded(str):
    """Rendered as a `>-` block (long annotation text), wrapped between template actions."""


class _Dumper(yaml.SafeDumper):
    pass


_FOLDED_MARK = "<<folded>>"
_Dumper.add_representer(_Literal, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", str(s), style="|"))
_Dumper.add_representer(_Folded, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", _FOLDED_MARK))


def _expr(expr: str) -> str:
    text = textwrap.dedent(expr).strip()
    return _Literal(text + "\n") if "\n" in text else text


def _words(text: str) -> list[str]:
    """Words of `text`, a `{{ ... }}` template action counting as one word (never split)."""
    words: list[str] = []
    depth = 0
    for word in text.split():
        if depth:
            words[-1] += " " + word
        else:
            words.append(word)
        depth += word.count("{{") - word.count("}}")
    return words


def _folded_lines(text: str, indent: str, width: int = 96) -> list[str]:
    lines, line = [], ""
    for word in _words(text):
        if line and len(indent) + len(line) + 1 + len(word) > width:
            lines.append(indent + line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, indent + line]


def _comment(text: str, indent: str) -> list[str]:
    """Comment lines: paragraphs re-wrapped, indented paragraphs (tables) kept as they are."""
    out = []
    paragraphs = textwrap.dedent(text).strip().split("\n\n")
    for index, paragraph in enumerate(paragraphs):
        if paragraph.startswith(" "):
            out += [f"{indent}# {line}".rstrip() for line in paragraph.split("\n")]
        else:
            out += [f"{indent}# {line}" for line in textwrap.wrap(" ".join(paragraph.split()), 96 - len(indent))]
        if index < len(paragraphs) - 1:
            out.append(f"{indent}#")
    return out


def _block(data: dict[str, Any], indent: str) -> list[str]:
    folded = [value for value in data.get("annotations", {}).values() if isinstance(value, _Folded)]
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=1_000_000, allow_unicode=True)
    lines: list[str] = []
    for line in text.rstrip("\n").split("\n"):
        if line.endswith(": " + _FOLDED_MARK):
            key = line[: -len(_FOLDED_MARK)]
            lines.append(key + ">-")
            lines += _folded_lines(folded.pop(0), " " * (len(key) - len(key.lstrip()) + 2))
        else:
            lines.append(line)
    return [f"{indent}- {lines[0]}"] + [f"{indent}  {line}" for line in lines[1:]]


def render_rule_file(rule_file: RuleFile) -> str:
    lines = [*_comment(rule_file.header, ""), "groups:"]
    for group in rule_file.groups:
        if group.comment:
            lines += _comment(group.comment, "  ")
        lines.append(f"  - name: {group.name}")
        if group.interval:
            lines.append(f"    interval: {group.interval}")
        lines.append("    rules:")
        for rule in group.rules:
            if rule.comment:
                lines += _comment(rule.comment, "      ")
            lines += _block(rule.to_yaml(), "      ")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"

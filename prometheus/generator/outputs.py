"""Everything `make rules` writes, as (path, text) pairs, so that writing and checking share one list.

Whole files: prometheus/rules/*.yml. Regions of hand-written files, between BEGIN/END GENERATED
markers: the shared header of each promtool test file (rule files, evaluation interval, group
order), the alert tables of README.md and docs/alerts.md, the objectives table of docs/alerts.md,
the metric table of docs/metrics.md and the source capability tables of docs/sources.md.
Everything outside the markers stays hand-written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from grafana.generator import uids
from llm_exporter import contract

from . import alerts, capability, config, groups, rule_files
from .model import Record, render_rule_file

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "prometheus" / "rules"
TESTS_DIR = REPO / "prometheus" / "tests"
EVALUATION_INTERVAL = "1m"
# Test files that replay days of data evaluate less often, so that promtool stays fast.
LONG_EVALUATION_INTERVALS = {"budget-long.test.yml": "30m", "slo.test.yml": "4m", "tokens.test.yml": "2m"}


class GeneratedRegionError(ValueError):
    pass


@dataclass(frozen=True)
class Output:
    path: Path
    text: str

    @property
    def relative(self) -> str:
        return str(self.path.relative_to(REPO))

    def is_current(self) -> bool:
        return self.path.exists() and self.path.read_text() == self.text


def replace_region(text: str, name: str, content: str, comment: str, where: str) -> str:
    """`text` with the lines between the BEGIN/END GENERATED `name` markers replaced by `content`.
    `comment` is how the file's comments start ("#" or "<!--")."""
    close = " -->" if comment == "<!--" else ""
    begin = f"{comment} BEGIN GENERATED {name} (`make rules`; do not edit){close}"
    end = f"{comment} END GENERATED {name}{close}"
    pattern = re.compile(rf"^{re.escape(begin)}\n.*?^{re.escape(end)}$", re.M | re.S)
    if len(pattern.findall(text)) != 1:
        raise GeneratedRegionError(f"{where}: expected one region between {begin!r} and {end!r}")
    return pattern.sub(lambda _: f"{begin}\n{content.rstrip()}\n{end}", text)


# -- promtool test headers ---------------------------------------------------------------------


def test_header(test_file: str) -> str:
    """Rule files, evaluation interval and group order of one promtool test file."""
    header = {
        "rule_files": [f"../rules/{f.name}" for f in rule_files()],
        "evaluation_interval": LONG_EVALUATION_INTERVALS.get(test_file, EVALUATION_INTERVAL),
        "group_eval_order": [group.name for group in groups()],
    }
    return yaml.safe_dump(header, sort_keys=False)


def _test_files() -> list[Output]:
    return [Output(path, replace_region(path.read_text(), "header", test_header(path.name), "#", path.name))
            for path in sorted(TESTS_DIR.glob("*.test.yml"))]


# -- docs tables -------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def alerts_table(receiver_column: bool) -> str:
    head = ["Alert", "Severity", *(["Receiver"] if receiver_column else []), "Fires when", "`for`", "Dashboard"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for alert in sorted(alerts(), key=lambda a: (a.severity != "critical", _position(a.name))):
        cells = [f"`{alert.name}`", alert.severity]
        if receiver_column:
            cells.append(config.RECEIVERS[alert.severity])
        cells += [_cell(alert.fires_when), alert.for_ or "–", uids.TITLES[alert.dashboard]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _position(name: str) -> int:
    return [a.name for a in alerts()].index(name)


def objectives_table() -> str:
    lines = ["| Objective | Key in objectives.yaml | Series | Built-in default |", "|---|---|---|---|"]
    for objective in config.OBJECTIVES:
        lines.append(f"| {objective.title} | `{objective.key}` | `{objective.metric}` | {objective.default:g} |")
    return "\n".join(lines)


def _families(names: list[str]) -> list[str]:
    """Names that differ only by their window, written once: `a:b:rate{5m,1h}`."""
    out: dict[str, list[str]] = {}
    for name in names:
        match = re.fullmatch(r"(.*:(?:rate|increase))(\d+[smhd])", name)
        key, window = (match.group(1), match.group(2)) if match else (name, "")
        out.setdefault(key, []).append(window)
    return [key + ("{" + ",".join(windows) + "}" if len(windows) > 1 else windows[0]) for key, windows in out.items()]


def recording_table() -> str:
    lines = ["| Group | Series | What |", "|---|---|---|"]
    for group in groups():
        records = [rule.name for rule in group.rules if isinstance(rule, Record)]
        if records:
            what = " ".join(group.comment.split()).split(". ")[0].rstrip(".")
            lines.append(f"| `{group.name}` | {', '.join(f'`{n}`' for n in _families(records))} | {_cell(what)} |")
    return "\n".join(lines)


def metrics_table() -> str:
    head = ["Name", "Type", "Unit", "Labels", "Required", "Meaning", "Example query"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for spec in contract.ALL_METRICS:
        labels = ", ".join(spec.labels) or "(none)"
        cells = [f"`{spec.exposed_name}`", spec.kind, spec.unit, labels, "yes" if spec.required else "",
                 _cell(spec.doc), f"`{_cell(spec.example)}`"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _doc(relative: str, regions: dict[str, str]) -> Output:
    path = REPO / relative
    text = path.read_text()
    for name, content in regions.items():
        text = replace_region(text, name, content, "<!--", relative)
    return Output(path, text)


def outputs() -> list[Output]:
    out = [Output(RULES_DIR / f.name, render_rule_file(f)) for f in rule_files()]
    out += _test_files()
    out.append(_doc("README.md", {"alerts": alerts_table(receiver_column=False)}))
    out.append(_doc("docs/alerts.md", {"alerts": alerts_table(receiver_column=True),
                                       "objectives": objectives_table(), "recording": recording_table()}))
    out.append(_doc("docs/metrics.md", {"metrics": metrics_table()}))
    out.append(_doc("docs/sources.md", {"alerts by source": capability.alerts_matrix(),
                                        "panels by source": capability.panels_matrix()}))
    return out

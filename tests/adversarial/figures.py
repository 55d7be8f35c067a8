"""The numbers the adversarial suite measures, for docs/reliability.md.

Every run writes them to build/reliability-figures.json. `make adversarial` runs the suite at full
scale (ADVERSARIAL_SCALE=full) with RELIABILITY_DOC=1, which also rewrites the generated table in
docs/reliability.md (between its `figures:start` and `figures:end` markers) from this run.
"""

from __future__ import annotations

import json
import os
import platform
import re
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "reliability.md"
OUTPUT = REPO / "build" / "reliability-figures.json"
SCALE = os.environ.get("ADVERSARIAL_SCALE", "ci")
if SCALE not in ("ci", "full"):
    raise ValueError(f"ADVERSARIAL_SCALE must be ci or full, not {SCALE!r}")
_MARKERS = re.compile(r"(<!-- figures:start -->\n).*?(<!-- figures:end -->)", re.DOTALL)


def scaled(ci: int, full: int) -> int:
    """How many of something to try: `ci` in `make test`, `full` in `make adversarial`."""
    return full if SCALE == "full" else ci


@dataclass
class Figure:
    key: str
    value: float
    unit: str
    what: str


class Figures:
    """Figures keyed by name; `add` accumulates (cases tried), `record` sets (a measurement)."""

    def __init__(self) -> None:
        self.items: dict[str, Figure] = {}

    def record(self, key: str, value: float, unit: str, what: str) -> None:
        self.items[key] = Figure(key, round(value, 3), unit, what)

    def add(self, key: str, value: float, unit: str, what: str) -> None:
        previous = self.items.get(key)
        self.record(key, value + (previous.value if previous else 0), unit, what)

    def write(self, path: Path = OUTPUT) -> None:
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({"scale": SCALE, "figures": [asdict(f) for f in self.items.values()]},
                                   indent=2) + "\n")

    def table(self) -> str:
        lines = [f"Scale `{SCALE}`, measured on {platform.machine()} with {os.cpu_count()} CPUs "
                 f"(Python {platform.python_version()}).", "",
                 "| Figure | Value | What |", "|---|---|---|"]
        for figure in sorted(self.items.values(), key=lambda f: f.key):
            value = f"{figure.value:,.0f}" if figure.value >= 100 else f"{figure.value:g}"
            lines.append(f"| `{figure.key}` | {value} {figure.unit} | {figure.what} |")
        return "\n".join(lines) + "\n"

    def rewrite_doc(self, doc: Path = DOC) -> None:
        text = doc.read_text()
        if not _MARKERS.search(text):
            raise ValueError(f"{doc} has no figures:start / figures:end markers")
        doc.write_text(_MARKERS.sub(lambda m: m.group(1) + self.table() + m.group(2), text))

"""PromQL read by Prometheus' own grammar, for checks on every shipped rule and panel query.

`analyse(exprs)` parses expressions with @prometheus-io/lezer-promql (the grammar of the
Prometheus UI, run with node by grafana/querylang/parse.mjs) and returns, per expression, its
syntax errors, every series selector (name, label matchers, range, the function it is passed to, @ modifier),
the functions it calls, its by/on/ignoring/without label lists, what each side of a division is,
and every series compared with a number. Results are cached: the whole
suite starts node only a few times.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QUERYLANG = REPO / "grafana" / "querylang"
INSTALL = REPO / "scripts" / "install-node-deps.sh"
RATE_FUNCTIONS = ("rate", "increase", "irate")


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[Matcher, ...]
    range: str | None  # the [duration] of a range selector
    call: str | None  # the function this selector is the direct argument of
    at: str | None = None  # its @ modifier: a Unix timestamp, start() or end()

    @property
    def rated(self) -> bool:
        """Passed straight to rate(), increase() or irate() over a range."""
        return self.range is not None and self.call in RATE_FUNCTIONS

    @property
    def never_read(self) -> bool:
        """Pinned at the Unix epoch (`@ 0`): it returns no series; named only so that Prometheus'
        exemplar API answers for it (the heatmaps' exemplar term)."""
        return self.at is not None and self.at not in ("start()", "end()") and float(self.at) == 0

    def matchers_of(self, label: str) -> list[Matcher]:
        return [m for m in self.matchers if m.label == label]


@dataclass(frozen=True)
class Comparison:
    """`series op value`: a selector compared with a number (what an alert's threshold is)."""

    series: str
    op: str
    value: float


@dataclass(frozen=True)
class Analysis:
    expr: str
    errors: tuple[str, ...]
    selectors: tuple[Selector, ...]
    functions: tuple[str, ...]
    groupings: tuple[tuple[str, ...], ...]
    divisions: tuple[tuple[str, str], ...]  # (left, right) of every `/`: a function name or a node name
    comparisons: tuple[Comparison, ...]

    def threshold(self, series: str) -> float:
        """The one number `series` is compared with (raises when there is none or several)."""
        values = {c.value for c in self.comparisons if c.series == series}
        if len(values) != 1:
            raise LookupError(f"expected one threshold on {series} in {self.expr!r}, found {sorted(values)}")
        return values.pop()

    @property
    def names(self) -> set[str]:
        """Every series name the expression selects."""
        return {selector.name for selector in self.selectors}


_CACHE: dict[str, Analysis] = {}


def _node(exprs: list[str]) -> list[dict]:
    if not (QUERYLANG / "node_modules" / "@prometheus-io").exists():
        subprocess.run(["bash", str(INSTALL)], check=True, capture_output=True, timeout=300)
    queries = [{"id": str(i), "language": "promql", "query": expr} for i, expr in enumerate(exprs)]
    done = subprocess.run(["node", "parse.mjs"], cwd=QUERYLANG, input=json.dumps(queries), text=True,
                          capture_output=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"parse.mjs failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def analyse(exprs: Iterable[str]) -> dict[str, Analysis]:
    """expression -> its analysis, parsing only what is not cached yet (one node run)."""
    wanted = list(dict.fromkeys(exprs))
    missing = [expr for expr in wanted if expr not in _CACHE]
    if missing:
        for expr, result in zip(missing, _node(missing), strict=True):
            selectors = tuple(
                Selector(s["name"], tuple(Matcher(**m) for m in s["matchers"]), s["range"], s["call"], s["at"])
                for s in result["selectors"])
            _CACHE[expr] = Analysis(expr, tuple(e["near"] for e in result["errors"]), selectors,
                                    tuple(result["functions"]), tuple(tuple(g) for g in result["groupings"]),
                                    tuple(tuple(d) for d in result["divisions"]),
                                    tuple(Comparison(**c) for c in result["comparisons"]))
    return {expr: _CACHE[expr] for expr in wanted}


def analysis(expr: str) -> Analysis:
    return analyse([expr])[expr]

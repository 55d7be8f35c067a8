"""Which sources can feed which query: the capability matrix of docs/sources.md.

A query is fed by a source when it reads, directly or through recording rules, a series that
source's adapter maps. The names are the generator's own (recorded names, the contract's and the
adapters' series), looked up as whole identifiers in the expressions the generators wrote; the
live tests (tests/test_sources_live.py) prove the matrix against a real Prometheus scraping each
source's exposition.
"""

from __future__ import annotations

import functools
import re

from llm_exporter import contract

from . import groups
from .adapters import ADAPTERS, CONTRACT, GPU_ADAPTERS
from .model import Alert, Record

_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
# The stack's own configuration, exposed by its exporter whatever the sources are (budgets, prices,
# objectives): available to every source, fed by none.
CONFIGURATION = (contract.BUDGET, contract.PRICE, contract.SELF_HOSTED_PRICE, *contract.OBJECTIVE_METRICS,
                 contract.EXPORTER_INFO)


_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}


def identifiers(expr: str) -> set[str]:
    """Every identifier in an expression we generated (names, functions, labels alike; no keyword)."""
    return set(_IDENTIFIER.findall(expr)) - _KEYWORDS


@functools.cache
def _raw_sources() -> dict[str, frozenset[str]]:
    """Raw series name -> the sources whose adapters read it."""
    out: dict[str, set[str]] = {}
    for adapter in ADAPTERS:
        for field in ("requests", "errors", "duration", "ttft", "tpot", "input_tokens", "output_tokens", "cost",
                      "running", "waiting", "kv_cache"):
            series = getattr(adapter, field)
            for name in series.names if series else ():
                for suffix in ("", "_bucket", "_sum", "_count"):
                    out.setdefault(f"{name}{series.suffix}{suffix}", set()).add(adapter.name)
    for gpu in GPU_ADAPTERS:
        for expr in gpu.signals().values():
            for name in identifiers(expr):
                out.setdefault(name, set()).add(gpu.name)
    for spec in contract.ALL_METRICS:  # the contract's own series, read raw (quality, exemplars, GPUs up)
        if spec in CONFIGURATION:
            continue
        for name in (spec.exposed_name, f"{spec.name}_bucket", f"{spec.name}_sum", f"{spec.name}_count"):
            out.setdefault(name, set()).add(CONTRACT)
    return {name: frozenset(sources) for name, sources in out.items()}


@functools.cache
def _recorded() -> dict[str, tuple[Record, ...]]:
    out: dict[str, list[Record]] = {}
    for group in groups():
        for rule in group.rules:
            if isinstance(rule, Record):
                out.setdefault(rule.name, []).append(rule)
    return {name: tuple(records) for name, records in out.items()}


@functools.cache
def _recorded_sources(name: str) -> frozenset[str] | None:
    """Sources of a recorded series: the `source` its rules set, else those of what they read;
    None when every rule of that name reads only configuration."""
    found: set[str] = set()
    known = False
    for record in _recorded()[name]:
        labels = dict(record.labels)
        sources = frozenset({labels["source"]}) if "source" in labels else _sources(record.subject or record.expr)
        if sources is not None:
            found |= sources
            known = True
    return frozenset(found) if known else None


def alert_sources(alert: Alert) -> frozenset[str]:
    """The sources that can raise `alert`: those feeding the series it watches."""
    return sources_of(alert.subject or alert.expr)


def sources_of(expr: str) -> frozenset[str]:
    """The sources that can feed `expr`: the union over `or`, the intersection over every other
    binary operator (`a / b` needs both sides; `a and b` keeps a's series where b has some)."""
    return _sources(expr) or frozenset()


# Binary operators, loosest first (PromQL's precedence).
_LEVELS = (("or",), ("and", "unless"), ("==", "!=", ">=", "<=", ">", "<"), ("+", "-"), ("*", "/", "%", "atan2"),
           ("^",))
_OPENING, _CLOSING = "({[", ")}]"
_MODIFIERS = {"by", "without", "on", "ignoring", "group_left", "group_right"}


def _top_level(expr: str) -> list[tuple[int, str]]:
    """(position, token) of every character or word outside brackets and strings."""
    out, depth, i = [], 0, 0
    while i < len(expr):
        ch = expr[i]
        if ch in "\"'":
            end = i + 1
            while expr[end] != ch:
                end += 2 if expr[end] == "\\" else 1
            i = end + 1
            continue
        if ch in _OPENING:
            if depth == 0:
                out.append((i, ch))
            depth += 1
        elif ch in _CLOSING:
            depth -= 1
        elif depth == 0:
            word = _IDENTIFIER.match(expr, i)
            token = word.group() if word else expr[i:i + 2] if expr[i:i + 2] in _LEVELS[2] else ch
            out.append((i, token))
            i += len(token)
            continue
        i += 1
    return out


def _split(expr: str) -> list[tuple[str, str]] | None:
    """`expr` cut at its loosest top-level binary operator: [("", first), (op, next), ...]."""
    tokens = _top_level(expr)
    for level in _LEVELS:
        cuts = [(i, t) for i, t in tokens if t in level and (t not in "+-" or expr[:i].strip())]
        if cuts:
            parts, start, op = [], 0, ""
            for i, token in cuts:
                parts.append((op, expr[start:i]))
                start, op = i + len(token), token
            return [*parts, (op, expr[start:])]
    return None


def _arguments(expr: str) -> list[str]:
    """The expressions inside a call or aggregation (`f(a, b)`, `sum by (x) (a)`, `(a)`), not its
    grouping labels."""
    tokens = _top_level(expr)
    out = []
    for n, (i, token) in enumerate(tokens):
        if token == "(" and not (n and tokens[n - 1][1] in _MODIFIERS):
            inner, depth = i + 1, 0
            for j in range(i, len(expr)):
                depth += (expr[j] in _OPENING) - (expr[j] in _CLOSING)
                if depth == 0:
                    break
            out += [part for _, part in _split_commas(expr[inner:j])]
    return out


def _split_commas(expr: str) -> list[tuple[int, str]]:
    cuts = [i for i, token in _top_level(expr) if token == ","]
    starts = [0, *(i + 1 for i in cuts)]
    ends = [*cuts, len(expr)]
    return [(start, expr[start:end]) for start, end in zip(starts, ends, strict=True)]


def _sources(expr: str) -> frozenset[str] | None:
    """Sources of `expr`; None for an expression that reads no source (a number, a string, vector(0),
    a series no source feeds), which leaves the other side of an operator as it is."""
    parts = _split(expr)
    if parts:
        found = _sources(parts[0][1])
        for op, part in parts[1:]:
            other = _sources(part)
            if op == "unless" or other is None:
                continue
            found = other if found is None else found | other if op == "or" else found & other
        return found
    arguments = _arguments(expr)
    if arguments:
        found = [s for s in map(_sources, arguments) if s is not None]
        return frozenset().union(*found) if found else None
    return _leaf(expr)


def _leaf(selector: str) -> frozenset[str] | None:
    found = [_recorded_sources(name) if name in _recorded() else _raw_sources().get(name)
             for name in identifiers(selector)]
    known = [sources for sources in found if sources is not None]
    return frozenset().union(*known) if known else None


# -- the matrix of docs/sources.md -------------------------------------------------------------


def columns() -> tuple[str, ...]:
    """Every source, in the order of the docs: the contract, then the adapters, then GPU sources."""
    names = [a.name for a in ADAPTERS] + [g.name for g in GPU_ADAPTERS]
    return tuple(dict.fromkeys(names))


def _row(label: str, fed: frozenset[str] | None) -> str:
    cells = ["any" if fed is None else "✓" if name in fed else "" for name in columns()]
    return f"| {label} | " + " | ".join(cells) + " |"


def alerts_matrix() -> str:
    """Alerts × sources: ✓ where the source's series alone can raise the alert."""
    head = "| Alert | " + " | ".join(f"`{name}`" for name in columns()) + " |"
    lines = [head, "|" + "---|" * (len(columns()) + 1)]
    for group in groups():
        for rule in group.rules:
            if isinstance(rule, Alert):
                fed = _sources(rule.subject or rule.expr)
                lines.append(_row(f"`{rule.name}`", fed))
    return "\n".join(lines)


def panels_matrix() -> str:
    """Dashboard panels × sources: ✓ where every query of the panel that reads a source has data from
    that source alone, "part" where some of them have; queries of the stack's own configuration
    (an objective's line, a budget) show whatever the sources. "any": the panel reads no source."""
    from grafana import generator as dashboards  # the dashboards import this package's recording rules
    from grafana.generator.builder import PromQuery

    head = "| Dashboard / panel | " + " | ".join(f"`{name}`" for name in columns()) + " |"
    lines = [head, "|" + "---|" * (len(columns()) + 1)]
    for dashboard in dashboards.dashboards():
        panels: dict[str, list[frozenset[str] | None]] = {}
        for panel, query in dashboard.queries():
            if isinstance(query, PromQuery):
                panels.setdefault(panel.title, []).append(_sources(query.expr))
        for title, queries in panels.items():
            label = f"{dashboard.title} / {title}".replace("|", "\\|")
            fed = [f for f in queries if f is not None]
            if not fed:
                lines.append(_row(label, None))
                continue
            cells = []
            for name in columns():
                count = sum(1 for f in fed if name in f)
                cells.append("✓" if count == len(fed) else "part" if count else "")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

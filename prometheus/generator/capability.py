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
from .model import Record

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
def _recorded_sources(name: str) -> frozenset[str]:
    found: set[str] = set()
    for record in _recorded()[name]:
        labels = dict(record.labels)
        found |= {labels["source"]} if "source" in labels else sources_of(record.expr)
    return frozenset(found)


def sources_of(expr: str) -> frozenset[str]:
    """The sources that can feed `expr`."""
    found: set[str] = set()
    for name in identifiers(expr):
        if name in _recorded():
            found |= _recorded_sources(name)
        elif name in _raw_sources():
            found |= _raw_sources()[name]
    return frozenset(found)

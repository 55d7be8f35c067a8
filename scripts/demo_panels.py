"""Where the dashboards show what the demo makes happen, from the generators themselves: the rules
(prometheus/generator/) and the dashboards (grafana/generator/) are Python, so the demo asks them
which series an alert watches and which panels read those series, rather than parsing the queries
Prometheus and Grafana were loaded with.
"""

from __future__ import annotations

import functools

from grafana import generator as dashboards
from grafana.generator import uids
from grafana.generator.builder import Dashboard, PromQuery
from llm_exporter import contract
from prometheus import generator
from prometheus.generator import capability
from prometheus.generator.adapters import ADAPTERS, ENGINE
from prometheus.generator.model import Alert

# The panel that keeps every layer apart (the others count each model's calls once).
LAYERS_PANEL = (uids.OVERVIEW, "Calls by source and layer")


@functools.cache
def _recorded() -> dict[str, tuple[str, ...]]:
    """Recorded name -> the expressions recording it (one rule per source may record a name)."""
    out: dict[str, list[str]] = {}
    for record in generator.records():
        out.setdefault(record.name, []).append(record.expr)
    return {name: tuple(exprs) for name, exprs in out.items()}


@functools.cache
def _raw() -> frozenset[str]:
    """The contract's series names as stored (counters with _total; histograms' three series)."""
    names = set()
    for spec in contract.ALL_METRICS:
        names |= {spec.exposed_name, f"{spec.name}_bucket", f"{spec.name}_sum", f"{spec.name}_count"}
    return frozenset(names)


def series_in(expr: str) -> set[str]:
    """The recorded and contract series an expression names (functions and labels left out)."""
    return {name for name in capability.identifiers(expr) if name in _recorded() or name in _raw()}


@functools.cache
def upstream(name: str) -> frozenset[str]:
    """`name` and every series the recording rules compute it from."""
    found = {name}
    for expr in _recorded().get(name, ()):
        for read in series_in(expr):
            found |= upstream(read)
    return frozenset(found)


def reads(expr: str) -> frozenset[str]:
    return frozenset().union(*(upstream(name) for name in series_in(expr)))


@functools.cache
def by_uid() -> dict[str, Dashboard]:
    return {dashboard.uid: dashboard for dashboard in dashboards.dashboards()}


def _inputs(name: str) -> set[str]:
    return set().union(*(series_in(expr) for expr in _recorded().get(name, ())))


def _computations(watched: frozenset[str], depth: int = 3) -> list[set[frozenset[str]]]:
    """The ways of computing `watched`, one recorded series expanded into its inputs per level: a
    panel may plot a recorded ratio, or divide the two series it is recorded from."""
    levels = [{watched}]
    for _ in range(depth):
        levels.append({(ways - {name}) | _inputs(name) for ways in levels[-1] for name in ways if _inputs(name)})
    return levels


def panels_showing(alert: Alert) -> list[str]:
    """Titles of the panels of the alert's dashboard that plot what it watches: the series it
    compares (its subject; without one, the series its expression names) or what that series is
    computed from, the closest computation first; else any panel reading something upstream of it."""
    watched = frozenset({alert.subject} if alert.subject else series_in(alert.expr))
    queries = [(panel.title, series_in(query.expr)) for panel, query in by_uid()[alert.dashboard].queries()
               if isinstance(query, PromQuery)]
    for level in _computations(watched):
        titles = [title for title, names in queries if any(ways <= names for ways in level)]
        if titles:
            return list(dict.fromkeys(titles))
    upstream_of_alert = reads(" ".join(watched))
    return list(dict.fromkeys(title for title, names in queries
                              if upstream_of_alert & frozenset().union(*map(upstream, names))))


def all_selected(dashboard: Dashboard, expr: str) -> str:
    """A panel's query with every variable at "All", as Grafana sends it by default."""
    for variable in sorted(dashboard.variables, key=lambda v: -len(v.name)):
        expr = expr.replace(f"${variable.name}", ".*")
    return expr


def layers_query() -> tuple[Dashboard, str]:
    """The layers panel's dashboard and its query (every variable at All)."""
    dashboard = by_uid()[LAYERS_PANEL[0]]
    for panel, query in dashboard.queries():
        if panel.title == LAYERS_PANEL[1] and isinstance(query, PromQuery):
            return dashboard, all_selected(dashboard, query.expr)
    raise LookupError(f"no panel {LAYERS_PANEL[1]!r} on {LAYERS_PANEL[0]}")


def engine_panels() -> list[tuple[Dashboard, str, str]]:
    """(dashboard, panel title, query) of every panel only model servers (vLLM, SGLang, TGI, NIM)
    can fill, per the capability matrix: with the vLLM job, these show vLLM's own numbers."""
    engines = frozenset(adapter.name for adapter in ADAPTERS if adapter.layer == ENGINE)
    out = []
    for dashboard in dashboards.dashboards():
        for panel, query in dashboard.queries():
            if isinstance(query, PromQuery):
                fed = capability.sources_of(query.expr)
                if fed and fed <= engines:
                    out.append((dashboard, panel.title, all_selected(dashboard, query.expr)))
    return out

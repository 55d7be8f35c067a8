"""Reading the generated dashboards back for tests: their queries, variables and metric names."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llm_exporter import contract
from prometheus import generator
from tests.support import promql

REPO = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO / "grafana" / "dashboards"
DATASOURCES_FILE = REPO / "grafana" / "provisioning" / "datasources" / "datasources.yaml"

# Grafana's own variables that may appear in a query, and what the tests put in their place.
BUILTIN_VALUES = {
    "__rate_interval": "10s",
    "__interval": "2s",
    "__auto": "1m",
    "__range": "5m",
}
ALL_VALUE = ".*"

_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def load_dashboards() -> dict[str, dict[str, Any]]:
    """uid -> the committed dashboard JSON."""
    out = {}
    for path in sorted(DASHBOARD_DIR.glob("*.json")):
        dashboard = json.loads(path.read_text())
        out[dashboard["uid"]] = dashboard
    return out


@dataclass(frozen=True)
class Target:
    dashboard: str
    panel: str
    panel_type: str
    ref_id: str
    datasource: str  # uid
    query: str
    target: dict[str, Any]
    panel_json: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.dashboard} / {self.panel!r} / {self.ref_id}"


def targets(dashboards: dict[str, dict[str, Any]] | None = None) -> Iterator[Target]:
    for uid, dashboard in (dashboards or load_dashboards()).items():
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                datasource = (target.get("datasource") or panel.get("datasource") or {}).get("uid", "")
                query = target.get("expr") if "expr" in target else target.get("query", "")
                yield Target(uid, panel["title"], panel["type"], target["refId"], datasource, query, target, panel)


def variable_names(dashboard: dict[str, Any]) -> set[str]:
    return {v["name"] for v in dashboard.get("templating", {}).get("list", [])}


def used_variables(text: str) -> set[str]:
    return {a or b for a, b in _VARIABLE.findall(text)}


def expand(text: str, dashboard: dict[str, Any]) -> str:
    """Interpolate as Grafana would with every variable at All (allValue) and builtins at test values."""
    own = variable_names(dashboard)

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in own:
            return ALL_VALUE
        if name in BUILTIN_VALUES:
            return BUILTIN_VALUES[name]
        raise KeyError(f"{dashboard['uid']}: unknown variable ${name} in {text!r}")

    return _VARIABLE.sub(value, text)


# -- metric names in PromQL ----------------------------------------------------------------


def parsable(expr: str) -> str:
    """Grafana's range variables replaced by test values, so that the PromQL grammar accepts it."""
    return _VARIABLE.sub(lambda m: BUILTIN_VALUES.get(m.group(1) or m.group(2), m.group(0)), expr)


def metric_names(expr: str) -> set[str]:
    """Every series name a PromQL expression selects (parsed by Prometheus' own grammar)."""
    return promql.analysis(parsable(expr)).names


def selectors(expr: str) -> Iterator[tuple[str, set[str]]]:
    """(metric name, label names in its matchers) for every selector."""
    for selector in promql.analysis(parsable(expr)).selectors:
        yield selector.name, {matcher.label for matcher in selector.matchers}


def contract_series() -> dict[str, contract.MetricSpec]:
    """Every series name the exporter exposes -> its family."""
    out = {}
    for spec in contract.ALL_METRICS:
        if spec.kind == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                out[spec.name + suffix] = spec
        else:
            out[spec.exposed_name] = spec
    return out


def recording_rules() -> dict[str, str]:
    """record name -> expression, from the rules generator (the drift test proves it is what ships);
    a name several rules record (one per source) maps to their expressions joined by `or`."""
    out: dict[str, str] = {}
    for record in generator.records():
        out[record.name] = f"{out[record.name]}\nor\n{record.expr}" if record.name in out else record.expr
    return out


def bucket_edges() -> dict[str, tuple[float, ...]]:
    """`<histogram>_bucket` -> its finite bucket edges: the contract's and every recorded source's."""
    from llm_exporter.sources import SOURCES, otel_genai

    edges = {f"{spec.name}_bucket": spec.buckets for spec in contract.ALL_METRICS if spec.kind == "histogram"}
    for source in (*SOURCES.values(), *otel_genai.OTLP_SOURCES.values()):
        for metric in source.metrics:
            if metric.kind == "histogram":
                edges.setdefault(f"{metric.name}_bucket", metric.buckets)
        for old in source.deprecated:
            if old.kind == "histogram" and old.replaced_by in {m.name for m in source.metrics}:
                edges.setdefault(f"{old.name}_bucket", source.metric(old.replaced_by).buckets)
    return edges


def underlying_metrics(expr: str, rules: dict[str, str] | None = None) -> set[str]:
    """Metric names an expression depends on, recording rules followed down to raw series."""
    rules = recording_rules() if rules is None else rules
    out: set[str] = set()
    pending = list(metric_names(expr))
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in rules:
            pending.extend(metric_names(rules[name]))
        else:
            out.add(name)
    return out


def uses_quantile(expr: str, rules: dict[str, str] | None = None) -> bool:
    rules = recording_rules() if rules is None else rules
    if "histogram_quantile" in expr:
        return True
    return any("histogram_quantile" in rules[name] for name in metric_names(expr) if name in rules)


def datasources() -> list[dict[str, Any]]:
    return yaml.safe_load(DATASOURCES_FILE.read_text())["datasources"]

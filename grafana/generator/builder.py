"""A small builder for Grafana dashboard JSON (classic model, schemaVersion 41).

Only what the stack's dashboards use: current panel types, fixed datasource uids, template
variables, dashboard links. Panels are Python objects until `Dashboard.to_json()`, so tests can
read each query (and the bounds its data must fall in) without parsing the JSON back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 41
FOLDER_TAG = "llm-observability"

# Fixed uids, provisioned in grafana/provisioning/datasources/datasources.yaml.
PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
LOKI = {"type": "loki", "uid": "loki"}
TEMPO = {"type": "tempo", "uid": "tempo"}
PROMETHEUS_NAME = "Prometheus"  # the alert list panel selects its rule source by datasource name

NO_DATA = "No data from the selected sources"  # what a panel a source cannot feed shows

PANEL_TYPES = ("timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "logs", "traces", "alertlist", "text")

# Columns a table of instant Prometheus results should not show.
HIDDEN_COLUMNS = {"Time": True, "__name__": True, "job": True, "instance": True}

Bounds = tuple[float, float]
RATIO: Bounds = (0.0, 1.0)
NON_NEGATIVE: Bounds = (0.0, math.inf)


# -- queries -------------------------------------------------------------------------------


@dataclass
class PromQuery:
    """A PromQL target. `bounds` is what the live test expects every value to lie in (not exported)."""

    expr: str
    legend: str = ""
    instant: bool = False
    format: str = "time_series"  # time_series | table | heatmap
    exemplar: bool = False
    bounds: Bounds | None = None
    interval: str = ""

    language = "promql"
    datasource = PROMETHEUS

    def to_json(self, ref_id: str) -> dict[str, Any]:
        target: dict[str, Any] = {
            "datasource": PROMETHEUS,
            "refId": ref_id,
            "expr": self.expr,
            "legendFormat": self.legend or "__auto",
            "range": not self.instant,
            "instant": self.instant,
            "format": self.format,
            "exemplar": self.exemplar,
            "editorMode": "code",
        }
        if self.interval:
            target["interval"] = self.interval
        return target


@dataclass
class LogQuery:
    """A LogQL target (logs panel: a range query returning log lines)."""

    expr: str
    max_lines: int = 500

    language = "logql"
    datasource = LOKI

    def to_json(self, ref_id: str) -> dict[str, Any]:
        return {
            "datasource": LOKI,
            "refId": ref_id,
            "expr": self.expr,
            "queryType": "range",
            "editorMode": "code",
            "maxLines": self.max_lines,
        }


@dataclass
class TraceQuery:
    """A TraceQL search (table of traces)."""

    query: str
    limit: int = 20
    spss: int = 3

    language = "traceql"
    datasource = TEMPO

    @property
    def expr(self) -> str:
        return self.query

    def to_json(self, ref_id: str) -> dict[str, Any]:
        return {
            "datasource": TEMPO,
            "refId": ref_id,
            "queryType": "traceql",
            "query": self.query,
            "limit": self.limit,
            "spss": self.spss,
            "tableType": "traces",
        }


Query = PromQuery | LogQuery | TraceQuery


# -- field config helpers ------------------------------------------------------------------


def thresholds(base: str, *steps: tuple[float, str]) -> dict[str, Any]:
    """Absolute thresholds: `base` colour below the first step, then each (value, colour)."""
    ordered = sorted(steps)
    return {
        "mode": "absolute",
        "steps": [{"color": base, "value": None}, *({"color": c, "value": v} for v, c in ordered)],
    }


def override(matcher: str, name: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "matcher": {"id": matcher, "options": name},
        "properties": [{"id": key, "value": value} for key, value in properties.items()],
    }


def link(title: str, url: str) -> dict[str, Any]:
    return {"title": title, "url": url, "targetBlank": False}


def dashboard_link(title: str, uid: str) -> dict[str, Any]:
    """A panel link to another dashboard that keeps the time range and the variables."""
    return link(title, f"/d/{uid}?${{__url_time_range}}&${{__all_variables}}")


# -- panels --------------------------------------------------------------------------------


@dataclass
class Panel:
    type: str
    title: str
    targets: list[Query] = field(default_factory=list)
    description: str = ""
    w: int = 12
    h: int = 8
    unit: str | None = None
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    thresholds: dict[str, Any] | None = None
    color: dict[str, Any] | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    mappings: list[dict[str, Any]] = field(default_factory=list)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    links: list[dict[str, Any]] = field(default_factory=list)
    transformations: list[dict[str, Any]] = field(default_factory=list)
    datasource: dict[str, Any] | None = None
    interval: str | None = None
    bounds: Bounds | None = None  # default bounds for this panel's PromQL targets (live test)

    def __post_init__(self) -> None:
        if self.type not in PANEL_TYPES:
            raise ValueError(f"panel type {self.type!r} is not one of {PANEL_TYPES}")

    def expected_bounds(self, query: PromQuery) -> Bounds:
        if query.bounds is not None:
            return query.bounds
        if self.bounds is not None:
            return self.bounds
        return RATIO if self.unit == "percentunit" else NON_NEGATIVE

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        defaults: dict[str, Any] = {}
        if self.type not in ("logs", "traces", "alertlist", "text"):
            defaults["custom"] = self.custom
            defaults["color"] = self.color or {"mode": "palette-classic" if self.type == "timeseries" else "thresholds"}
            defaults["mappings"] = self.mappings
            defaults["thresholds"] = self.thresholds or thresholds("green")
            defaults["noValue"] = NO_DATA
            for key in ("unit", "decimals", "min", "max"):
                value = getattr(self, key)
                if value is not None:
                    defaults[key] = value
        panel: dict[str, Any] = {
            "id": panel_id,
            "type": self.type,
            "title": self.title,
            "description": self.description,
            "gridPos": {"h": self.h, "w": self.w, "x": x, "y": y},
        }
        datasource = self.datasource or (self.targets[0].datasource if self.targets else None)
        if datasource is not None:
            panel["datasource"] = datasource
        if self.interval:
            panel["interval"] = self.interval
        if self.type not in ("alertlist", "text"):
            panel["fieldConfig"] = {"defaults": defaults, "overrides": self.overrides}
        panel["options"] = self.options
        if self.targets:
            panel["targets"] = [t.to_json(chr(ord("A") + i)) for i, t in enumerate(self.targets)]
        if self.transformations:
            panel["transformations"] = self.transformations
        if self.links:
            panel["links"] = self.links
        return panel


_LEGEND_LIST = {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []}
_LEGEND_TABLE = {"displayMode": "table", "placement": "right", "showLegend": True, "calcs": ["mean", "lastNotNull"]}
_TOOLTIP = {"mode": "multi", "sort": "desc", "hideZeros": False}


def timeseries(title: str, *targets: Query, stack: bool = False, legend_table: bool = False,
               draw: str = "line", fill: int = 10, threshold_style: str = "off", **kw: Any) -> Panel:
    custom = {
        "drawStyle": draw,
        "lineWidth": 1,
        "fillOpacity": fill,
        "gradientMode": "none",
        "showPoints": "never",
        "spanNulls": False,
        "axisPlacement": "auto",
        "axisSoftMin": 0,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": threshold_style},
    }
    options = {"legend": _LEGEND_TABLE if legend_table else _LEGEND_LIST, "tooltip": _TOOLTIP}
    return Panel("timeseries", title, list(targets), custom=custom, options=options, **kw)


def _reduce(calc: str) -> dict[str, Any]:
    return {"calcs": [calc], "fields": "", "values": False}


def stat(title: str, *targets: Query, calc: str = "lastNotNull", color_mode: str = "value",
         graph: bool = True, w: int = 4, h: int = 5, **kw: Any) -> Panel:
    options = {
        "reduceOptions": _reduce(calc),
        "colorMode": color_mode,
        "graphMode": "area" if graph else "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": "auto",
        "wideLayout": True,
        "showPercentChange": False,
    }
    return Panel("stat", title, list(targets), options=options, w=w, h=h, **kw)


def gauge(title: str, *targets: Query, calc: str = "lastNotNull", w: int = 6, h: int = 6, **kw: Any) -> Panel:
    options = {
        "reduceOptions": _reduce(calc),
        "orientation": "auto",
        "showThresholdLabels": False,
        "showThresholdMarkers": True,
        "minVizHeight": 75,
        "minVizWidth": 75,
        "sizing": "auto",
    }
    return Panel("gauge", title, list(targets), options=options, w=w, h=h, **kw)


def bargauge(title: str, *targets: Query, calc: str = "lastNotNull", orientation: str = "horizontal",
             **kw: Any) -> Panel:
    options = {
        "reduceOptions": _reduce(calc),
        "orientation": orientation,
        "displayMode": "gradient",
        "valueMode": "color",
        "namePlacement": "auto",
        "showUnfilled": True,
        "sizing": "auto",
        "minVizHeight": 16,
        "minVizWidth": 8,
        "maxVizHeight": 300,
    }
    return Panel("bargauge", title, list(targets), options=options, **kw)


def table(title: str, *targets: Query, sort_by: str | None = None, **kw: Any) -> Panel:
    options: dict[str, Any] = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    if sort_by:
        options["sortBy"] = [{"displayName": sort_by, "desc": True}]
    custom = {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}
    return Panel("table", title, list(targets), options=options, custom=custom, **kw)


def heatmap(title: str, target: PromQuery, *, unit: str, **kw: Any) -> Panel:
    options = {
        "calculate": False,
        "cellGap": 1,
        "color": {"mode": "scheme", "scheme": "Spectral", "scale": "exponential", "exponent": 0.5,
                  "fill": "dark-orange", "reverse": False, "steps": 64},
        "exemplars": {"color": "rgba(255,0,255,0.7)"},
        "filterValues": {"le": 1e-9},
        "legend": {"show": True},
        "rowsFrame": {"layout": "auto"},
        "tooltip": {"mode": "single", "yHistogram": True, "showColorScale": False},
        "yAxis": {"axisPlacement": "left", "reverse": False, "unit": unit},
        "showValue": "never",
        "cellValues": {"unit": "short"},
    }
    custom = {"hideFrom": {"legend": False, "tooltip": False, "viz": False},
              "scaleDistribution": {"type": "linear"}}
    return Panel("heatmap", title, [target], options=options, custom=custom, **kw)


def logs(title: str, target: LogQuery, **kw: Any) -> Panel:
    options = {
        "showTime": True,
        "showLabels": False,
        "showCommonLabels": False,
        "wrapLogMessage": True,
        "prettifyLogMessage": False,
        "enableLogDetails": True,
        "enableInfiniteScrolling": False,
        "dedupStrategy": "none",
        "sortOrder": "Descending",
    }
    return Panel("logs", title, [target], options=options, **kw)


def traces_table(title: str, target: TraceQuery, **kw: Any) -> Panel:
    """Trace search results as a table (each trace id opens the trace view)."""
    return Panel("table", title, [target], options={"showHeader": True, "cellHeight": "sm"},
                 custom={"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}, **kw)


def alertlist(title: str, *, datasource_name: str, w: int = 12, h: int = 8, **kw: Any) -> Panel:
    options = {
        "viewMode": "list",
        "groupMode": "default",
        "groupBy": [],
        "maxItems": 20,
        "sortOrder": 3,  # importance
        "dashboardAlerts": False,
        "alertName": "",
        "alertInstanceLabelFilter": "",
        "datasource": datasource_name,
        "showInactiveAlerts": False,
        "stateFilter": {"firing": True, "pending": True, "recovering": True, "noData": False, "normal": False,
                        "error": True},
    }
    return Panel("alertlist", title, [], options=options, w=w, h=h, **kw)


def text(title: str, content: str, *, w: int = 24, h: int = 3, **kw: Any) -> Panel:
    return Panel("text", title, [], options={"mode": "markdown", "content": content}, w=w, h=h, **kw)


# -- template variables --------------------------------------------------------------------


@dataclass
class Variable:
    """A multi-select Prometheus label variable with All (`.*`)."""

    name: str
    label: str
    query: str  # label_values(...)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "query",
            "name": self.name,
            "label": self.label,
            "datasource": PROMETHEUS,
            "definition": self.query,
            "query": {"qryType": 1, "query": self.query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2,
            "regex": "",
            "sort": 1,
            "multi": True,
            "includeAll": True,
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "options": [],
            "hide": 0,
            "skipUrlSync": False,
        }


# -- dashboard -----------------------------------------------------------------------------


@dataclass
class Dashboard:
    uid: str
    title: str
    description: str
    panels: Sequence[Panel]
    variables: Sequence[Variable] = ()
    tags: Sequence[str] = ()
    time_from: str = "now-1h"
    refresh: str = "30s"

    def queries(self) -> Iterable[tuple[Panel, Query]]:
        for panel in self.panels:
            for query in panel.targets:
                yield panel, query

    def to_json(self) -> dict[str, Any]:
        return {
            "id": None,
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": [FOLDER_TAG, *self.tags],
            "timezone": "browser",
            "editable": False,
            "graphTooltip": 1,
            "fiscalYearStartMonth": 0,
            "liveNow": False,
            "weekStart": "",
            "time": {"from": self.time_from, "to": "now"},
            "timepicker": {},
            "refresh": self.refresh,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "links": [
                {
                    "type": "dashboards",
                    "title": "LLM dashboards",
                    "tags": [FOLDER_TAG],
                    "asDropdown": False,
                    "includeVars": True,
                    "keepTime": True,
                    "targetBlank": False,
                    "icon": "external link",
                    "tooltip": "",
                    "url": "",
                }
            ],
            "annotations": {
                "list": [
                    {
                        "builtIn": 1,
                        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                        "enable": True,
                        "hide": True,
                        "iconColor": "rgba(0, 211, 255, 1)",
                        "name": "Annotations & Alerts",
                        "type": "dashboard",
                    }
                ]
            },
            "templating": {"list": [v.to_json() for v in self.variables]},
            "panels": self._layout(),
        }

    def _layout(self) -> list[dict[str, Any]]:
        """Left-to-right flow on Grafana's 24-column grid; a row is as tall as its tallest panel."""
        out: list[dict[str, Any]] = []
        x = y = row_h = 0
        for index, panel in enumerate(self.panels, start=1):
            if panel.w > 24:
                raise ValueError(f"{self.uid}: panel {panel.title!r} is wider than the grid")
            if x + panel.w > 24:
                x, y, row_h = 0, y + row_h, 0
            out.append(panel.to_json(index, x, y))
            x += panel.w
            row_h = max(row_h, panel.h)
        return out

"""Dashboards as code: `python -m grafana.generator` writes grafana/dashboards/*.json.

One module per dashboard, each with `build() -> Dashboard`; `builder` turns them into Grafana's
JSON model and `rules` reads alert thresholds from prometheus/rules so panels match the alerts.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import cost, errors, gpu, latency, logs_traces, overview, slo
from .builder import Dashboard

OUTPUT_DIR = Path(__file__).resolve().parents[1] / "dashboards"
MODULES = (overview, latency, cost, errors, gpu, slo, logs_traces)


def dashboards() -> list[Dashboard]:
    return [module.build() for module in MODULES]


def render(dashboard: Dashboard) -> str:
    """The committed form: 2-space JSON, keys in builder order, trailing newline."""
    return json.dumps(dashboard.to_json(), indent=2, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    """File name -> JSON text for every dashboard."""
    return {f"{d.uid}.json": render(d) for d in dashboards()}

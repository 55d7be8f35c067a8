"""Dashboards as code: `python -m grafana.generator` writes grafana/dashboards/*.json.

One module per dashboard, each with `build() -> Dashboard`; `builder` turns them into Grafana's
JSON model; thresholds come from prometheus/generator/config.py, the one place the alerts read
them from too. Modules are imported when dashboards are built, so that the rules generator can
import `uids` without building every dashboard.
"""

from __future__ import annotations

import json
from pathlib import Path

from .builder import Dashboard

OUTPUT_DIR = Path(__file__).resolve().parents[1] / "dashboards"


def dashboards() -> list[Dashboard]:
    from . import cost, errors, gpu, latency, logs_traces, overview, slo

    return [module.build() for module in (overview, latency, cost, errors, gpu, slo, logs_traces)]


def render(dashboard: Dashboard) -> str:
    """The committed form: 2-space JSON, keys in builder order, trailing newline."""
    return json.dumps(dashboard.to_json(), indent=2, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    """File name -> JSON text for every dashboard."""
    return {f"{d.uid}.json": render(d) for d in dashboards()}

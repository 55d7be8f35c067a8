"""ConfigMaps for the Grafana sidecar kube-prometheus-stack runs: one per dashboard (the committed
JSON, byte for byte) and one with the datasources the chart does not create itself.

The chart provisions the Prometheus and Alertmanager datasources with the uids the dashboards use
(`prometheus`, `alertmanager`: values grafana.sidecar.datasources.uid and .alertmanager.uid), so
the bundle adds only the others (Loki, Tempo) from grafana/provisioning/datasources/datasources.yaml,
their compose addresses replaced by the cluster's.
"""

from __future__ import annotations

from typing import Any

import yaml

from . import sources
from .settings import BundleSettings
from .workloads import metadata, rewrite_urls

# Datasources kube-prometheus-stack creates with these uids (its values' defaults).
CHART_DATASOURCE_UIDS = frozenset({"prometheus", "alertmanager"})
# The sidecar puts a dashboard into the folder this annotation names when the chart's
# grafana.sidecar.dashboards.folderAnnotation is set to it (docs/kubernetes.md).
FOLDER_ANNOTATION = "grafana_folder"
DATASOURCES_KEY = "llm-observability-datasources.yaml"


def dashboard_config_maps(settings: BundleSettings) -> list[dict[str, Any]]:
    label, value = settings.dashboard_label
    folder = sources.dashboard_folder()
    return [{
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": metadata(f"dashboard-{dashboard.uid}", settings, {label: value}, {FOLDER_ANNOTATION: folder}),
        "data": {dashboard.file_name: dashboard.text},
    } for dashboard in sources.dashboards()]


def bundled_datasources(settings: BundleSettings) -> list[dict[str, Any]]:
    return [rewrite_urls(ds, settings) for ds in sources.datasources() if ds.get("uid") not in CHART_DATASOURCE_UIDS]


def datasource_config_map(settings: BundleSettings) -> dict[str, Any]:
    label, value = settings.datasource_label
    # Grafana expands $VARIABLES in provisioning files, so the `$$` escapes stay as they are.
    text = yaml.safe_dump({"apiVersion": 1, "datasources": bundled_datasources(settings)}, sort_keys=False)
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": metadata("llm-observability-datasources", settings, {label: value}),
        "data": {DATASOURCES_KEY: text},
    }

"""The kube-prometheus-stack values the bundle relies on, written beside it as
kube-prometheus-stack-values.yaml (`helm upgrade ... -f` it; it is not part of the kustomization).

Each value comes from the compose stack's own files:

    prometheus.prometheusSpec.enableFeatures, enableRemoteWriteReceiver, enableOTLPReceiver
        the flags docker-compose.yml gives Prometheus (exemplar storage; Tempo's span metrics;
        OpenTelemetry SDKs pushing metrics)
    prometheus.prometheusSpec.otlp.promoteResourceAttributes, tsdb.outOfOrderTimeWindow
        the `otlp:` and `storage.tsdb:` settings of prometheus/prometheus.yml (PROMETHEUS_YML_KEYS
        says where each of its top-level keys goes)
    grafana.sidecar.datasources.name/uid/extraJsonData, .alertmanager.name/uid
        the Prometheus and Alertmanager datasources of grafana/provisioning/datasources/, so the
        chart creates them with the uids and names the dashboards use, exemplars linked to Tempo
    grafana.sidecar.dashboards.label/labelValue/folderAnnotation, .datasources.label/labelValue
        what the bundle's ConfigMaps carry; dashboards land in the compose folder
    defaultRules.disabled
        the chart's alerts that a shipped alert of the same name replaces
"""

from __future__ import annotations

import re
from typing import Any

from prometheus import generator as rules_generator

from . import sources
from .grafana import CHART_DATASOURCE_UIDS, FOLDER_ANNOTATION
from .settings import BundleSettings

FILE_NAME = "kube-prometheus-stack-values.yaml"
# Alerts of the chart's default rules (templates/prometheus/rules-1.14/general.rules.yaml,
# kube-prometheus-stack 88.x) that have the same name as a shipped alert.
CHART_ALERT_NAMES = frozenset({"TargetDown", "Watchdog", "InfoInhibitor"})
_FEATURE = re.compile(r"--enable-feature=(.+)")
# Where each top-level key of prometheus/prometheus.yml reaches a kube-prometheus-stack install.
PROMETHEUS_YML_KEYS = {
    "global": "the ServiceMonitors' interval and scrapeTimeout (monitoring.py)",
    "rule_files": "the PrometheusRules (monitoring.py)",
    "alerting": "the chart's Alertmanager, which the operator configures",
    "scrape_configs": "the ServiceMonitors (monitoring.py)",
    "storage": "prometheusSpec.tsdb",
    "otlp": "prometheusSpec.otlp",
}


def _prometheus_flags() -> list[str]:
    command = sources.compose_service("prometheus").get("command") or []
    return [str(arg) for arg in command]


def prometheus_spec() -> dict[str, Any]:
    flags, config = _prometheus_flags(), sources.prometheus_config()
    unplaced = sorted(set(config) - set(PROMETHEUS_YML_KEYS))
    if unplaced:
        raise sources.SourceError(f"prometheus.yml: no place in the chart values for {unplaced}")
    features = [f for flag in flags if (m := _FEATURE.fullmatch(flag)) for f in m.group(1).split(",")]
    spec: dict[str, Any] = {"enableFeatures": features,
                            "enableRemoteWriteReceiver": "--web.enable-remote-write-receiver" in flags,
                            "enableOTLPReceiver": "--web.enable-otlp-receiver" in flags}
    promoted = (config.get("otlp") or {}).get("promote_resource_attributes")
    if promoted:
        spec["otlp"] = {"promoteResourceAttributes": list(promoted)}
    window = ((config.get("storage") or {}).get("tsdb") or {}).get("out_of_order_time_window")
    if window:
        spec["tsdb"] = {"outOfOrderTimeWindow": str(window)}
    return spec


def _datasource(uid: str) -> dict[str, Any]:
    matches = [d for d in sources.datasources() if d.get("uid") == uid]
    if len(matches) != 1:
        raise sources.SourceError(f"{sources.DATASOURCES_FILE.name}: expected one datasource with uid {uid!r}")
    return matches[0]


def grafana_values(settings: BundleSettings) -> dict[str, Any]:
    prometheus, alertmanager = _datasource("prometheus"), _datasource("alertmanager")
    assert {prometheus["uid"], alertmanager["uid"]} == CHART_DATASOURCE_UIDS
    exemplars = (prometheus.get("jsonData") or {}).get("exemplarTraceIdDestinations") or []
    dashboard_label, dashboard_value = settings.dashboard_label
    datasource_label, datasource_value = settings.datasource_label
    return {"sidecar": {
        "dashboards": {
            "label": dashboard_label, "labelValue": dashboard_value,
            "folderAnnotation": FOLDER_ANNOTATION, "provider": {"foldersFromFilesStructure": True},
        },
        "datasources": {
            "label": datasource_label, "labelValue": datasource_value,
            "name": prometheus["name"], "uid": prometheus["uid"],
            "extraJsonData": {"exemplarTraceIdDestinations": exemplars},
            "alertmanager": {"name": alertmanager["name"], "uid": alertmanager["uid"]},
        },
    }}


def values(settings: BundleSettings) -> dict[str, Any]:
    shipped = {alert.name for alert in rules_generator.alerts()}
    return {
        "defaultRules": {"disabled": {name: True for name in sorted(CHART_ALERT_NAMES & shipped)}},
        "prometheus": {"prometheusSpec": prometheus_spec()},
        "grafana": grafana_values(settings),
    }

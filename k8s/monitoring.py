"""prometheus-operator objects: what Prometheus scrapes and which rules it evaluates.

A ServiceMonitor per workload scrapes every pod behind its Service (one target per replica; the
`job` label is the Service name, as the rules and Alertmanager's inhibit rule expect), at the
interval and timeout of prometheus/prometheus.yml, with the other target labels of the workload's
prometheus/targets/ example (the proxy's `layer: gateway`: its calls are counted once). A
PrometheusRule per shipped rule file holds its groups unchanged. Both carry the `release` label
kube-prometheus-stack selects them by.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from . import sources
from .settings import BundleSettings
from .workloads import PORT_NAME, WORKLOADS, Workload, metadata

API_VERSION = "monitoring.coreos.com/v1"


def _labels(settings: BundleSettings, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"release": settings.release, **(extra or {})}


def target_relabelings(workload: Workload) -> list[dict[str, str]]:
    """The workload's target-file labels other than `job`, set on every target."""
    if workload.target_file is None:
        return []
    labels = sources.target_labels(workload.target_file)
    if labels.pop("job", workload.name) != workload.name:
        raise sources.SourceError(f"prometheus/targets/{workload.target_file}: job is not {workload.name!r}")
    return [{"action": "replace", "targetLabel": name, "replacement": value} for name, value in labels.items()]


def service_monitor(workload: Workload, settings: BundleSettings) -> dict[str, Any]:
    relabelings = target_relabelings(workload)
    return {
        "apiVersion": API_VERSION, "kind": "ServiceMonitor",
        "metadata": metadata(workload.name, settings, _labels(settings, workload.labels())),
        "spec": {
            "selector": {"matchLabels": workload.labels()},
            "namespaceSelector": {"matchNames": [settings.namespace]},
            "endpoints": [{
                "port": PORT_NAME,
                "path": "/metrics",
                "scheme": "http",
                "interval": sources.scrape_interval(),
                "scrapeTimeout": sources.scrape_timeout(),
                **({"relabelings": relabelings} if relabelings else {}),
            }],
        },
    }


def service_monitors(settings: BundleSettings) -> list[dict[str, Any]]:
    return [service_monitor(workload, settings) for workload in WORKLOADS]


def prometheus_rules(settings: BundleSettings) -> list[dict[str, Any]]:
    """One PrometheusRule per shipped rule file, named after it (llm-recording, llm-alerts)."""
    return [{
        "apiVersion": API_VERSION, "kind": "PrometheusRule",
        "metadata": metadata(PurePath(rule_file.name).stem, settings, _labels(settings)),
        "spec": {"groups": rule_file.groups},
    } for rule_file in sources.rule_files()]

"""What differs from one cluster to the next, with defaults that fit a kube-prometheus-stack
release named `kube-prometheus-stack` and Loki and Tempo installed by their own charts.

Everything else in the bundle comes from the repository's shared files (sources.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


@dataclass(frozen=True)
class Resources:
    """Requests and limits of one container (Kubernetes quantities)."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str

    def to_json(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


# Sized from the exporter's resident memory in mock mode at 40 calls/s and in proxy mode under
# load (docs/kubernetes.md, "Resources"); CPU limits leave room for scrape bursts.
MOCK_RESOURCES = Resources("50m", "128Mi", "500m", "256Mi")
PROXY_RESOURCES = Resources("200m", "192Mi", "1", "512Mi")
GPU_RESOURCES = Resources("20m", "96Mi", "200m", "192Mi")


@dataclass(frozen=True)
class BundleSettings:
    namespace: str = "llm-observability"
    # kube-prometheus-stack selects ServiceMonitors and PrometheusRules by `release: <release name>`
    # (prometheusSpec.*SelectorNilUsesHelmValues: true, the chart's default).
    release: str = "kube-prometheus-stack"
    # The Grafana sidecar's labels (kube-prometheus-stack values grafana.sidecar.*.label/labelValue).
    dashboard_label: tuple[str, str] = ("grafana_dashboard", "1")
    datasource_label: tuple[str, str] = ("grafana_datasource", "1")
    # The image compose builds; retag it for your registry (or use kustomize `images:`).
    image: str | None = None
    # Where the exporters send OTLP and where Grafana reads logs and traces: the compose host
    # names `loki` and `tempo` become these base URLs.
    loki_url: str = "http://loki-gateway.monitoring.svc:80"
    tempo_url: str = "http://tempo.monitoring.svc:3200"
    tempo_otlp_http_url: str = "http://tempo.monitoring.svc:4318"
    # The proxy's upstream; None keeps compose's default (LLM_PROXY_UPSTREAM_URL's fallback).
    proxy_upstream_url: str | None = None
    proxy_replicas: int = 2
    mock_replicas: int = 1
    # GPU nodes as labelled by NVIDIA GPU feature discovery (GPU Operator).
    gpu_node_selector: dict[str, str] = field(default_factory=lambda: {"nvidia.com/gpu.present": "true"})
    # The RuntimeClass the GPU Operator installs; None where nvidia is the node's default runtime.
    gpu_runtime_class: str | None = "nvidia"

    def __post_init__(self) -> None:
        if not _DNS_LABEL.fullmatch(self.namespace):
            raise ValueError(f"namespace {self.namespace!r} is not a DNS label (lowercase, digits, '-')")
        if not _LABEL_VALUE.fullmatch(self.release) or not self.release:
            raise ValueError(f"release {self.release!r} is not a valid label value")
        for url in (self.loki_url, self.tempo_url, self.tempo_otlp_http_url, self.proxy_upstream_url or "http://-"):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r} is not an http(s) URL with a host")
        if self.proxy_replicas < 1 or self.mock_replicas < 0:
            raise ValueError("proxy replicas must be >= 1 and mock replicas >= 0")

    def origins(self) -> dict[str, str]:
        """Compose `host:port` of the services outside the bundle -> their in-cluster base URL."""
        return {"loki:3100": self.loki_url, "tempo:3200": self.tempo_url, "tempo:4318": self.tempo_otlp_http_url}

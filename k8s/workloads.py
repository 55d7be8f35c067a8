"""The exporter's three workloads in Kubernetes, as the compose services run them:

    llm-exporter      Deployment   the mock fleet (compose service `exporter`)
    llm-proxy         Deployment   the metering proxy (compose service `proxy`), several replicas
    llm-gpu-exporter  DaemonSet    NVML GPU metrics on every GPU node (compose service `gpu-exporter`)

Each gets the compose service's environment (compose host names rewritten to in-cluster
addresses), the exporter's config files from one ConfigMap mounted where compose mounts them,
probes on /readyz and /healthz, requests and limits, and a locked-down container: non-root user
of the image, read-only root filesystem, no privilege escalation, no capabilities, the runtime's
seccomp profile, no service-account token.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import sources
from .settings import GPU_RESOURCES, MOCK_RESOURCES, PROXY_RESOURCES, BundleSettings, Resources

PART_OF = "llm-observability"
CONFIG_MAP = "llm-exporter-config"
SERVICE_ACCOUNT = "llm-exporter"
CONTAINER = "exporter"
PORT_NAME = "http"
# The non-root user exporter/Dockerfile creates (`useradd --uid`); the pod runs as it.
EXPORTER_UID = 10101


@dataclass(frozen=True)
class Workload:
    name: str  # Kubernetes name of the workload and its Service (Prometheus' `job` label)
    compose_service: str
    kind: str  # Deployment | DaemonSet
    resources: Resources
    target_file: str | None = None  # the prometheus/targets/ example compose scrapes it with

    def labels(self) -> dict[str, str]:
        return {"app.kubernetes.io/name": self.name, "app.kubernetes.io/part-of": PART_OF}


MOCK = Workload("llm-exporter", "exporter", "Deployment", MOCK_RESOURCES)
PROXY = Workload("llm-proxy", "proxy", "Deployment", PROXY_RESOURCES, "proxy.yml.example")
GPU = Workload("llm-gpu-exporter", "gpu-exporter", "DaemonSet", GPU_RESOURCES, "gpu-exporter.yml.example")
WORKLOADS = (MOCK, PROXY, GPU)


def cluster_origins(settings: BundleSettings) -> dict[str, str]:
    """Compose `host:port` -> in-cluster base URL: the bundle's own Services and the settings' others."""
    own = {}
    for workload in WORKLOADS:
        port = sources.exporter_service(workload.compose_service).port
        own[f"{workload.compose_service}:{port}"] = f"http://{workload.name}.{settings.namespace}.svc:{port}"
    return {**own, **settings.origins()}


def rewrite_url(url: str, settings: BundleSettings) -> str:
    """`url` with a compose service's origin replaced by its in-cluster address. A URL naming a
    compose service the cluster has no address for is an error, never a silently dead link."""
    parts = urlsplit(url)
    origins = cluster_origins(settings)
    origin = f"{parts.hostname}:{parts.port}"
    if origin in origins:
        return origins[origin].rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
    if parts.hostname in sources.compose_service_names():
        raise ValueError(f"{url!r} names the compose service {parts.hostname!r}, which has no in-cluster "
                         "address in the bundle settings")
    return url


def rewrite_urls(node: Any, settings: BundleSettings) -> Any:
    """Every http(s) URL in a parsed config document, rewritten by rewrite_url."""
    if isinstance(node, dict):
        return {key: rewrite_urls(value, settings) for key, value in node.items()}
    if isinstance(node, list):
        return [rewrite_urls(value, settings) for value in node]
    if isinstance(node, str) and node.startswith(("http://", "https://")):
        return rewrite_url(node, settings)
    return node


def metadata(name: str, settings: BundleSettings, labels: dict[str, str] | None = None,
             annotations: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "namespace": settings.namespace,
                           "labels": {"app.kubernetes.io/part-of": PART_OF, **(labels or {})}}
    if annotations:
        out["annotations"] = annotations
    return out


def namespace(settings: BundleSettings) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": settings.namespace, "labels": {"app.kubernetes.io/part-of": PART_OF}}}


def config_map(settings: BundleSettings) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(CONFIG_MAP, settings),
            "data": sources.exporter_config_files()}


def service_account(settings: BundleSettings) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata(SERVICE_ACCOUNT, settings),
            "automountServiceAccountToken": False}


def _config_checksum() -> str:
    """Changes whenever a config file does, so that `kubectl apply` rolls the pods."""
    digest = hashlib.sha256()
    for name, text in sources.exporter_config_files().items():
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def _environment(service: sources.ExporterService, settings: BundleSettings,
                 extra: dict[str, str]) -> list[dict[str, str]]:
    env = {**rewrite_urls(service.environment, settings), **extra}
    return [{"name": key, "value": value} for key, value in env.items()]


def _probe(path: str, period_s: int, initial_delay_s: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": PORT_NAME}, "initialDelaySeconds": initial_delay_s,
            "periodSeconds": period_s, "timeoutSeconds": 3, "failureThreshold": 3}


def _container(workload: Workload, service: sources.ExporterService, settings: BundleSettings,
               extra_env: dict[str, str]) -> dict[str, Any]:
    return {
        "name": CONTAINER,
        "image": settings.image or service.image,
        "imagePullPolicy": "IfNotPresent",
        "env": _environment(service, settings, extra_env),
        "ports": [{"name": PORT_NAME, "containerPort": service.port, "protocol": "TCP"}],
        "readinessProbe": _probe("/readyz", 10, 2),
        "livenessProbe": _probe("/healthz", 20, 10),
        "resources": workload.resources.to_json(),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": service.config_mount, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def _pod_spec(workload: Workload, service: sources.ExporterService, settings: BundleSettings,
              extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "serviceAccountName": SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": EXPORTER_UID,
            "runAsGroup": EXPORTER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(workload, service, settings, extra_env or {})],
        "volumes": [
            {"name": "config", "configMap": {"name": CONFIG_MAP}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
        ],
    }


def _template(workload: Workload, pod_spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"labels": workload.labels(), "annotations": {"checksum/config": _config_checksum()}},
            "spec": pod_spec}


def mock_exporter(settings: BundleSettings) -> dict[str, Any]:
    service = sources.exporter_service(MOCK.compose_service)
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(MOCK.name, settings, MOCK.labels()),
        "spec": {
            "replicas": settings.mock_replicas,
            "selector": {"matchLabels": MOCK.labels()},
            "template": _template(MOCK, _pod_spec(MOCK, service, settings)),
        },
    }


def proxy(settings: BundleSettings) -> dict[str, Any]:
    """Stateless: every replica meters the calls it forwards, and the rules sum over replicas."""
    service = sources.exporter_service(PROXY.compose_service)
    extra = {"LLM_EXPORTER_UPSTREAM_URL": settings.proxy_upstream_url} if settings.proxy_upstream_url else {}
    pod_spec = _pod_spec(PROXY, service, settings, extra)
    pod_spec["topologySpreadConstraints"] = [{
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": PROXY.labels()},
    }]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(PROXY.name, settings, PROXY.labels()),
        "spec": {
            "replicas": settings.proxy_replicas,
            "selector": {"matchLabels": PROXY.labels()},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": _template(PROXY, pod_spec),
        },
    }


def proxy_disruption_budget(settings: BundleSettings) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": metadata(PROXY.name, settings, PROXY.labels()),
        "spec": {"minAvailable": 1, "selector": {"matchLabels": PROXY.labels()}},
    }


def gpu_exporter(settings: BundleSettings) -> dict[str, Any]:
    """One pod per GPU node. It requests no `nvidia.com/gpu` (that would take a GPU away from the
    models): the NVIDIA runtime exposes every GPU of the node to it for NVML reads."""
    service = sources.exporter_service(GPU.compose_service)
    pod_spec = _pod_spec(GPU, service, settings, {"NVIDIA_VISIBLE_DEVICES": "all",
                                                  "NVIDIA_DRIVER_CAPABILITIES": "utility"})
    pod_spec["nodeSelector"] = dict(settings.gpu_node_selector)
    pod_spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    if settings.gpu_runtime_class:
        pod_spec["runtimeClassName"] = settings.gpu_runtime_class
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": metadata(GPU.name, settings, GPU.labels()),
        "spec": {
            "selector": {"matchLabels": GPU.labels()},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": _template(GPU, pod_spec),
        },
    }


def service(workload: Workload, settings: BundleSettings) -> dict[str, Any]:
    port = sources.exporter_service(workload.compose_service).port
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": metadata(workload.name, settings, workload.labels()),
        "spec": {
            "type": "ClusterIP",
            "selector": workload.labels(),
            "ports": [{"name": PORT_NAME, "port": port, "targetPort": PORT_NAME, "protocol": "TCP"}],
        },
    }

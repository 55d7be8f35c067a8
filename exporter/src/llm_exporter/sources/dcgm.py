"""NVIDIA dcgm-exporter's GPU metrics, read at tag 4.5.3-4.8.2 (DCGM 4.5.3, exporter 4.8.2).

The metric names are DCGM field names, listed with their Prometheus type in
etc/default-counters.csv (the default of --collectors, pkg/cmd/app.go:127). Every GPU series
carries the labels of internal/pkg/rendermetrics/render_metrics.go:47: `gpu`, `UUID`,
`pci_bus_id`, `device`, `modelName`, `Hostname` (unless --no-hostname), then the label-typed
fields of the CSV (`DCGM_FI_DRIVER_VERSION` in the default file), `GPU_I_PROFILE`/`GPU_I_ID` on MIG
instances, and `pod`/`namespace`/`container` when Kubernetes pod mapping is on
(internal/pkg/transformation/const.go:21). The exporter writes its own text (a Go template), so
values print without a trailing `.0` and counters keep their bare names (no `_total`).

Units are DCGM's: utilisation in percent 0..100, framebuffer in MiB, power in W, temperature in
°C; DCGM_FI_PROF_GR_ENGINE_ACTIVE is a ratio 0..1 and needs a GPU with profiling metrics (DCP).
"""

from __future__ import annotations

from .model import Citation, Source, SourceMetric

VERSION = "4.5.3-4.8.2"
CSV = "etc/default-counters.csv"

LABELS = ("gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION")
MIG = ("GPU_I_PROFILE", "GPU_I_ID")
KUBERNETES = ("pod", "namespace", "container")


def _at(line: int) -> Citation:
    return Citation(CSV, line, VERSION)


def _gpu(name: str, unit: str, help: str, line: int, signal=None) -> SourceMetric:
    return SourceMetric(name, "gauge", unit, help, LABELS, _at(line), signal, optional_labels=(*MIG, *KUBERNETES))


METRICS = (
    _gpu("DCGM_FI_DEV_GPU_UTIL", "percent", "GPU utilization (in %).", 23, "gpu_utilization"),
    _gpu("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "ratio", "Ratio of time the graphics engine is active.", 89,
         "gpu_engine_active"),
    _gpu("DCGM_FI_DEV_FB_USED", "MiB", "Framebuffer memory used (in MiB).", 46, "gpu_memory_used"),
    _gpu("DCGM_FI_DEV_FB_FREE", "MiB", "Framebuffer memory free (in MiB).", 45, "gpu_memory_free"),
    _gpu("DCGM_FI_DEV_POWER_USAGE", "watts", "Power draw (in W).", 14, "gpu_power"),
    _gpu("DCGM_FI_DEV_GPU_TEMP", "celsius", "GPU temperature (in C).", 11, "gpu_temperature"),
    _gpu("DCGM_FI_DEV_XID_ERRORS", "code", "Value of the last XID error encountered.", 29),
)

SOURCE = Source(
    name="dcgm",
    project="NVIDIA/dcgm-exporter",
    version=VERSION,
    metrics_path="/metrics",
    default_port=9400,
    labels={
        "gpu": "GPU index (\"0\", \"1\", ...)",
        "UUID": "GPU UUID (`uuid` with the old --use-old-namespace)",
        "pci_bus_id": "PCI bus id", "device": "nvidia<index>",
        "modelName": "GPU product name (\"NVIDIA H100 80GB HBM3\")",
        "Hostname": "the exporter's host name",
        "DCGM_FI_DRIVER_VERSION": "driver version (a label-typed field of the default CSV, line 77)",
        "GPU_I_PROFILE": "MIG profile (MIG instances only)", "GPU_I_ID": "MIG instance id",
        "pod": "Kubernetes pod using the GPU", "namespace": "its namespace", "container": "its container",
        "err_code": "XID code (DCGM_FI_DEV_XID_ERRORS only)", "err_msg": "its meaning",
    },
    metrics=METRICS,
    notes=(
        "Memory total is FB_USED + FB_FREE (+ FB_RESERVED); there is no total field in the default CSV.",
        "DCGM_FI_DEV_XID_ERRORS also carries err_code and err_msg "
        "(internal/pkg/collector/gpu_collector.go:326).",
        "Listens on :9400 (pkg/cmd/app.go:133).",
    ),
)

"""dcgm-exporter's dialect: the mock GPUs in DCGM field names and units."""

from __future__ import annotations

from ...recorder import GPUSource
from ...sources import dcgm
from .engines import Active
from .store import Store, le_python

MIB = 1024**2
HOSTNAME = "mock-gpu-host"
DRIVER_VERSION = "mock"


class Dcgm:
    """dcgm-exporter 4.5.3-4.8.2 reading the mock GPUs at scrape time.

    The mock has one busy figure per GPU; it feeds both DCGM_FI_DEV_GPU_UTIL (percent) and
    DCGM_FI_PROF_GR_ENGINE_ACTIVE (ratio), which on real GPUs differ (GPU_UTIL counts any kernel
    running, GR_ENGINE_ACTIVE the share of time the graphics engine is busy).
    """

    source = dcgm.SOURCE
    layer = "gpu"

    def __init__(self, gpus: GPUSource | None) -> None:
        self.store = Store(self.source, le_python)
        self.gpus = gpus

    def observe(self, call: object) -> None:  # GPUs are read, not told about calls
        return None

    def refresh(self, active: Active) -> None:
        for gpu in (self.gpus.read() if self.gpus is not None else None) or ():
            labels = {"gpu": gpu.index, "UUID": gpu.uuid, "pci_bus_id": f"00000000:{int(gpu.index) + 1:02X}:00.0",
                      "device": f"nvidia{gpu.index}", "modelName": gpu.name, "Hostname": HOSTNAME,
                      "DCGM_FI_DRIVER_VERSION": DRIVER_VERSION}
            s = self.store
            if gpu.utilization_ratio is not None:
                s.set("DCGM_FI_DEV_GPU_UTIL", labels, round(gpu.utilization_ratio * 100))
                s.set("DCGM_FI_PROF_GR_ENGINE_ACTIVE", labels, gpu.utilization_ratio)
            if gpu.memory_used_bytes is not None and gpu.memory_total_bytes is not None:
                s.set("DCGM_FI_DEV_FB_USED", labels, round(gpu.memory_used_bytes / MIB))
                s.set("DCGM_FI_DEV_FB_FREE", labels, round((gpu.memory_total_bytes - gpu.memory_used_bytes) / MIB))
            if gpu.power_watts is not None:
                s.set("DCGM_FI_DEV_POWER_USAGE", labels, gpu.power_watts)
            if gpu.temperature_celsius is not None:
                s.set("DCGM_FI_DEV_GPU_TEMP", labels, round(gpu.temperature_celsius))

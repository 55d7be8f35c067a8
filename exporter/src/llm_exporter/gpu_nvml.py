"""GPU telemetry from NVIDIA's driver (NVML, through nvidia-ml-py's `pynvml`), read at scrape time.

Same contract as the mock GPUs: one reading per GPU with labels gpu (index), uuid and gpu_name;
a GPU in MIG mode also yields one reading per MIG device, labelled gpu="<index>/mig<GPU instance
id>" with the MIG device's own uuid and name. Memory is reported on the MIG devices only (each its
slice; the parent's figure would count the same bytes twice in a sum); utilisation, power and
temperature stay on the parent GPU, where NVML reports them.

Failure handling, from the smallest to the largest:
- one field of one device fails (not supported, GPU busy, ...): that field is left out of the
  scrape, the rest is reported; the first failure of each kind is logged once;
- one device cannot be opened: it is skipped, the others are reported;
- no driver, no library, no GPU, or the driver goes away: `read()` returns None, so
  llm_gpu_up is 0; one log line says why, initialisation is retried quietly every
  `retry_s` seconds, and a recovery is logged once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .recorder import GPUReading, GPUSource

log = logging.getLogger(__name__)

RETRY_S = 60.0


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).strip()
    return text or "unknown"


class NvmlGPUSource(GPUSource):
    """GPU readings from NVML. `nvml` is the pynvml module (a stand-in in tests)."""

    def __init__(self, nvml: ModuleType | Any | None = None, *, retry_s: float = RETRY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._nvml = nvml
        self.retry_s = retry_s
        self.clock = clock
        self._lock = threading.Lock()
        self._initialised = False
        self._next_attempt = 0.0
        self._problem: str | None = None  # why GPUs are unavailable; None while they are readable
        self._announced = False
        self._field_errors: set[tuple[str, str, str]] = set()

    # -- state ------------------------------------------------------------------------------

    @property
    def problem(self) -> str | None:
        return self._problem

    def _module(self) -> Any:
        if self._nvml is None:
            import pynvml  # nvidia-ml-py: importing loads nothing; nvmlInit loads libnvidia-ml

            self._nvml = pynvml
        return self._nvml

    def _unavailable(self, reason: str) -> None:
        if self._problem is None:
            log.warning("GPU telemetry unavailable: %s; llm_gpu_up is 0 and the exporter keeps running "
                        "(NVML is retried every %.0f s)", reason, self.retry_s,
                        extra={"event": "gpu_unavailable", "reason": reason})
        self._problem = reason
        self._announced = False

    def _available(self, count: int) -> None:
        if self._problem is not None or not self._announced:
            log.info("GPU telemetry from NVML: %d GPU(s)", count, extra={"event": "gpu_available", "gpus": count})
        self._problem = None
        self._announced = True

    def _initialise(self) -> bool:
        now = self.clock()
        if now < self._next_attempt:
            return False
        self._next_attempt = now + self.retry_s
        try:
            nvml = self._module()
        except ImportError as exc:
            self._unavailable(f"nvidia-ml-py is not installed ({exc})")
            return False
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            self._unavailable(f"NVIDIA driver not usable: {exc}")
            return False
        except OSError as exc:  # the library exists but cannot be loaded
            self._unavailable(f"NVIDIA management library cannot be loaded: {exc}")
            return False
        self._initialised = True
        return True

    def _lost(self, reason: str) -> None:
        nvml = self._nvml
        self._initialised = False
        self._next_attempt = self.clock() + self.retry_s
        with contextlib.suppress(Exception):  # the driver is already gone; nothing to release
            nvml.nvmlShutdown()
        self._unavailable(reason)

    # -- reading ----------------------------------------------------------------------------

    def read(self) -> list[GPUReading] | None:
        with self._lock:
            if not self._initialised and not self._initialise():
                return None
            nvml = self._nvml
            try:
                count = nvml.nvmlDeviceGetCount()
            except nvml.NVMLError as exc:
                self._lost(f"cannot list GPUs: {exc}")
                return None
            if count == 0:
                self._lost("the driver reports no NVIDIA GPU")
                return None
            readings: list[GPUReading] = []
            for index in range(count):
                try:
                    handle = nvml.nvmlDeviceGetHandleByIndex(index)
                except nvml.NVMLError as exc:
                    self._field_failed(str(index), "device", exc)
                    continue
                readings.extend(self._read_gpu(handle, str(index)))
            if not readings:
                self._unavailable(f"none of the {count} GPU(s) could be opened")
                return None
            self._available(count)
            return readings

    def _read_gpu(self, handle: Any, index: str) -> list[GPUReading]:
        nvml = self._nvml
        try:
            current, _pending = nvml.nvmlDeviceGetMigMode(handle)
        except Exception:  # not MIG-capable (NotSupported) or no answer: read as a whole GPU
            current = None
        if current != nvml.NVML_DEVICE_MIG_ENABLE:
            return [self._reading(handle, index, whole_gpu=True)]
        # A MIG-enabled GPU: its memory is the sum of its MIG devices' slices, so it is reported on
        # the MIG devices only (sum(llm_gpu_memory_*_bytes) counts every byte once); utilisation,
        # power and temperature stay on the parent, the only place NVML reports them.
        readings = [self._reading(handle, index, whole_gpu=True, memory=False)]
        try:
            slots = nvml.nvmlDeviceGetMaxMigDeviceCount(handle)
        except Exception as exc:
            self._field_failed(index, "mig_devices", exc)
            return readings
        for slot in range(slots):
            try:
                mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
            except Exception:  # NotFound: an empty MIG slot
                continue
            try:
                instance = nvml.nvmlDeviceGetGpuInstanceId(mig)
            except Exception:
                instance = slot
            readings.append(self._reading(mig, f"{index}/mig{instance}", whole_gpu=False))
        return readings

    def _reading(self, handle: Any, label: str, *, whole_gpu: bool, memory: bool = True) -> GPUReading:
        nvml = self._nvml
        uuid = self._field(label, "uuid", lambda: _text(nvml.nvmlDeviceGetUUID(handle)))
        name = self._field(label, "name", lambda: _text(nvml.nvmlDeviceGetName(handle)))
        info = self._field(label, "memory", lambda: nvml.nvmlDeviceGetMemoryInfo(handle)) if memory else None
        utilization = power = temperature = None
        if whole_gpu:
            utilization = self._field(label, "utilization",
                                      lambda: float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu) / 100.0)
            power = self._field(label, "power", lambda: float(nvml.nvmlDeviceGetPowerUsage(handle)) / 1000.0)
            temperature = self._field(
                label, "temperature",
                lambda: float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)))
        return GPUReading(
            index=label,
            uuid=uuid or "unknown",
            name=name or "unknown",
            utilization_ratio=utilization,
            memory_used_bytes=None if info is None else float(info.used),
            memory_total_bytes=None if info is None else float(info.total),
            power_watts=power,
            temperature_celsius=temperature,
        )

    def _field(self, gpu: str, name: str, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except Exception as exc:
            self._field_failed(gpu, name, exc)
            return None

    def _field_failed(self, gpu: str, name: str, exc: BaseException) -> None:
        key = (gpu, name, type(exc).__name__)
        if key in self._field_errors:
            return
        self._field_errors.add(key)
        not_supported = type(exc).__name__ == "NVMLError_NotSupported"
        log.log(logging.DEBUG if not_supported else logging.WARNING,
                "GPU %s: %s not readable (%s); left out of the metrics", gpu, name, exc,
                extra={"event": "gpu_field_error", "gpu": gpu, "field": name, "error": str(exc)})

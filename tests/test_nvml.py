"""The NVML GPU collector against a stand-in for the `pynvml` module (the hardware boundary):
GPUs present, absent, failing fields, lost devices, a driver that goes away, MIG. The stand-in
raises pynvml's own exception classes, so the collector sees exactly what the real driver
binding raises. A last test runs the real exporter in real mode on this machine."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from types import SimpleNamespace

import pynvml
import pytest
import requests
from prometheus_client import CollectorRegistry, generate_latest

from llm_exporter.config import Budgets, Pricing
from llm_exporter.gpu_nvml import NvmlGPUSource
from llm_exporter.recorder import Recorder
from tests.support.metrics_text import families
from tests.support.processes import run_exporter

GIB = 1024**3


def nvml_error(code: int) -> pynvml.NVMLError:
    return pynvml.NVMLError(code)  # pynvml maps the code to its subclass (NVMLError_NotSupported, ...)


@dataclass
class FakeDevice:
    uuid: str
    name: str
    utilization: int | None = 50  # percent
    used: int = 10 * GIB
    total: int = 80 * GIB
    power_mw: int = 300_000
    temperature: int = 60
    mig_devices: dict[int, FakeDevice] = field(default_factory=dict)  # slot -> device
    gpu_instance: int = 0
    failing: dict[str, int] = field(default_factory=dict)  # field -> NVML error code

    def check(self, name: str) -> None:
        if name in self.failing:
            raise nvml_error(self.failing[name])


class FakeNVML:
    """The parts of pynvml the collector uses, driven by a list of FakeDevice."""

    NVMLError = pynvml.NVMLError
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU
    NVML_DEVICE_MIG_ENABLE = pynvml.NVML_DEVICE_MIG_ENABLE
    NVML_DEVICE_MIG_DISABLE = pynvml.NVML_DEVICE_MIG_DISABLE

    def __init__(self, devices: list[FakeDevice], init_error: int | None = None) -> None:
        self.devices = devices
        self.init_error = init_error
        self.count_error: int | None = None
        self.handle_errors: dict[int, int] = {}
        self.init_calls = 0
        self.shutdown_calls = 0

    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.init_error is not None:
            raise nvml_error(self.init_error)

    def nvmlShutdown(self) -> None:
        self.shutdown_calls += 1

    def nvmlDeviceGetCount(self) -> int:
        if self.count_error is not None:
            raise nvml_error(self.count_error)
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeDevice:
        if index in self.handle_errors:
            raise nvml_error(self.handle_errors[index])
        return self.devices[index]

    def nvmlDeviceGetUUID(self, handle: FakeDevice) -> str:
        handle.check("uuid")
        return handle.uuid

    def nvmlDeviceGetName(self, handle: FakeDevice) -> bytes:
        handle.check("name")
        return handle.name.encode()

    def nvmlDeviceGetUtilizationRates(self, handle: FakeDevice) -> SimpleNamespace:
        handle.check("utilization")
        if handle.utilization is None:
            raise nvml_error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return SimpleNamespace(gpu=handle.utilization, memory=10)

    def nvmlDeviceGetMemoryInfo(self, handle: FakeDevice) -> SimpleNamespace:
        handle.check("memory")
        return SimpleNamespace(used=handle.used, total=handle.total, free=handle.total - handle.used)

    def nvmlDeviceGetPowerUsage(self, handle: FakeDevice) -> int:
        handle.check("power")
        return handle.power_mw

    def nvmlDeviceGetTemperature(self, handle: FakeDevice, sensor: int) -> int:
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        handle.check("temperature")
        return handle.temperature

    def nvmlDeviceGetMigMode(self, handle: FakeDevice) -> tuple[int, int]:
        if handle.mig_devices:
            return pynvml.NVML_DEVICE_MIG_ENABLE, pynvml.NVML_DEVICE_MIG_ENABLE
        if handle.name.startswith("NVIDIA GeForce"):
            raise nvml_error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return pynvml.NVML_DEVICE_MIG_DISABLE, pynvml.NVML_DEVICE_MIG_DISABLE

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: FakeDevice) -> int:
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: FakeDevice, slot: int) -> FakeDevice:
        if slot not in handle.mig_devices:
            raise nvml_error(pynvml.NVML_ERROR_NOT_FOUND)
        return handle.mig_devices[slot]

    def nvmlDeviceGetGpuInstanceId(self, handle: FakeDevice) -> int:
        return handle.gpu_instance


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def scrape(source: NvmlGPUSource) -> dict:
    recorder = Recorder(Pricing(prices={}), Budgets(departments={}), mode="real", version="test", gpu_source=source)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(recorder)
    return families(generate_latest(registry).decode())


def gpu_values(fams: dict, name: str) -> dict[str, float]:
    return {s.labels["gpu"]: s.value for s in fams[name].samples}


def two_gpus() -> list[FakeDevice]:
    return [FakeDevice("GPU-aaaa", "NVIDIA H100 80GB HBM3", utilization=73, used=40 * GIB, power_mw=512_345,
                       temperature=71),
            FakeDevice("GPU-bbbb", "NVIDIA H100 80GB HBM3", utilization=0, used=1 * GIB, power_mw=70_000,
                       temperature=33)]


def test_gpus_present() -> None:
    fams = scrape(NvmlGPUSource(FakeNVML(two_gpus())))
    assert fams["llm_gpu_up"].samples[0].value == 1
    assert gpu_values(fams, "llm_gpu_utilization_ratio") == {"0": 0.73, "1": 0.0}
    assert gpu_values(fams, "llm_gpu_memory_used_bytes") == {"0": 40 * GIB, "1": 1 * GIB}
    assert gpu_values(fams, "llm_gpu_memory_total_bytes") == {"0": 80 * GIB, "1": 80 * GIB}
    assert gpu_values(fams, "llm_gpu_power_watts") == {"0": pytest.approx(512.345), "1": 70.0}
    assert gpu_values(fams, "llm_gpu_temperature_celsius") == {"0": 71, "1": 33}
    labels = {s.labels["gpu"]: s.labels for s in fams["llm_gpu_utilization_ratio"].samples}
    assert labels["0"] == {"gpu": "0", "uuid": "GPU-aaaa", "gpu_name": "NVIDIA H100 80GB HBM3"}


def test_no_driver_logs_once_and_retries(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeNVML(two_gpus(), init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    clock = Clock()
    source = NvmlGPUSource(fake, retry_s=60, clock=clock)
    with caplog.at_level(logging.INFO, logger="llm_exporter.gpu_nvml"):
        for _ in range(5):
            fams = scrape(source)
            assert fams["llm_gpu_up"].samples[0].value == 0
            assert fams["llm_gpu_utilization_ratio"].samples == []
        assert fake.init_calls == 1  # not retried on every scrape
        clock.now += 61
        scrape(source)
        assert fake.init_calls == 2
        fake.init_error = None  # the driver appears
        clock.now += 61
        assert scrape(source)["llm_gpu_up"].samples[0].value == 1
    events = [r.event for r in caplog.records]
    assert events == ["gpu_unavailable", "gpu_available"]
    (unavailable,) = [r for r in caplog.records if r.event == "gpu_unavailable"]
    assert "NVML Shared Library Not Found" in unavailable.getMessage()
    assert "llm_gpu_up is 0" in unavailable.getMessage()


def test_driver_present_but_no_gpu(caplog: pytest.LogCaptureFixture) -> None:
    source = NvmlGPUSource(FakeNVML([]), clock=Clock())
    with caplog.at_level(logging.INFO, logger="llm_exporter.gpu_nvml"):
        assert scrape(source)["llm_gpu_up"].samples[0].value == 0
        assert scrape(source)["llm_gpu_up"].samples[0].value == 0
    assert [r.event for r in caplog.records] == ["gpu_unavailable"]
    assert "no NVIDIA GPU" in caplog.records[0].getMessage()


def test_field_errors_leave_out_only_that_field(caplog: pytest.LogCaptureFixture) -> None:
    devices = two_gpus()
    devices[1].failing = {"power": pynvml.NVML_ERROR_NOT_SUPPORTED, "temperature": pynvml.NVML_ERROR_UNKNOWN}
    source = NvmlGPUSource(FakeNVML(devices))
    with caplog.at_level(logging.DEBUG, logger="llm_exporter.gpu_nvml"):
        for _ in range(3):
            fams = scrape(source)
    assert fams["llm_gpu_up"].samples[0].value == 1
    assert set(gpu_values(fams, "llm_gpu_power_watts")) == {"0"}
    assert set(gpu_values(fams, "llm_gpu_temperature_celsius")) == {"0"}
    assert set(gpu_values(fams, "llm_gpu_utilization_ratio")) == {"0", "1"}
    assert set(gpu_values(fams, "llm_gpu_memory_used_bytes")) == {"0", "1"}
    field_errors = [(r.field, r.levelname) for r in caplog.records if r.event == "gpu_field_error"]
    assert sorted(field_errors) == [("power", "DEBUG"), ("temperature", "WARNING")]  # once each, not per scrape


def test_identity_errors_still_give_a_labelled_reading() -> None:
    devices = two_gpus()
    devices[0].failing = {"uuid": pynvml.NVML_ERROR_UNKNOWN, "name": pynvml.NVML_ERROR_GPU_IS_LOST}
    fams = scrape(NvmlGPUSource(FakeNVML(devices)))
    labels = {s.labels["gpu"]: s.labels for s in fams["llm_gpu_memory_total_bytes"].samples}
    assert labels["0"] == {"gpu": "0", "uuid": "unknown", "gpu_name": "unknown"}


def test_one_gpu_cannot_be_opened() -> None:
    fake = FakeNVML(two_gpus())
    fake.handle_errors = {0: pynvml.NVML_ERROR_GPU_IS_LOST}
    fams = scrape(NvmlGPUSource(fake))
    assert fams["llm_gpu_up"].samples[0].value == 1
    assert set(gpu_values(fams, "llm_gpu_utilization_ratio")) == {"1"}
    fake.handle_errors = {0: pynvml.NVML_ERROR_GPU_IS_LOST, 1: pynvml.NVML_ERROR_GPU_IS_LOST}
    assert scrape(NvmlGPUSource(fake))["llm_gpu_up"].samples[0].value == 0


def test_driver_goes_away_and_comes_back(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeNVML(two_gpus())
    clock = Clock()
    source = NvmlGPUSource(fake, retry_s=30, clock=clock)
    with caplog.at_level(logging.INFO, logger="llm_exporter.gpu_nvml"):
        assert scrape(source)["llm_gpu_up"].samples[0].value == 1
        fake.count_error = pynvml.NVML_ERROR_DRIVER_NOT_LOADED
        assert scrape(source)["llm_gpu_up"].samples[0].value == 0
        assert fake.shutdown_calls == 1
        assert scrape(source)["llm_gpu_up"].samples[0].value == 0  # within the retry interval: no new attempt
        fake.count_error = None
        clock.now += 31
        assert scrape(source)["llm_gpu_up"].samples[0].value == 1
    assert [r.event for r in caplog.records] == ["gpu_available", "gpu_unavailable", "gpu_available"]


def test_mig_devices() -> None:
    parent = FakeDevice("GPU-mig-parent", "NVIDIA A100-SXM4-80GB", utilization=None, used=30 * GIB,
                        mig_devices={
                            0: FakeDevice("MIG-1111", "NVIDIA A100-SXM4-80GB MIG 3g.40gb", used=20 * GIB,
                                          total=40 * GIB, gpu_instance=1, utilization=None,
                                          failing={"power": pynvml.NVML_ERROR_NOT_SUPPORTED}),
                            2: FakeDevice("MIG-2222", "NVIDIA A100-SXM4-80GB MIG 2g.20gb", used=5 * GIB,
                                          total=20 * GIB, gpu_instance=5, utilization=None),
                        })
    consumer = FakeDevice("GPU-cccc", "NVIDIA GeForce RTX 4090", total=24 * GIB)
    fams = scrape(NvmlGPUSource(FakeNVML([parent, consumer])))
    assert fams["llm_gpu_up"].samples[0].value == 1
    total = {s.labels["gpu"]: (s.labels["uuid"], s.labels["gpu_name"], s.value)
             for s in fams["llm_gpu_memory_total_bytes"].samples}
    # memory of a MIG-enabled GPU is on its MIG devices only: summing the series counts each byte once
    assert total == {
        "0/mig1": ("MIG-1111", "NVIDIA A100-SXM4-80GB MIG 3g.40gb", 40 * GIB),
        "0/mig5": ("MIG-2222", "NVIDIA A100-SXM4-80GB MIG 2g.20gb", 20 * GIB),
        "1": ("GPU-cccc", "NVIDIA GeForce RTX 4090", 24 * GIB),
    }
    assert gpu_values(fams, "llm_gpu_memory_used_bytes") == {"0/mig1": 20 * GIB, "0/mig5": 5 * GIB, "1": 10 * GIB}
    assert sum(gpu_values(fams, "llm_gpu_memory_used_bytes").values()) == 35 * GIB
    # utilisation, power and temperature belong to the physical GPU; a MIG parent has no utilisation
    assert set(gpu_values(fams, "llm_gpu_utilization_ratio")) == {"1"}
    assert set(gpu_values(fams, "llm_gpu_power_watts")) == {"0", "1"}
    assert set(gpu_values(fams, "llm_gpu_temperature_celsius")) == {"0", "1"}


def test_real_mode_without_a_driver_keeps_running() -> None:
    """The real exporter in real mode on this machine: with no NVIDIA driver it serves /metrics
    with llm_gpu_up 0 and says why once. (On a GPU machine tests/test_gpu_real.py covers the rest.)"""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:
        pynvml.nvmlShutdown()
        pytest.skip("an NVIDIA driver is present here: tests/test_gpu_real.py covers real mode")
    with run_exporter("--mode", "real") as exporter:
        for _ in range(3):
            fams = families(requests.get(exporter.url + "/metrics", timeout=10).text)
        assert fams["llm_gpu_up"].samples[0].value == 0
        assert fams["llm_exporter_info"].samples[0].labels["mode"] == "real"
        assert "llm_mock_scenario" not in fams
        assert requests.get(exporter.url + "/readyz", timeout=5).ok
        lines = [json.loads(line) for line in exporter.log().splitlines() if line.startswith("{")]
    unavailable = [line for line in lines if line.get("event") == "gpu_unavailable"]
    assert len(unavailable) == 1
    assert "NVIDIA" in unavailable[0]["message"] or "NVML" in unavailable[0]["message"]

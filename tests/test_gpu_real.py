"""Real-mode GPU telemetry on a real NVIDIA GPU. Runs wherever a driver and a GPU are present
(`pytest -m gpu`); everywhere else every test is skipped with the reason NVML gave."""

from __future__ import annotations

import shutil
import subprocess

import pynvml
import pytest
import requests

from llm_exporter.gpu_nvml import NvmlGPUSource
from tests.support.metrics_text import families
from tests.support.processes import run_exporter

pytestmark = pytest.mark.gpu


def _gpu_count() -> tuple[int, str]:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return 0, f"no usable NVIDIA driver: {exc}"
    try:
        return pynvml.nvmlDeviceGetCount(), "the driver reports no GPU"
    finally:
        pynvml.nvmlShutdown()


COUNT, WHY = _gpu_count()
if COUNT == 0:
    print(f"tests/test_gpu_real.py skipped: {WHY}")
    pytestmark = [pytest.mark.gpu, pytest.mark.skip(reason=WHY)]


def test_collector_reads_every_gpu() -> None:
    readings = NvmlGPUSource().read()
    assert readings is not None
    whole = [r for r in readings if "/" not in r.index]
    assert [r.index for r in whole] == [str(i) for i in range(COUNT)]
    mig_parents = {r.index.split("/")[0] for r in readings if "/" in r.index}
    for reading in whole:
        assert reading.uuid.startswith("GPU-") and reading.name != "unknown"
        if reading.index not in mig_parents:  # a MIG parent's memory is reported by its MIG devices
            assert reading.memory_total_bytes and reading.memory_total_bytes > 0
            assert 0 <= (reading.memory_used_bytes or 0) <= reading.memory_total_bytes
        if reading.utilization_ratio is not None:
            assert 0.0 <= reading.utilization_ratio <= 1.0
        if reading.temperature_celsius is not None:
            assert 0 < reading.temperature_celsius < 120
        if reading.power_watts is not None:
            assert 0 < reading.power_watts < 2000
    for reading in readings:
        if "/mig" in reading.index:
            assert reading.uuid.startswith("MIG-")


def test_matches_nvidia_smi() -> None:
    if shutil.which("nvidia-smi") is None:
        pytest.skip("nvidia-smi is not installed")
    listed = subprocess.run(["nvidia-smi", "--query-gpu=uuid", "--format=csv,noheader"], capture_output=True,
                            text=True, check=True).stdout.split()
    readings = NvmlGPUSource().read() or []
    assert sorted(r.uuid for r in readings if "/" not in r.index) == sorted(listed)


def test_exporter_in_real_mode() -> None:
    with run_exporter("--mode", "real") as exporter:
        fams = families(requests.get(exporter.url + "/metrics", timeout=10).text)
    assert fams["llm_gpu_up"].samples[0].value == 1
    gpus = {s.labels["gpu"].split("/")[0] for s in fams["llm_gpu_memory_total_bytes"].samples}
    assert {str(i) for i in range(COUNT)} <= gpus, "every GPU (or its MIG devices) reports memory"
    assert all(s.labels["uuid"] and s.labels["gpu_name"] for s in fams["llm_gpu_memory_total_bytes"].samples)

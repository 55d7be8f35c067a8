"""Mock GPUs serving the self-hosted model: their utilisation follows the simulator's load."""

from __future__ import annotations

import random

from ..recorder import GPUReading, GPUSource
from .simulator import Simulator

GIB = 1024**3
GPU_NAME = "NVIDIA H100 80GB HBM3"
IDLE_UTILIZATION = 0.08


class MockGPUSource(GPUSource):
    def __init__(self, simulator: Simulator, count: int = 4, seed: int = 42) -> None:
        if count < 0:
            raise ValueError(f"mock GPU count must be >= 0, got {count}")
        self.simulator = simulator
        self.count = count
        rng = random.Random(seed)
        self._uuids = [f"GPU-{rng.getrandbits(128):032x}" for _ in range(count)]
        self._skew = [rng.uniform(-0.05, 0.05) for _ in range(count)]
        self._jitter = random.Random(seed + 1)

    def load(self, now: float) -> float:
        nominal = self.simulator.nominal_self_hosted_rate()
        return 0.0 if nominal == 0 else min(1.0, self.simulator.self_hosted_rate(now) / nominal)

    def read(self, now: float | None = None) -> list[GPUReading] | None:
        now = self.simulator.clock() if now is None else now
        load = self.load(now)
        readings = []
        for index in range(self.count):
            busy = IDLE_UTILIZATION + 0.85 * load * (1 + self._skew[index]) + self._jitter.uniform(-0.02, 0.02)
            utilization = min(1.0, max(0.0, busy))
            readings.append(
                GPUReading(
                    index=str(index),
                    uuid=self._uuids[index],
                    name=GPU_NAME,
                    utilization_ratio=round(utilization, 4),
                    memory_used_bytes=float(round((38 + 36 * utilization) * GIB)),
                    memory_total_bytes=float(80 * GIB),
                    power_watts=round(90 + 610 * utilization, 1),
                    temperature_celsius=round(32 + 43 * utilization, 1),
                )
            )
        return readings

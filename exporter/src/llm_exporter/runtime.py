"""Wires one exporter instance together from Settings: config, recorder, and the mode's sources."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from . import __version__
from .alert_webhook import NotificationLog
from .config import load_budgets, load_pricing
from .mock.gpus import MockGPUSource
from .mock.simulator import Simulator
from .recorder import Recorder
from .settings import Settings


@dataclass
class Runtime:
    settings: Settings
    recorder: Recorder
    registry: CollectorRegistry
    simulator: Simulator | None = None
    notifications: NotificationLog = field(default_factory=NotificationLog)


def build_runtime(settings: Settings) -> Runtime:
    """Load and validate configuration (raising ConfigError) and assemble the mode's parts."""
    pricing = load_pricing(settings.pricing_file)
    budgets = load_budgets(settings.budgets_file)
    recorder = Recorder(pricing, budgets, mode=settings.mode, version=__version__)
    simulator = None
    if settings.mode == "mock":
        simulator = Simulator(recorder, rps=settings.mock_rps, seed=settings.seed, scenario=settings.scenario)
        recorder.gpu_source = MockGPUSource(simulator, count=settings.mock_gpus, seed=settings.seed)
        recorder.scenario = lambda: simulator.scenario.name
    registry = CollectorRegistry(auto_describe=False)
    registry.register(recorder)
    return Runtime(settings=settings, recorder=recorder, registry=registry, simulator=simulator)

"""Wires one exporter instance together from Settings: config, recorder, and the mode's sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from . import __version__
from .alert_webhook import NotificationLog, WebhookToken
from .config import default_config_file, load_budgets, load_pricing
from .extras import require
from .labels import LabelGuard
from .mock.dialects import Dialects
from .mock.gpus import MockGPUSource
from .mock.simulator import Simulator
from .objectives import ObjectivesCollector, load_objectives
from .recorder import Recorder
from .settings import Settings
from .telemetry.pipeline import Telemetry


@dataclass
class Runtime:
    settings: Settings
    recorder: Recorder
    registry: CollectorRegistry
    simulator: Simulator | None = None
    notifications: NotificationLog = field(default_factory=NotificationLog)
    proxy: Any = None  # proxy mode: llm_exporter.proxy.ProxyService (its routes and upstream client)
    telemetry: Telemetry | None = None  # call logs, traces and their OTLP export
    webhook_token: WebhookToken | None = None  # what POST /alertmanager/webhook requires, if anything
    dialects: Dialects | None = None  # mock mode: the fleet in other projects' exposition (/sources/...)


def build_runtime(settings: Settings) -> Runtime:
    """Load and validate configuration (raising ConfigError) and assemble the mode's parts."""
    pricing = load_pricing(settings.pricing_file or default_config_file("pricing.yaml"))
    webhook_token = WebhookToken.from_file(settings.webhook_token_file) if settings.webhook_token_file else None
    budgets = load_budgets(settings.budgets_file or default_config_file("budgets.yaml"))
    objectives = load_objectives(settings.objectives_file) if settings.objectives_file else ()
    recorder = Recorder(pricing, budgets, mode=settings.mode, version=__version__,
                        guard=LabelGuard(dict(settings.label_bounds)), max_label_sets=settings.max_label_sets)
    simulator = dialects = None
    if settings.mode == "mock":
        simulator = Simulator(recorder, rps=settings.mock_rps, seed=settings.seed, scenario=settings.scenario)
        recorder.gpu_source = MockGPUSource(simulator, count=settings.mock_gpus, seed=settings.seed)
        recorder.scenario = lambda: simulator.scenario.name
        dialects = Dialects(recorder, budgets, recorder.gpu_source)
    proxy = _wire_real_or_proxy(settings, recorder)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(recorder)
    registry.register(ObjectivesCollector(objectives))
    # Telemetry: trace policy + per-call logs/spans listener on the one recording path.
    telemetry = Telemetry.from_env(recorder, environment=settings.env, mode=settings.mode).install()
    return Runtime(settings=settings, recorder=recorder, registry=registry, simulator=simulator, proxy=proxy,
                   telemetry=telemetry, dialects=dialects, webhook_token=webhook_token)


# -- real and proxy modes ------------------------------------------------------------------


def _wire_real_or_proxy(settings: Settings, recorder: Recorder) -> Any:
    """real: GPUs from NVML (llm_gpu_up 0 without a driver). proxy: the metering proxy, returned."""
    if settings.mode == "real":
        require("gpu", "real mode (GPU telemetry through NVML)", "pynvml")
        from .gpu_nvml import NvmlGPUSource

        recorder.gpu_source = NvmlGPUSource()
        recorder.gpu_source.read()  # log now, not at the first scrape, whether GPUs are readable
        return None
    if settings.mode == "proxy":
        from .proxy import ProxyConfig, ProxyService

        assert settings.upstream_url  # parse_settings insists on it
        return ProxyService(recorder, ProxyConfig(
            upstream_url=settings.upstream_url, provider=settings.provider,
            default_app_id=settings.default_app_id, default_department=settings.default_department,
            timeout_s=settings.upstream_timeout, max_request_bytes=settings.max_request_bytes,
        ))
    return None

"""Telemetry settings from the environment: the standard OTEL_* variables plus a few of ours.

Export of a signal is on when an OTLP endpoint applies to it (OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT
used verbatim, or OTEL_EXPORTER_OTLP_ENDPOINT as a base with v1/traces or v1/logs appended),
OTEL_SDK_DISABLED is not "true" and OTEL_<SIGNAL>_EXPORTER is not "none". Without an endpoint
nothing is exported (rather than the SDK's localhost:4318 default): a local run or a test does
not keep failing against a collector that is not there. Logs go to stdout either way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..config import ConfigError
from ..logs import LEVELS

SOURCE = "environment"
DEFAULT_SERVICE_NAME = "llm-exporter"
DEFAULT_SAMPLE_RATIO = 0.1
DEFAULT_SLOW_SECONDS = 10.0
DEFAULT_EXPORT_TIMEOUT_S = 3.0
MAX_EXPORT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class QueueSettings:
    """A bounded export queue: at most `max_queue` records wait; a batch is sent every `delay_s`
    (or as soon as `max_batch` wait); one export attempt, retries included, lasts `timeout_s`."""

    max_queue: int = 2048
    max_batch: int = 512
    delay_s: float = 1.0
    timeout_s: float = DEFAULT_EXPORT_TIMEOUT_S


@dataclass(frozen=True)
class TelemetryConfig:
    sample_ratio: float = DEFAULT_SAMPLE_RATIO
    slow_seconds: float = DEFAULT_SLOW_SECONDS
    preview_chars: int = 0
    traces_endpoint: str | None = None
    logs_endpoint: str | None = None
    traces_queue: QueueSettings = QueueSettings()
    logs_queue: QueueSettings = QueueSettings()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TelemetryConfig:
        env = os.environ if environ is None else environ
        disabled = _flag(env, "OTEL_SDK_DISABLED")
        return cls(
            sample_ratio=_sample_ratio(env),
            slow_seconds=_number(env, "LLM_EXPORTER_TRACE_SLOW_SECONDS", DEFAULT_SLOW_SECONDS, minimum=0.0),
            preview_chars=int(_number(env, "LLM_EXPORTER_LOG_PREVIEW_CHARS", 0, minimum=0, integer=True)),
            traces_endpoint=None if disabled else _endpoint(env, "TRACES", "v1/traces"),
            logs_endpoint=None if disabled else _endpoint(env, "LOGS", "v1/logs"),
            traces_queue=_queue(env, "BSP", "TRACES"),
            logs_queue=_queue(env, "BLRP", "LOGS"),
        )


def log_level(environment: str, environ: Mapping[str, str] | None = None) -> str:
    """LLM_EXPORTER_LOG_LEVEL when set, else debug in development and info in production."""
    env = os.environ if environ is None else environ
    raw = env.get("LLM_EXPORTER_LOG_LEVEL", "").strip().lower()
    if not raw:
        return "debug" if environment == "development" else "info"
    if raw not in LEVELS:
        raise ConfigError(SOURCE, "LLM_EXPORTER_LOG_LEVEL", f"{raw!r} is not one of {', '.join(LEVELS)}")
    return raw


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() == "true"


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float | None = None,
            maximum: float | None = None, integer: bool = False) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise ConfigError(SOURCE, name, f"{raw!r} is not a {'whole ' if integer else ''}number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(SOURCE, name, f"{raw!r} is not a finite number")
    if minimum is not None and value < minimum:
        raise ConfigError(SOURCE, name, f"{raw} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(SOURCE, name, f"{raw} is above the maximum {maximum}")
    return value


def _sample_ratio(env: Mapping[str, str]) -> float:
    """LLM_EXPORTER_TRACE_SAMPLE_RATIO; else OTEL_TRACES_SAMPLER_ARG when OTEL_TRACES_SAMPLER is
    a ratio sampler; else always_on/always_off as 1/0; else the default 0.1."""
    if env.get("LLM_EXPORTER_TRACE_SAMPLE_RATIO", "").strip():
        return _number(env, "LLM_EXPORTER_TRACE_SAMPLE_RATIO", DEFAULT_SAMPLE_RATIO, minimum=0.0, maximum=1.0)
    sampler = env.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if sampler in ("traceidratio", "parentbased_traceidratio"):
        return _number(env, "OTEL_TRACES_SAMPLER_ARG", 1.0, minimum=0.0, maximum=1.0)
    if sampler in ("always_on", "parentbased_always_on"):
        return 1.0
    if sampler in ("always_off", "parentbased_always_off"):
        return 0.0
    return DEFAULT_SAMPLE_RATIO


def _endpoint(env: Mapping[str, str], signal: str, path: str) -> str | None:
    if env.get(f"OTEL_{signal}_EXPORTER", "otlp").strip().lower() in ("none", ""):
        return None
    specific = env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT", "").strip()
    if specific:
        return specific
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if base:
        return f"{base.removesuffix('/')}/{path}"
    return None


def _queue(env: Mapping[str, str], prefix: str, signal: str) -> QueueSettings:
    """OTEL_BSP_* (spans) / OTEL_BLRP_* (logs) sizes and delay (ms); timeout in seconds from
    OTEL_EXPORTER_OTLP_<SIGNAL>_TIMEOUT or OTEL_EXPORTER_OTLP_TIMEOUT (as the Python SDK reads
    them), default 3 s, capped at 30 s so a hanging backend never holds a batch for long."""
    defaults = QueueSettings()
    max_queue = int(_number(env, f"OTEL_{prefix}_MAX_QUEUE_SIZE", defaults.max_queue, minimum=1, integer=True))
    max_batch = int(_number(env, f"OTEL_{prefix}_MAX_EXPORT_BATCH_SIZE", defaults.max_batch, minimum=1,
                            integer=True))
    delay_ms = _number(env, f"OTEL_{prefix}_SCHEDULE_DELAY", defaults.delay_s * 1000, minimum=1.0)
    timeout_name = f"OTEL_EXPORTER_OTLP_{signal}_TIMEOUT"
    if not env.get(timeout_name, "").strip():
        timeout_name = "OTEL_EXPORTER_OTLP_TIMEOUT"
    timeout = _number(env, timeout_name, DEFAULT_EXPORT_TIMEOUT_S, minimum=0.001)
    return QueueSettings(max_queue=max_queue, max_batch=min(max_batch, max_queue), delay_s=delay_ms / 1000,
                         timeout_s=min(timeout, MAX_EXPORT_TIMEOUT_S))

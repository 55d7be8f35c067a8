"""The process-wide recorder of an instrumented service, created on first use."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry

from .. import __version__
from ..config import Budgets, Pricing, default_config_file, load_pricing
from ..extras import MissingExtraError
from ..recorder import Recorder

log = logging.getLogger("llm_exporter.instrument")

MODE = "instrument"  # llm_exporter_info{mode="instrument"} tells a service's own /metrics apart
DEFAULT_APP_ID = "unknown"
DEFAULT_DEPARTMENT = "unknown"
_SHUTDOWN_S = 2.0  # for flushing what a replaced telemetry pipeline still holds, at most

_lock = threading.Lock()
_first_use = threading.Lock()
_recorder: Recorder | None = None
_telemetry: Any = None  # the telemetry pipeline (llm_exporter.telemetry.pipeline.Telemetry) of _recorder
_defaults = {"app_id": DEFAULT_APP_ID, "department": DEFAULT_DEPARTMENT}


def _pricing(path: str | Path | None) -> Pricing:
    """The explicit file, else $LLM_EXPORTER_PRICING_FILE, else the packaged default pricing.yaml.
    A file that is named but missing or invalid raises ConfigError (as the exporter stops at
    start-up): a service recording every call unpriced because of a typo is worse."""
    chosen = path or os.environ.get("LLM_EXPORTER_PRICING_FILE") or default_config_file("pricing.yaml")
    return load_pricing(chosen)


def configure(
    *,
    app_id: str | None = None,
    department: str | None = None,
    pricing_file: str | Path | None = None,
    registry: CollectorRegistry | None = REGISTRY,
    recorder: Recorder | None = None,
    telemetry: bool = True,
) -> Recorder:
    """Set up (or replace) the recorder behind `track_llm_call` and `instrument_openai`.

    app_id/department default to $LLM_EXPORTER_DEFAULT_APP_ID / $LLM_EXPORTER_DEFAULT_DEPARTMENT,
    then "unknown". The recorder is registered with `registry` (prometheus_client's default, so an
    existing `start_http_server`/`make_asgi_app` exposes it too); pass None to register nowhere.
    Replacing the recorder shuts down the telemetry pipeline of the one it replaces.
    """
    global _recorder, _telemetry
    with _lock:
        _defaults["app_id"] = app_id or os.environ.get("LLM_EXPORTER_DEFAULT_APP_ID") or DEFAULT_APP_ID
        _defaults["department"] = (department or os.environ.get("LLM_EXPORTER_DEFAULT_DEPARTMENT")
                                   or DEFAULT_DEPARTMENT)
        previous_telemetry = None
        if recorder is not _recorder:
            previous_telemetry, _telemetry = _telemetry, None
        if recorder is None:
            recorder = Recorder(_pricing(pricing_file), Budgets(departments={}), mode=MODE, version=__version__)
            if telemetry:
                _telemetry = _attach_telemetry(recorder)
        if _recorder is not None and _recorder is not recorder and registry is not None:
            with contextlib.suppress(KeyError):
                registry.unregister(_recorder)
        if registry is not None:
            with contextlib.suppress(ValueError):  # already registered: configure() twice, same recorder
                registry.register(recorder)
        _recorder = recorder
    if previous_telemetry is not None:  # its export threads would otherwise run for the process's life
        previous_telemetry.shutdown(_SHUTDOWN_S)
    return recorder


def _attach_telemetry(recorder: Recorder) -> Any:
    """A log line and (with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set) spans for every recorded call:
    the exporter's own telemetry pipeline, configured from the OTEL_* / LLM_EXPORTER_* environment."""
    from ..telemetry.config import log_level
    from ..telemetry.pipeline import Telemetry  # the OpenTelemetry SDK loads on first use only

    package = logging.getLogger("llm_exporter")
    if package.level == logging.NOTSET:  # the service's own logging setup wins when it set a level
        package.setLevel(log_level("production").upper())  # $LLM_EXPORTER_LOG_LEVEL, else info
    telemetry = Telemetry.from_env(recorder, mode=MODE)
    try:
        return telemetry.install()
    except MissingExtraError as exc:  # OTLP endpoints set, OpenTelemetry not installed: metrics and logs go on
        log.warning("%s; spans and OTLP logs are not exported", exc, extra={"event": "telemetry_unavailable"})
        unexported = dataclasses.replace(telemetry.config, traces_endpoint=None, logs_endpoint=None)
        return Telemetry(recorder, unexported, mode=MODE).install()


def flush_telemetry(timeout: float = 3.0) -> bool:
    """Send the spans and log records still queued for export now, waiting at most `timeout`
    seconds (before a short-lived program exits, say). True when nothing is left; also True
    when there is no telemetry pipeline."""
    telemetry = _telemetry
    return True if telemetry is None else telemetry.flush(timeout)


def get_recorder() -> Recorder:
    """The configured recorder; the first call without `configure()` configures from the environment."""
    if _recorder is None:
        with _first_use:
            if _recorder is None:
                configure()
    assert _recorder is not None
    return _recorder


def default_app_id() -> str:
    return _defaults["app_id"]


def default_department() -> str:
    return _defaults["department"]

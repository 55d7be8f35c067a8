"""Optional parts of the package and the extra that installs each.

The core (`pip install llm-exporter`) is what instrumenting a service needs: the recorder, the
library and /metrics. Everything else is behind an extra:

    tracing   spans and OTLP log export      opentelemetry-sdk, -exporter-otlp-proto-http
    openai    the OpenAI SDK the wrapper is tested with (instrument_openai needs only your client)
    server    the llm-exporter service        fastapi, uvicorn, fastapi-offline (/docs)
    proxy     --mode proxy                    server + aiohttp, uvloop, httptools
    gpu       --mode real (NVML)              server + nvidia-ml-py
    all       everything the container image runs

Code that needs an optional part imports it through `require()` (or catches the ImportError
and raises `MissingExtraError`), so a missing part fails with the command that installs it.
"""

from __future__ import annotations

import importlib.util

PACKAGE = "llm-exporter"


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""

    def __init__(self, extra: str, feature: str, missing: str | None = None) -> None:
        self.extra = extra
        self.feature = feature
        what = f" ({missing} is not installed)" if missing else ""
        super().__init__(f"{feature} needs the '{extra}' extra{what}: pip install '{PACKAGE}[{extra}]'")


def require(extra: str, feature: str, *modules: str) -> None:
    """Raise MissingExtraError unless every module can be imported (nothing is imported here)."""
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package is missing, or a broken install
            found = False
        if not found:
            raise MissingExtraError(extra, feature, module)

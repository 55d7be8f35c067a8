"""OpenAI-compatible metering proxy (`llm-exporter --mode proxy --upstream-url URL`)."""

from ..extras import require

require("proxy", "the metering proxy (--mode proxy)", "aiohttp", "starlette")

from .service import ROUTES, ProxyConfig, ProxyService, validate_upstream  # noqa: E402 - after the check

__all__ = ["ROUTES", "ProxyConfig", "ProxyService", "validate_upstream"]

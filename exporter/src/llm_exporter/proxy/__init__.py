"""OpenAI-compatible metering proxy (`llm-exporter --mode proxy --upstream-url URL`)."""

from .service import ROUTES, ProxyConfig, ProxyService, validate_upstream

__all__ = ["ROUTES", "ProxyConfig", "ProxyService", "validate_upstream"]

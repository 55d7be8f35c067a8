"""LLM observability exporter: one metric contract for simulated and real LLM traffic."""

__version__ = "0.1.0"

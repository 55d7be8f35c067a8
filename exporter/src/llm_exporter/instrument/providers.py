"""The `provider` label for an OpenAI-compatible endpoint, derived from its host."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from ..labels import sanitise

# Host suffix -> provider, longest suffix first wins.
KNOWN_HOSTS = {
    "api.openai.com": "openai",
    "openai.azure.com": "azure_openai",
    "api.anthropic.com": "anthropic",
    "generativelanguage.googleapis.com": "google",
    "aiplatform.googleapis.com": "google",
    "api.mistral.ai": "mistral",
    "api.groq.com": "groq",
    "api.together.xyz": "together",
    "api.together.ai": "together",
    "api.deepseek.com": "deepseek",
    "api.fireworks.ai": "fireworks",
    "openrouter.ai": "openrouter",
    "api.perplexity.ai": "perplexity",
    "api.x.ai": "xai",
    "api.cohere.com": "cohere",
    "api.cohere.ai": "cohere",
    "inference.ai.azure.com": "azure",
    "models.inference.ai.azure.com": "azure",
}
KNOWN_PORTS = {11434: "ollama"}  # Ollama's default port; vLLM's 8000 is too common to claim
SELF_HOSTED_NAMES = ("vllm", "ollama", "tgi", "llamacpp", "llama-cpp", "lmstudio", "sglang", "localai")


def provider_from_url(url: str) -> str:
    """openai for api.openai.com, vllm for http://vllm:8000/v1, self_hosted for an address."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    host = (parts.hostname or "").lower().rstrip(".")
    for suffix in sorted(KNOWN_HOSTS, key=len, reverse=True):
        if host == suffix or host.endswith("." + suffix):
            return KNOWN_HOSTS[suffix]
    for name in SELF_HOSTED_NAMES:
        if name in host:
            return name.replace("-", "")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port in KNOWN_PORTS:
        return KNOWN_PORTS[port]
    if not host or host == "localhost" or _is_address(host):
        return "self_hosted"
    labels = host.split(".")
    name = labels[-2] if len(labels) >= 2 and labels[0] in ("api", "www", "llm", "inference") else labels[0]
    return sanitise(name)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True

"""The simulated fleet: models with their own latency profiles, and the apps that call them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelProfile:
    """Medians of a model's behaviour; the simulator draws log-normal values around them."""

    provider: str
    model: str
    ttft_s: float
    tpot_s: float
    output_tokens: int
    self_hosted: bool = False


@dataclass(frozen=True)
class App:
    """A calling application: its department, traffic share, models and typical prompt size."""

    app_id: str
    department: str
    weight: float
    models: tuple[tuple[str, float], ...]
    input_tokens: int
    streaming_share: float


MODELS = {
    p.model: p
    for p in (
        ModelProfile("openai", "gpt-4o", ttft_s=0.45, tpot_s=0.012, output_tokens=350),
        ModelProfile("openai", "gpt-4o-mini", ttft_s=0.30, tpot_s=0.008, output_tokens=300),
        ModelProfile("anthropic", "claude-sonnet-4", ttft_s=0.70, tpot_s=0.014, output_tokens=420),
        ModelProfile("anthropic", "claude-opus-4", ttft_s=0.80, tpot_s=0.022, output_tokens=380),
        ModelProfile("google", "gemini-2.0-flash", ttft_s=0.25, tpot_s=0.005, output_tokens=300),
        ModelProfile("vllm", "llama-3.1-70b-instruct", ttft_s=0.15, tpot_s=0.020, output_tokens=280, self_hosted=True),
    )
}

APPS = (
    App("support-bot", "support", 0.30, (("gpt-4o-mini", 0.6), ("llama-3.1-70b-instruct", 0.4)), 1_200, 0.9),
    App("code-assistant", "engineering", 0.25, (("claude-sonnet-4", 0.6), ("gpt-4o", 0.4)), 3_000, 0.95),
    App("doc-search", "engineering", 0.20, (("gemini-2.0-flash", 0.5), ("llama-3.1-70b-instruct", 0.5)), 2_500, 0.5),
    App("sales-email", "sales", 0.15, (("gpt-4o", 0.7), ("claude-opus-4", 0.3)), 800, 0.3),
    App("research-agent", "research", 0.06, (("claude-sonnet-4", 0.8), ("claude-opus-4", 0.2)), 4_000, 0.8),
)

# Only present in the budget_overrun scenario: an agent stuck in a loop re-sending a huge context.
RUNAWAY_APP = App("runaway-agent", "research", 0.0, (("claude-opus-4", 1.0),), 150_000, 1.0)

# The layers a call passes through, outermost first: every app calls through one gateway (an
# OpenAI-compatible proxy such as LiteLLM); a self-hosted model is then served by an inference
# engine (vLLM, SGLang, TGI or NIM) on the mock GPUs, while hosted models go to their provider.
GATEWAY = "gateway"
ENGINE = "engine"


def serving_layers(model: str) -> tuple[str, ...]:
    """Which layers of the mock fleet saw a call to `model`: ("gateway",) or ("gateway", "engine")."""
    profile = MODELS.get(model)
    return (GATEWAY, ENGINE) if profile is not None and profile.self_hosted else (GATEWAY,)

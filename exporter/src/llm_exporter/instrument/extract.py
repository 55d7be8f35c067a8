"""Read usage, first-token and finish reason from OpenAI-format responses and stream chunks.

Works on parsed JSON (dicts) and on the OpenAI SDK's pydantic objects alike, so the proxy (bytes
off the wire) and the client wrapper (SDK objects) agree on what a token and a usage block are.
"""

from __future__ import annotations

from typing import Any


def field(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def usage_tokens(obj: Any) -> tuple[int, int] | None:
    """(input, output) tokens from a response or chunk carrying a usage block, else None."""
    usage = field(obj, "usage")
    if usage is None:
        return None
    prompt = field(usage, "prompt_tokens")
    if prompt is None:
        prompt = field(usage, "input_tokens")
    completion = field(usage, "completion_tokens")
    if completion is None:
        completion = field(usage, "output_tokens")
    if prompt is None and completion is None:
        return None
    return _int(prompt), _int(completion)


def _int(value: Any) -> int:
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        return 0


_DELTA_KEYS = ("content", "tool_calls", "function_call", "refusal", "reasoning_content", "reasoning", "audio")


def has_token(chunk: Any) -> bool:
    """True when a stream chunk carries generated output (content, tool call, refusal, reasoning)."""
    for choice in field(chunk, "choices") or ():
        if field(choice, "text"):  # legacy completions
            return True
        delta = field(choice, "delta")
        if delta is not None and any(field(delta, key) for key in _DELTA_KEYS):
            return True
    return False


def finish_reason(obj: Any) -> str | None:
    """The first choice's finish reason in a response or chunk, if it has one."""
    for choice in field(obj, "choices") or ():
        reason = field(choice, "finish_reason")
        if reason:
            return str(reason)
    return None


def response_model(obj: Any) -> str | None:
    model = field(obj, "model")
    return str(model) if model else None

"""Read usage, first-token and finish reason from OpenAI-format responses and stream chunks.

Works on parsed JSON (dicts) and on the SDKs' pydantic objects alike, so the proxy (bytes off the
wire) and the client wrapper (SDK objects) agree on what a token and a usage block are. Usage
blocks of Anthropic and Gemini responses are read too (for `track_llm_call` around their SDKs).

Nothing here raises on a structurally odd response (`"choices": 5`, `"usage": "x"`, a token
count of `Infinity` or `1e400`): a field of the wrong type is read as absent, a token count that
is not a finite whole number between 0 and `MAX_TOKENS` as unknown.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

# More tokens than any single call has ever had: a larger count is a bogus value, read as unknown
# (it would otherwise put an absurd cost on the counters, or overflow the float conversion).
from ..recorder import MAX_TOKENS
from ..tokens import TokenDetails


def field(obj: Any, key: str) -> Any:
    """`obj[key]` of a dict, `obj.key` of anything else (None when absent). None, numbers,
    strings and lists have no attribute of any name read here, so they read as absent too.

    A field a pydantic model (the SDKs' responses) does not have is looked up in its
    `__pydantic_extra__` directly: `getattr` would go through the model's `__getattr__`, which
    costs 40 times a present field's read (and most reads here are of absent fields)."""
    if isinstance(obj, dict):
        return obj.get(key)
    values = getattr(obj, "__dict__", None)
    if values is not None and key in values:
        return values[key]
    extra = getattr(obj, "__pydantic_extra__", None)
    if type(extra) is dict and not _class_attribute(type(obj), key):
        return extra.get(key)
    return getattr(obj, key, None)


def private_field(obj: Any, key: str) -> Any:
    """A private attribute (`_request_id` of the OpenAI SDK's responses), read as `field` reads."""
    private = getattr(obj, "__pydantic_private__", None)
    if type(private) is dict and not _class_attribute(type(obj), key):
        return private.get(key)
    return getattr(obj, key, None)


@functools.lru_cache(maxsize=1024)
def _class_attribute(cls: type, key: str) -> bool:
    """Whether `cls` (or a base) defines `key` itself (a property, say), which then wins."""
    return any(key in klass.__dict__ for klass in cls.__mro__)


def _choices(obj: Any) -> list[Any] | tuple[Any, ...]:
    choices = field(obj, "choices")
    return choices if isinstance(choices, (list, tuple)) else ()


def token_count(value: Any) -> int | None:
    """A token count as an int, or None when it is absent or not a plausible count (negative,
    fractional-infinite, NaN, not a number, or more than MAX_TOKENS)."""
    if type(value) is int:  # the usual case
        return value if 0 <= value <= MAX_TOKENS else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
    elif not isinstance(value, int):
        try:
            value = float(value)  # numeric strings, Decimal, numpy scalars
        except (TypeError, ValueError, OverflowError):
            return None
        if not math.isfinite(value):
            return None
    count = int(value)
    return count if 0 <= count <= MAX_TOKENS else None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts read from one usage block: each direction's whole total (None when the block
    does not say) and the separately priced classes it reported (None when it reported none)."""

    input_tokens: int | None
    output_tokens: int | None
    details: TokenDetails | None = None


def _count(obj: Any, *path: str) -> int | None:
    """A plausible token count at `obj.path[0].path[1]...`, else None."""
    for key in path:
        obj = field(obj, key)
        if obj is None:
            return None
    return token_count(obj)


def _details(**counts: int | None) -> TokenDetails | None:
    known = {name: count for name, count in counts.items() if count}
    return TokenDetails(**known) if known else None


def _anthropic(usage: Any) -> Usage:
    """Anthropic Messages: `input_tokens` leaves out the cache reads and writes, which are reported
    beside it; the input total recorded is their sum, as every other provider counts it."""
    fresh = _count(usage, "input_tokens")
    read = _count(usage, "cache_read_input_tokens")
    written = _count(usage, "cache_creation_input_tokens")
    parts = [n for n in (fresh, read, written) if n is not None]
    total = sum(parts) if parts else None
    return Usage(total, _count(usage, "output_tokens"), _details(cached_input=read, cache_write_input=written))


def _gemini(usage: Any) -> Usage:
    """Gemini `usageMetadata` (REST) or `usage_metadata` (google-genai): the prompt count includes
    the cached tokens; the output total is the candidates plus the thinking tokens."""
    def count(camel: str, snake: str) -> int | None:
        value = _count(usage, camel)
        return value if value is not None else _count(usage, snake)

    candidates = count("candidatesTokenCount", "candidates_token_count")
    thoughts = count("thoughtsTokenCount", "thoughts_token_count")
    output = None if candidates is None and thoughts is None else (candidates or 0) + (thoughts or 0)
    cached = count("cachedContentTokenCount", "cached_content_token_count")
    return Usage(count("promptTokenCount", "prompt_token_count"), output,
                 _details(cached_input=cached, reasoning_output=thoughts))


def usage(obj: Any) -> Usage | None:
    """The usage of a response or stream chunk, or None when it carries no usage block.

    Reads OpenAI Chat Completions (`prompt_tokens`, `completion_tokens` and their `*_details`:
    cached_tokens, cache_write_tokens, audio_tokens, reasoning_tokens; openai-python's
    types/completion_usage.py),
    OpenAI Responses (`input_tokens`, `output_tokens` and their `*_details`), DeepSeek
    (`prompt_cache_hit_tokens`), Anthropic Messages (`cache_read_input_tokens`,
    `cache_creation_input_tokens`) and Gemini (`usageMetadata`). A count that is missing or not
    plausible is None (unknown), so it does not overwrite a known one."""
    block = field(obj, "usage")
    if block is None:
        gemini = field(obj, "usageMetadata") or field(obj, "usage_metadata")
        return None if gemini is None else _gemini(gemini)
    if field(block, "cache_read_input_tokens") is not None or field(block, "cache_creation_input_tokens") is not None:
        return _anthropic(block)
    prompt = _count(block, "prompt_tokens")
    if prompt is None:
        prompt = _count(block, "input_tokens")
    completion = _count(block, "completion_tokens")
    if completion is None:
        completion = _count(block, "output_tokens")
    if prompt is None and completion is None:
        return None
    input_details = field(block, "prompt_tokens_details") or field(block, "input_tokens_details")
    output_details = field(block, "completion_tokens_details") or field(block, "output_tokens_details")
    cached = _count(input_details, "cached_tokens")
    if cached is None:
        cached = _count(block, "prompt_cache_hit_tokens")
    return Usage(prompt, completion, _details(
        cached_input=cached, cache_write_input=_count(input_details, "cache_write_tokens"),
        audio_input=_count(input_details, "audio_tokens"),
        reasoning_output=_count(output_details, "reasoning_tokens"),
        audio_output=_count(output_details, "audio_tokens"),
    ))


def routine_chunk(chunk: Any) -> bool:
    """True for a stream chunk with one choice, no finish reason and no usage: once the first
    token has been seen, such a chunk (all but the last one or two of a stream) cannot change what
    is recorded. Three field reads; anything else is for the caller to read in full."""
    if isinstance(chunk, dict):
        if chunk.get("usage") is not None:
            return False
        choices = chunk.get("choices")
    else:
        if getattr(chunk, "usage", None) is not None:
            return False
        choices = getattr(chunk, "choices", None)
    if type(choices) is not list or len(choices) != 1:
        return False
    choice = choices[0]
    if isinstance(choice, dict):
        return choice.get("finish_reason") is None
    return getattr(choice, "finish_reason", None) is None


_DELTA_KEYS = ("content", "tool_calls", "function_call", "refusal", "reasoning_content", "reasoning", "audio")


def has_token(chunk: Any) -> bool:
    """True when a stream chunk carries generated output (content, tool call, refusal, reasoning)."""
    for choice in _choices(chunk):
        if field(choice, "text"):  # legacy completions
            return True
        delta = field(choice, "delta")
        if delta is not None and any(field(delta, key) for key in _DELTA_KEYS):
            return True
    return False


def finish_reason(obj: Any) -> str | None:
    """The first choice's finish reason in a response or chunk, if it has one."""
    for choice in _choices(obj):
        reason = field(choice, "finish_reason")
        if reason and isinstance(reason, str):
            return reason[:64]
    return None


def response_model(obj: Any) -> str | None:
    model = field(obj, "model")
    return model[:256] if isinstance(model, str) and model else None


def ask_for_stream_usage(params: dict[str, Any]) -> bool:
    """For a streamed request: ask for the final usage chunk (`stream_options.include_usage`)
    unless the caller already said either way. `params` is the request's JSON object (proxy) or
    the SDK call's keyword arguments (client wrapper); a caller's `stream_options` dict is
    replaced by a copy, never modified. True when `params` was changed.

    A `stream_options` that is neither absent/None (nor the SDK's NOT_GIVEN) nor an object is
    left for the upstream to reject."""
    options = params.get("stream_options")
    if isinstance(options, dict):
        if "include_usage" in options:
            return False
        params["stream_options"] = {**options, "include_usage": True}
        return True
    if options is None or (not options and not isinstance(options, (str, int, float, list))):
        params["stream_options"] = {"include_usage": True}
        return True
    return False

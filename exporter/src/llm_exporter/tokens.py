"""Token classes: the parts of a call's input and output tokens that providers bill differently.

A call's `input_tokens` and `output_tokens` are always the direction's whole total, as the
provider bills it (cached, audio and reasoning tokens included). `TokenDetails` says how many of
those tokens fall in each class that has a price of its own:

    cached_input       input tokens read from the provider's prompt cache
                       (OpenAI `prompt_tokens_details.cached_tokens`, Anthropic `cache_read_input_tokens`,
                       DeepSeek `prompt_cache_hit_tokens`)
    cache_write_input  input tokens written to the prompt cache (Anthropic `cache_creation_input_tokens`,
                       OpenAI `prompt_tokens_details.cache_write_tokens`)
    audio_input        audio input tokens (OpenAI `prompt_tokens_details.audio_tokens`)
    reasoning_output   output tokens spent reasoning (OpenAI `completion_tokens_details.reasoning_tokens`)
    audio_output       audio output tokens (OpenAI `completion_tokens_details.audio_tokens`)

Each class is part of its direction's total (contract.TOKEN_CLASSES names the direction), so
adding the classes never changes `llm_tokens_total`; the pricing file prices each class, and a
class without a price is billed at its direction's base price.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from . import contract


@dataclass(frozen=True, slots=True)
class TokenDetails:
    """Token counts per class; each is included in its direction's total (see the module doc)."""

    cached_input: int = 0
    cache_write_input: int = 0
    audio_input: int = 0
    reasoning_output: int = 0
    audio_output: int = 0

    def items(self) -> list[tuple[str, int]]:
        """(class, count) for the classes with a count above zero."""
        return [(name, count) for name in contract.TOKEN_CLASSES if (count := getattr(self, name))]

    def replace(self, **counts: int) -> TokenDetails:
        return dataclasses.replace(self, **counts)


CLASS_NAMES = tuple(f.name for f in dataclasses.fields(TokenDetails))

"""One recorded call as every dialect sees it, with its label set bounded like the contract's."""

from __future__ import annotations

from dataclasses import dataclass

from ...labels import OVERFLOW_VALUE
from ...recorder import RecordedCall

# Failures that happen inside the engine, and the finish reason vLLM gives them (vllm/v1/engine/
# __init__.py:37). Every other failure of the mock (rate limits, authentication, content filter,
# invalid or too long requests, "other") is answered by the gateway: the engine never sees it.
ENGINE_FINISH = {"server_error": "error", "timeout": "abort"}
STOPPED = ("stop", "length")

LabelSet = tuple[str, str, str, str]  # provider, model, app_id, department
OVERFLOW: LabelSet = (OVERFLOW_VALUE,) * 4


@dataclass(frozen=True, slots=True)
class SeenCall:
    """The recorder's sanitised labels (bounded) and the call's numbers, repaired as recorded."""

    provider: str
    model: str
    app_id: str
    department: str
    error_type: str | None
    cost_usd: float | None
    duration_s: float
    ttft_s: float | None
    tpot_s: float | None
    input_tokens: int
    output_tokens: int
    streaming: bool
    finish_reason: str | None

    @classmethod
    def of(cls, recorded: RecordedCall, labels: LabelSet) -> SeenCall:
        call = recorded.call
        return cls(*labels, recorded.error_type, recorded.cost_usd, call.duration_s, call.ttft_s, call.tpot_s,
                   call.input_tokens, call.output_tokens, call.streaming, call.finish_reason)

    def engine_finish(self) -> str | None:
        """How the engine saw the call end (stop, length, error, abort), or None: it never reached it."""
        if self.error_type is None:
            return self.finish_reason if self.finish_reason in STOPPED else "stop"
        return ENGINE_FINISH.get(self.error_type)


class LabelSets:
    """At most `limit` distinct label sets; later ones share the all-"other" set, as the recorder's do."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[LabelSet] = set()

    def bound(self, labels: LabelSet) -> LabelSet:
        if labels in self._seen:
            return labels
        if len(self._seen) < self.limit:
            self._seen.add(labels)
            return labels
        return OVERFLOW

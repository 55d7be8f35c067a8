"""One LLM call from start to finish: timing, first token, usage, outcome, recorded exactly once.

`CallTracker` is what the decorator, the context manager, the OpenAI wrapper and the proxy all
use; it marks the call in flight (llm_active_requests) when created and hands one `LLMCall` to
`Recorder.record` when finished.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from types import TracebackType
from typing import Any

from ..recorder import LLMCall, RecordedCall, Recorder
from ..telemetry.context import TraceContext, mint_trace_context
from ..tokens import TokenDetails
from . import extract
from .errors import CONTENT_FILTER, classify_exception

log = logging.getLogger("llm_exporter.instrument")

_warned: set[tuple[str, ...]] = set()
_warned_lock = threading.Lock()
_MAX_WARNED = 1024  # distinct warnings remembered; past that, new ones are still logged once each at most


def warn_once(key: tuple[str, ...], message: str, *args: object, exc_info: bool = False, **extra: object) -> None:
    """Log a warning the first time `key` is seen in this process (metering problems repeat on
    every call; one line per cause is enough)."""
    with _warned_lock:
        if key in _warned:
            return
        if len(_warned) < _MAX_WARNED:
            _warned.add(key)
    log.warning(message, *args, exc_info=exc_info, extra=extra)


class CallTracker:
    """Measures one LLM call. Use as a (sync or async) context manager or call `finish()`.

    On an exception inside the `with` block the call is recorded as failed, with the error type
    classified from the exception (see `errors.classify_exception`), and the exception propagates.
    """

    __slots__ = (
        "_finished", "_recorder", "_start", "app_id", "department", "error_type", "extra", "finish_reason",
        "input_tokens", "model", "operation", "output_tokens", "provider", "recorded", "request_id",
        "response_model", "streaming", "token_details", "trace", "ttft_s",
    )

    def __init__(
        self,
        recorder: Recorder,
        *,
        provider: str,
        model: str,
        app_id: str,
        department: str,
        operation: str = "chat",
        streaming: bool = False,
        trace: TraceContext | None = None,
        start: float | None = None,
    ) -> None:
        self._recorder = recorder
        self._start = time.perf_counter() if start is None else start
        self.provider = provider
        self.model = model
        self.app_id = app_id
        self.department = department
        self.operation = operation
        self.streaming = streaming
        self.trace = trace or mint_trace_context()
        self.ttft_s: float | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.token_details: TokenDetails | None = None
        self.error_type: str | None = None
        self.finish_reason: str | None = None
        self.response_model: str | None = None
        self.request_id: str | None = None
        self.extra: dict[str, object] = {}
        self.recorded: RecordedCall | None = None
        self._finished = False
        recorder.call_started(provider, model)

    # -- what the caller reports -----------------------------------------------------------

    @property
    def trace_id(self) -> str:
        return self.trace.trace_id

    @property
    def traceparent(self) -> str:
        """Send this as the `traceparent` header to the LLM endpoint to continue the trace."""
        return self.trace.traceparent

    @property
    def finished(self) -> bool:
        return self._finished

    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    def first_token(self) -> None:
        """Mark the arrival of the first generated token (streaming); later calls are ignored."""
        if self.ttft_s is None:
            self.ttft_s = time.perf_counter() - self._start

    def set_usage(self, input_tokens: Any = None, output_tokens: Any = None, *, cached_input: Any = None,
                  cache_write_input: Any = None, audio_input: Any = None, reasoning_output: Any = None,
                  audio_output: Any = None) -> None:
        """Token counts of the call. `input_tokens` and `output_tokens` are each direction's whole
        total (cached, audio and reasoning tokens included); the keyword counts say how many of
        them fall in each separately priced class (see llm_exporter/tokens.py). None is "not
        known". Never raises: a value that is not a plausible count (NaN, infinite, negative, not
        a number) leaves that count unknown and logs one warning."""
        for direction, value in (("input", input_tokens), ("output", output_tokens)):
            count = self._checked(direction, value)
            if count is not None and direction == "input":
                self.input_tokens = count
            elif count is not None:
                self.output_tokens = count
        classes = {"cached_input": cached_input, "cache_write_input": cache_write_input,
                   "audio_input": audio_input, "reasoning_output": reasoning_output, "audio_output": audio_output}
        counts = {name: count for name, value in classes.items() if (count := self._checked(name, value))}
        if counts:
            self.token_details = (self.token_details or TokenDetails()).replace(**counts)

    def _checked(self, what: str, value: Any) -> int | None:
        if value is None:
            return None
        count = extract.token_count(value)
        if count is None:
            warn_once(("set_usage", self.provider, self.model, what),
                      "%s token count %r for %s/%s is not a token count; recorded as unknown",
                      what, value, self.provider, self.model,
                      event="llm_usage_invalid", provider=self.provider, model=self.model)
        return count

    def observe_response(self, response: Any) -> None:
        """Take usage (with its token classes), finish reason and response model from an
        OpenAI-format response (dict or SDK object), or the usage of an Anthropic or Gemini
        response; a no-op for anything else. Never raises: metering must not break the call."""
        try:
            self._read(response)
            request_id = extract.private_field(response, "_request_id")  # the OpenAI SDK's, on responses
            if isinstance(request_id, str):
                self.request_id = request_id
        except Exception:  # an SDK-like object whose attributes raise, say
            self._unreadable(response)

    def _read(self, obj: Any) -> None:
        """Usage (with its token classes), finish reason and model of a response or chunk."""
        usage = extract.usage(obj)
        if usage is not None:  # counts already checked: None is unknown and keeps a known one
            if usage.input_tokens is not None:
                self.input_tokens = usage.input_tokens
            if usage.output_tokens is not None:
                self.output_tokens = usage.output_tokens
            self.token_details = usage.details or self.token_details
        self.finish_reason = extract.finish_reason(obj) or self.finish_reason
        self.response_model = extract.response_model(obj) or self.response_model

    def observe_chunk(self, chunk: Any) -> None:
        """One stream chunk: first token, finish reason, usage (final chunk) and model.

        Once the first token is in, a chunk with one choice, no finish reason and no usage (all
        but the last one or two of a stream) cannot change what is recorded: it costs three field
        reads (`extract.routine_chunk`). Only the others (a finish reason, a usage block, several
        or no choices) are read in full. Errors inside a stream reach the caller as exceptions
        (the SDK), or are found before the chunk is parsed (the proxy)."""
        try:
            if self.ttft_s is not None:
                if extract.routine_chunk(chunk):
                    return
            elif extract.has_token(chunk):
                self.first_token()
            self._read(chunk)  # stream chunks carry no request id (the SDK sets it on responses)
        except Exception:
            self._unreadable(chunk)

    def _unreadable(self, obj: Any) -> None:
        warn_once(("unreadable", type(obj).__qualname__), "cannot read usage from a %s; the call is "
                  "recorded with what was read", type(obj).__qualname__, exc_info=True,
                  event="llm_usage_unreadable", provider=self.provider, model=self.model)

    def fail(self, error_type: str) -> None:
        """Mark the call failed with a contract error_type; recorded at `finish()`."""
        self.error_type = error_type

    # -- finishing ---------------------------------------------------------------------------

    def finish(self, error_type: str | None = None, *, finish_reason: str | None = None) -> RecordedCall | None:
        """Record the call (once; later calls return the first result)."""
        if self._finished:
            return self.recorded
        self._finished = True
        duration = time.perf_counter() - self._start
        if error_type is not None:
            self.error_type = error_type
        if finish_reason is not None:
            self.finish_reason = finish_reason
        if self.error_type is None and self.finish_reason == "content_filter":
            self.error_type = CONTENT_FILTER
        extra = self.extra
        if self.response_model:
            extra["response_model"] = self.response_model
        if self.trace.parent_span_id:
            extra["parent_span_id"] = self.trace.parent_span_id
            extra["parent_sampled"] = self.trace.sampled
        recorder = self._recorder
        try:  # recording must never fail the call it records
            recorder.call_finished(self.provider, self.model)
            self.recorded = recorder.record(LLMCall(
                provider=self.provider, model=self.model, app_id=self.app_id, department=self.department,
                duration_s=duration, input_tokens=self.input_tokens, output_tokens=self.output_tokens,
                token_details=self.token_details, ttft_s=self.ttft_s, error_type=self.error_type,
                streaming=self.streaming,
                finish_reason=self.finish_reason, trace_id=self.trace.trace_id, span_id=self.trace.span_id,
                request_id=self.request_id, operation=self.operation, extra=extra,
            ))
        except Exception as exc:
            warn_once(("record_failed", type(exc).__name__), "recording an LLM call failed (%s); the call "
                      "itself was not affected", type(exc).__name__, exc_info=True, event="llm_record_failed",
                      provider=self.provider, model=self.model)
        return self.recorded

    def cancel(self) -> RecordedCall | None:
        """The caller stopped before the end: a success if the model had already finished (a finish
        reason was seen), else an error of type "other" with finish_reason "cancelled"."""
        if self.finish_reason is not None:
            return self.finish()
        return self.finish("other", finish_reason="cancelled")

    def __enter__(self) -> CallTracker:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None and not self._finished:
            if isinstance(exc, (GeneratorExit, asyncio.CancelledError, KeyboardInterrupt)):
                self.cancel()
            else:
                self.finish(classify_exception(exc))
        else:
            self.finish()

    async def __aenter__(self) -> CallTracker:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)

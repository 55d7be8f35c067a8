"""Meter an OpenAI Python client (sync or async) in place: chat completions, legacy completions
and embeddings, streaming included.

    client = instrument_openai(OpenAI(), app_id="support-bot", department="support")

Each call is one tracked call: the model asked for, tokens from the response's usage (for a stream,
from the final usage chunk: `stream_options.include_usage` is added when the caller did not set it,
and that extra chunk is then kept from the caller so the iteration looks as it would have),
time to first token, errors classified from the SDK's exceptions, and a W3C `traceparent` header on
the request. Retries made by the SDK happen inside one call. `with_raw_response`,
`with_streaming_response` and the `.stream()` helper are passed through unmetered.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from typing import Any

from ..recorder import Recorder
from ..telemetry.context import mint_trace_context
from ._state import default_app_id, default_department, get_recorder
from .extract import ask_for_stream_usage, routine_chunk
from .providers import provider_from_url
from .tracker import CallTracker

_MARK = "_llm_exporter_instrumented"
_RAW_HEADER = "x-stainless-raw-response"
_RESOURCES = (("chat.completions", "chat"), ("completions", "text_completion"), ("embeddings", "embeddings"))
_METHODS = ("create", "parse")


def instrument_openai(
    client: Any,
    *,
    app_id: str | None = None,
    department: str | None = None,
    provider: str | None = None,
    recorder: Recorder | None = None,
) -> Any:
    """Wrap `client`'s create methods (idempotent); returns the same client."""
    if getattr(client, _MARK, False):
        return client
    settings = _Settings(client, app_id, department, provider, recorder)
    for path, operation in _RESOURCES:
        resource = client
        for part in path.split("."):
            resource = getattr(resource, part, None)
        if resource is None:
            continue
        for name in ("with_raw_response", "with_streaming_response"):
            getattr(resource, name, None)  # cached: binds the unwrapped methods, left unmetered
        for method in _METHODS:
            original = getattr(resource, method, None)
            if original is None:
                continue
            is_async = inspect.iscoroutinefunction(original) or type(resource).__name__.startswith("Async")
            wrap = _wrap_async if is_async else _wrap_sync
            setattr(resource, method, wrap(original, operation, settings))
    setattr(client, _MARK, True)
    return client


class _Settings:
    __slots__ = ("app_id", "department", "provider", "recorder")

    def __init__(self, client: Any, app_id: str | None, department: str | None, provider: str | None,
                 recorder: Recorder | None) -> None:
        self.app_id = app_id
        self.department = department
        self.provider = provider or provider_from_url(str(getattr(client, "base_url", "")))
        self.recorder = recorder

    def start(self, operation: str, kwargs: dict[str, Any]) -> tuple[CallTracker, bool]:
        """A tracker for this call; rewrites kwargs (traceparent, include_usage). Returns
        (tracker, injected_usage)."""
        stream = kwargs.get("stream") is True
        injected = stream and ask_for_stream_usage(kwargs)
        trace = mint_trace_context()
        headers = dict(kwargs.get("extra_headers") or {})
        headers.setdefault("traceparent", trace.traceparent)
        kwargs["extra_headers"] = headers
        tracker = CallTracker(
            self.recorder or get_recorder(), provider=self.provider, model=str(kwargs.get("model") or "unknown"),
            app_id=self.app_id or default_app_id(), department=self.department or default_department(),
            operation=operation, streaming=stream, trace=trace,
        )
        return tracker, injected


def _is_raw(kwargs: dict[str, Any]) -> bool:
    headers = kwargs.get("extra_headers")
    return bool(headers) and any(str(key).lower() == _RAW_HEADER for key in headers)


def _wrap_sync(original: Any, operation: str, settings: _Settings) -> Any:
    @functools.wraps(original)
    def create(*args: Any, **kwargs: Any) -> Any:
        if _is_raw(kwargs):
            return original(*args, **kwargs)
        tracker, injected = settings.start(operation, kwargs)
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            tracker.__exit__(type(exc), exc, exc.__traceback__)
            raise
        if inspect.isawaitable(result):  # an async method that does not look like one
            return _settle(result, tracker, injected)
        if tracker.streaming and hasattr(result, "__next__"):
            return MeteredStream(result, tracker, injected)
        tracker.observe_response(result)
        tracker.finish()
        return result

    return create


def _wrap_async(original: Any, operation: str, settings: _Settings) -> Any:
    @functools.wraps(original)
    async def create(*args: Any, **kwargs: Any) -> Any:
        if _is_raw(kwargs):
            return await original(*args, **kwargs)
        tracker, injected = settings.start(operation, kwargs)
        return await _settle(original(*args, **kwargs), tracker, injected)

    return create


async def _settle(pending: Any, tracker: CallTracker, injected: bool) -> Any:
    try:
        result = await pending
    except BaseException as exc:
        tracker.__exit__(type(exc), exc, exc.__traceback__)
        raise
    if tracker.streaming and hasattr(result, "__anext__"):
        return AsyncMeteredStream(result, tracker, injected)
    tracker.observe_response(result)
    tracker.finish()
    return result


def _usage_only(chunk: Any) -> bool:
    return getattr(chunk, "usage", None) is not None and not getattr(chunk, "choices", None)


def _metered(stream: Any, tracker: CallTracker, hide_usage_chunk: bool) -> Iterator[Any]:
    """The chunks of an SDK stream, each seen by `tracker`: after the first token, a routine
    chunk (one choice, no finish reason, no usage) costs three field reads and nothing else. The
    usage-only chunk the wrapper asked for is kept from the caller. The call is recorded when the
    stream ends or fails, or, as cancelled, when the generator is closed or dropped before its end
    (`MeteredStream` starts it at once, so that holds even before the first chunk is asked for)."""
    observe = tracker.observe_chunk
    first_token_seen = False
    try:
        yield None  # started: from here on closing or dropping the generator records the call
        for chunk in stream:
            # extract.routine_chunk for SDK objects, inlined: this runs for every chunk
            if first_token_seen and getattr(chunk, "usage", None) is None:
                choices = getattr(chunk, "choices", None)
                if (type(choices) is list and len(choices) == 1
                        and getattr(choices[0], "finish_reason", None) is None):
                    yield chunk
                    continue
            observe(chunk)
            first_token_seen = tracker.ttft_s is not None
            if hide_usage_chunk and _usage_only(chunk):
                continue
            yield chunk
    except BaseException as exc:  # GeneratorExit (closed or dropped early) records a cancelled call
        tracker.__exit__(type(exc), exc, exc.__traceback__)
        raise
    tracker.finish()


class _StreamWrapper:
    """What the sync and async wrappers share: the wrapped SDK stream answers everything else."""

    def __init__(self, stream: Any, tracker: CallTracker, hide_usage_chunk: bool) -> None:
        self._stream = stream
        self._tracker = tracker
        self._hide_usage_chunk = hide_usage_chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class MeteredStream(_StreamWrapper):
    """An SDK `Stream` that feeds each chunk to its tracker; everything else is the stream's.
    Iterating it iterates the metering generator itself (no method call per chunk), so a loop over
    `create(..., stream=True)` may drop the wrapper and keep only the generator."""

    def __init__(self, stream: Any, tracker: CallTracker, hide_usage_chunk: bool) -> None:
        super().__init__(stream, tracker, hide_usage_chunk)
        self._chunks = _metered(stream, tracker, hide_usage_chunk)
        next(self._chunks)

    def __iter__(self) -> Iterator[Any]:
        return self._chunks

    def __next__(self) -> Any:
        return next(self._chunks)

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._tracker.cancel()

    def __enter__(self) -> MeteredStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncMeteredStream(_StreamWrapper):
    """An SDK `AsyncStream` that feeds each chunk to its tracker; dropped before its end, the
    call is recorded as cancelled."""

    def __aiter__(self) -> AsyncMeteredStream:
        return self

    async def __anext__(self) -> Any:
        tracker = self._tracker
        while True:
            try:
                chunk = await self._stream.__anext__()
            except StopAsyncIteration:
                tracker.finish()
                raise
            except BaseException as exc:
                tracker.__exit__(type(exc), exc, exc.__traceback__)
                raise
            if tracker.ttft_s is not None and routine_chunk(chunk):
                return chunk
            tracker.observe_chunk(chunk)
            if not (self._hide_usage_chunk and _usage_only(chunk)):
                return chunk

    def __del__(self) -> None:
        tracker = self.__dict__.get("_tracker")
        if tracker is not None and not tracker.finished:
            tracker.cancel()

    async def close(self) -> None:
        try:
            await self._stream.close()
        finally:
            self._tracker.cancel()

    async def __aenter__(self) -> AsyncMeteredStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

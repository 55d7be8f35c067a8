"""`track_llm_call`: a context manager and decorator that records any LLM call."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from types import TracebackType
from typing import Any, TypeVar

from ..recorder import Recorder
from ._state import default_app_id, default_department, get_recorder
from .tracker import CallTracker, warn_once

F = TypeVar("F", bound=Callable[..., Any])
UsageFn = Callable[[Any], "tuple[int | None, int | None] | None"]  # None: not known


class track_llm_call:
    """Track one LLM call, as a context manager or a decorator.

        with track_llm_call(provider="anthropic", model="claude-sonnet-4") as call:
            reply = client.messages.create(...)
            call.observe_response(reply)  # Anthropic usage, cache reads and writes included

        @track_llm_call(provider="vllm", model="llama-3.1-70b-instruct", app_id="doc-search")
        def ask(prompt): ...

    As a decorator every invocation is one call; a return value with an OpenAI-style `usage`
    (object or dict) is read automatically, or pass `usage=fn(result) -> (input, output)`; a
    `usage` function that raises is logged once and the call recorded as successful with unknown
    usage (the result still reaches the caller). `set_usage` never raises either.
    Decorated generators (sync or async) are tracked until exhausted: the first non-empty item
    marks the first token. An exception records the call as failed (error type classified from
    the exception) and propagates unchanged.
    """

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        app_id: str | None = None,
        department: str | None = None,
        operation: str = "chat",
        streaming: bool = False,
        usage: UsageFn | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.app_id = app_id
        self.department = department
        self.operation = operation
        self.streaming = streaming
        self.usage = usage
        self.recorder = recorder
        # the trackers of this object's open `with` blocks, innermost first, per thread / task
        self._current: ContextVar[tuple[CallTracker, Any] | None] = ContextVar("llm_call", default=None)

    def start(self, *, streaming: bool | None = None) -> CallTracker:
        """A new tracker for one call (the clock starts now)."""
        return CallTracker(
            self.recorder or get_recorder(), provider=self.provider, model=self.model,
            app_id=self.app_id or default_app_id(), department=self.department or default_department(),
            operation=self.operation, streaming=self.streaming if streaming is None else streaming,
        )

    # -- context manager ---------------------------------------------------------------------

    def __enter__(self) -> CallTracker:
        tracker = self.start()
        self._current.set((tracker, self._current.get()))
        return tracker

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        current = self._current.get()
        if current is None:
            raise RuntimeError("track_llm_call.__exit__ without a matching __enter__")
        tracker, outer = current
        self._current.set(outer)
        tracker.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> CallTracker:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- decorator -----------------------------------------------------------------------------

    def _finish_with(self, tracker: CallTracker, result: Any) -> None:
        """Usage from the result, then record. The call itself succeeded: a failing `usage=`
        function (a field the response left out, say) logs one warning per function and leaves
        the usage unknown; it never fails the call or replaces the caller's result."""
        if self.usage is not None:
            try:
                usage = self.usage(result)
                if usage is not None:
                    tracker.set_usage(*usage)
            except Exception as exc:
                where = getattr(self.usage, "__qualname__", type(self.usage).__qualname__)
                warn_once(("usage_fn", getattr(self.usage, "__module__", "") or "", where),
                          "usage function %s failed (%s: %s); calls are recorded with unknown usage",
                          where, type(exc).__name__, exc, event="llm_usage_fn_failed",
                          provider=self.provider, model=self.model)
        else:
            tracker.observe_response(result)
        tracker.finish()

    def __call__(self, func: F) -> F:
        if inspect.isasyncgenfunction(func):
            @functools.wraps(func)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self.start(streaming=True) as tracker:
                    async for item in func(*args, **kwargs):
                        _observe_item(tracker, item)
                        yield item
            return agen_wrapper  # type: ignore[return-value]

        if inspect.isgeneratorfunction(func):
            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self.start(streaming=True) as tracker:
                    for item in func(*args, **kwargs):
                        _observe_item(tracker, item)
                        yield item
            return gen_wrapper  # type: ignore[return-value]

        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self.start() as tracker:
                    result = await func(*args, **kwargs)
                    self._finish_with(tracker, result)
                    return result
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.start() as tracker:
                result = func(*args, **kwargs)
                self._finish_with(tracker, result)
                return result
        return wrapper  # type: ignore[return-value]


def _observe_item(tracker: CallTracker, item: Any) -> None:
    if isinstance(item, (str, bytes)):
        if item and tracker.ttft_s is None:
            tracker.first_token()
    else:
        tracker.observe_chunk(item)

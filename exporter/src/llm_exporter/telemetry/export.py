"""A bounded export queue with one worker thread per signal: the only way telemetry leaves.

`put()` never blocks and never waits on the network: it appends to a bounded deque, or drops
the record (and counts it) when the queue is full. The worker sends batches with the OTLP
exporter; a batch that fails (backend down, hanging past the timeout, refusing) is dropped and
counted too, and the next batch is tried on schedule, so export resumes by itself when the
backend is back. Memory is bounded by `max_queue` records plus the one batch in flight.

The calling thread does as little as it can: what it queues may be a `Deferred`, which says how
many records it stands for (what the queue bound, the batch size and the drop counter count) and
builds them on the worker, just before export. A recorded call's spans and log record are queued
that way, so building them (and encoding them) never runs on the thread that made the call.

An outage is logged twice per signal: one `telemetry_export_failing` warning (with a short reason)
when the first batch fails, one `telemetry_export_recovered` info when a batch gets through again.
The SDK exporter's own per-retry and per-batch lines are captured, not printed (sdk_logs.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from . import sdk_logs
from .config import QueueSettings

log = logging.getLogger("llm_exporter.telemetry")


class Exporter(Protocol):
    def export(self, batch: Sequence[Any]) -> Any: ...

    def shutdown(self) -> None: ...


class Deferred:
    """`records` export records, built by `build()` on the export worker thread."""

    __slots__ = ("build", "records")

    def __init__(self, build: Callable[[], Sequence[Any]], records: int = 1) -> None:
        self.build = build
        self.records = records


def _records(item: Any) -> int:
    return item.records if type(item) is Deferred else 1


class BoundedExporter:
    """Batches records of one signal ("traces" or "logs") to `exporter` off the caller's thread."""

    def __init__(
        self,
        signal: str,
        exporter: Exporter,
        settings: QueueSettings,
        on_drop: Callable[[str, int], None],
        *,
        endpoint: str = "",
        outcome: Callable[[], str | None] | None = None,
    ) -> None:
        self.signal = signal
        self.exporter = exporter
        self.settings = settings
        self.endpoint = sdk_logs.safe_endpoint(endpoint) or ""  # only ever logged: secrets masked
        self._on_drop = on_drop
        self._outcome = outcome  # how the exporter's latest HTTP request ended (sdk_logs.OutcomeSession)
        self._queue: deque[Any] = deque()
        self._size = 0  # records the queue stands for (a Deferred counts as its `records`)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when a batch has been sent
        self._sending = False  # a batch taken from the queue is being exported
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._healthy = True
        sdk_logs.install()
        self._thread = threading.Thread(target=self._run, name=f"otlp-{signal}", daemon=True)
        self._thread.start()

    # -- producer side (request handling, the simulator's loop) ----------------------------

    def put(self, item: Any) -> bool:
        """Queue one record, or a `Deferred` standing for several; False (and its records counted
        as dropped) when the queue has no room for them or is stopped."""
        records = item.records if type(item) is Deferred else 1
        with self._lock:
            accepted = self._size + records <= self.settings.max_queue and not self._stopping.is_set()
            if accepted:
                self._queue.append(item)
                self._size += records
                full_batch = self._size >= self.settings.max_batch
        if not accepted:
            self._drop(records)
            return False
        if full_batch:
            self._wake.set()
        return True

    def put_many(self, items: Sequence[Any]) -> None:
        for item in items:
            self.put(item)

    # -- worker ----------------------------------------------------------------------------

    def _take(self) -> list[Any]:
        """Items from the head of the queue standing for at most `max_batch` records (at least
        one item while the queue has any)."""
        batch: list[Any] = []
        taken = 0
        with self._lock:
            queue = self._queue
            while queue and taken < self.settings.max_batch:
                records = _records(queue[0])
                if batch and taken + records > self.settings.max_batch:
                    break
                batch.append(queue.popleft())
                taken += records
            self._size -= taken
            self._sending = bool(batch)
        return batch

    def _sent(self) -> None:
        with self._lock:
            self._sending = False
            self._idle.notify_all()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.settings.delay_s)
            self._wake.clear()
            while not self._stopping.is_set():  # send batches until the queue is empty
                batch = self._take()
                if not batch:
                    break
                try:
                    self._send(batch)
                finally:
                    self._sent()

    def _build(self, items: list[Any]) -> list[Any]:
        """The records of a batch: `Deferred` items built here, on the worker."""
        records: list[Any] = []
        for item in items:
            if type(item) is not Deferred:
                records.append(item)
                continue
            try:
                records.extend(item.build())
            except Exception:  # a record that cannot be built is dropped, never the worker
                log.debug("building a %s record failed", self.signal, exc_info=True)
                self._drop(item.records)
        return records

    def _send(self, items: list[Any]) -> bool:
        batch = self._build(items)
        if not batch:
            return True
        reason = None
        if self._outcome is not None:
            self._outcome()  # forget the previous batch's
        with sdk_logs.capture_export_logs() as sdk_records:
            try:
                result = self.exporter.export(batch)
                ok = getattr(result, "name", "") == "SUCCESS"
            except Exception as exc:  # an exporter bug must not kill the worker
                # The type only: the message of a transport error quotes the URL (query included).
                reason = type(exc).__name__
                log.debug("OTLP %s export raised %s", self.signal, reason)
                ok = False
        if ok:
            if not self._healthy:
                self._healthy = True
                log.info("telemetry export recovered", extra={"event": "telemetry_export_recovered",
                                                              "signal": self.signal, "endpoint": self.endpoint})
        else:
            self._drop(len(batch))
            if self._healthy:
                self._healthy = False
                log.warning("telemetry export failing; records are dropped until the backend answers",
                            extra={"event": "telemetry_export_failing", "signal": self.signal,
                                   "endpoint": self.endpoint,
                                   "reason": reason or self._failure_reason(sdk_records)})
        return ok

    def _failure_reason(self, sdk_records: list[logging.LogRecord]) -> str:
        outcome = self._outcome() if self._outcome is not None else None
        return outcome or sdk_logs.failure_reason(sdk_records)

    def _drop(self, count: int) -> None:
        try:
            self._on_drop(self.signal, count)
        except Exception:  # pragma: no cover - counting must never break the caller
            log.debug("drop counter failed", exc_info=True)

    # -- lifecycle -------------------------------------------------------------------------

    def flush(self, timeout: float = 3.0) -> bool:
        """Send what is queued now, without waiting for the schedule; True when the queue is
        empty and no batch is in flight within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._queue or self._sending:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                self._wake.set()
                self._idle.wait(min(remaining, 0.05))
        return True

    def shutdown(self, timeout: float = 3.0) -> None:
        """Stop accepting, send what is queued within `timeout`, then close the exporter.
        A worker stuck on a hanging backend is abandoned (it is a daemon thread)."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout / 2)
        if not self._thread.is_alive():
            leftovers = self._take()
            if leftovers:
                flusher = threading.Thread(target=self._send, args=(leftovers,), daemon=True)
                flusher.start()
                flusher.join(timeout / 2)
        try:
            self.exporter.shutdown()
        except Exception:  # pragma: no cover
            log.debug("exporter shutdown failed", exc_info=True)

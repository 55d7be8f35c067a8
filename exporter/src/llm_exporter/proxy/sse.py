"""Read an OpenAI-format server-sent-event stream as it passes through, without holding it up.

The proxy forwards every network chunk as soon as it arrives and feeds a copy here; complete
events are parsed to find the first token, the finish reason, the final usage chunk and any
in-stream error. Lines may end in CRLF, LF or a lone CR, as the SSE specification allows. Bytes
that are not valid events are counted and otherwise ignored.

Memory is bounded: an event (or a line) that grows past `max_event_bytes` (1 MiB) without being
completed stops the metering of that stream; the proxy still passes every byte on, and the call
is recorded with what had been read before.
"""

from __future__ import annotations

import json
import re

from ..instrument.errors import classify_error_body
from ..instrument.tracker import CallTracker

MAX_EVENT_BYTES = 1 << 20
# After the first token only these events change what is metered: a finish reason, a usage block,
# an error. Other events are not parsed (a few microseconds saved per chunk).
_NEEDS_PARSING = re.compile(rb'"(?:finish_reason"\s*:\s*"|usage"\s*:\s*\{|error"\s*:)')


class SSEMeter:
    __slots__ = ("_data", "_data_size", "_pending", "_skip_lf", "done", "events", "malformed", "max_event_bytes",
                 "overflowed", "tracker")

    def __init__(self, tracker: CallTracker, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.tracker = tracker
        self.max_event_bytes = max_event_bytes
        self._pending = b""  # the start of a line whose end has not arrived yet
        self._data: list[bytes] = []  # the data lines of the event being read
        self._data_size = 0
        self._skip_lf = False  # the last chunk ended in CR: a LF starting the next one belongs to it
        self.events = 0
        self.malformed = 0
        self.done = False
        self.overflowed = False  # an event outgrew max_event_bytes: the rest of the stream is not read

    def feed(self, chunk: bytes) -> None:
        if self.overflowed:
            return
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buffer = self._pending + chunk if self._pending else chunk
        if b"\r" in buffer:  # CRLF and a lone CR end a line as LF does
            self._skip_lf = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buffer.split(b"\n")
        pending = lines.pop()
        for line in lines:
            if not line:
                self._dispatch()
            elif line.startswith(b"data"):
                value = line[4:]
                if value[:1] == b":":
                    value = value[2:] if value[1:2] == b" " else value[1:]
                elif value:  # "dataX: ...": another field name
                    continue
                self._data_size += len(value) + 1
                if self._data_size > self.max_event_bytes:
                    self._overflow()
                    return
                self._data.append(value)
            # other fields (event:, id:, retry:, comments) carry nothing we meter
        if len(pending) + self._data_size > self.max_event_bytes:
            self._overflow()
            return
        self._pending = pending

    def close(self) -> None:
        """End of stream: a last event without its blank line still counts."""
        if self.overflowed:
            return
        if self._pending:
            self.feed(b"\n")
        self._dispatch()

    def _overflow(self) -> None:
        self.overflowed = True
        self._data = []
        self._data_size = 0
        self._pending = b""

    def _dispatch(self) -> None:
        data = self._data
        if not data:
            return
        self._data = []
        self._data_size = 0
        payload = data[0] if len(data) == 1 else b"\n".join(data)
        if payload == b"[DONE]":
            self.done = True
            return
        if self.tracker.ttft_s is not None and _NEEDS_PARSING.search(payload) is None:
            self.events += 1
            return
        try:
            event = json.loads(payload)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
            self.malformed += 1
            return
        if not isinstance(event, dict):
            self.malformed += 1
            return
        self.events += 1
        if event.get("error"):
            self.tracker.fail(classify_error_body(event))
            return
        self.tracker.observe_chunk(event)

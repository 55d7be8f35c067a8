"""Read an OpenAI-format server-sent-event stream as it passes through, without holding it up.

The proxy forwards every network chunk as soon as it arrives and feeds a copy here; complete
events are parsed to find the first token, the finish reason, the final usage chunk and any
in-stream error. Bytes that are not valid events are counted and otherwise ignored.
"""

from __future__ import annotations

import json
import re

from ..instrument.errors import classify_error_body
from ..instrument.tracker import CallTracker

_MAX_PENDING = 1 << 20  # an "event" growing past 1 MiB without a line break is not one we can read
# After the first token only these events change what is metered: a finish reason, a usage block,
# an error. Other events are not parsed (a few microseconds saved per chunk).
_NEEDS_PARSING = re.compile(rb'"(?:finish_reason"\s*:\s*"|usage"\s*:\s*\{|error"\s*:)')


class SSEMeter:
    __slots__ = ("_data", "_pending", "done", "events", "malformed", "tracker")

    def __init__(self, tracker: CallTracker) -> None:
        self.tracker = tracker
        self._pending = b""
        self._data: list[bytes] = []
        self.events = 0
        self.malformed = 0
        self.done = False

    def feed(self, chunk: bytes) -> None:
        buffer = self._pending + chunk if self._pending else chunk
        lines = buffer.split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > _MAX_PENDING:
            self._pending = b""
            self.malformed += 1
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                self._dispatch()
            elif line.startswith(b"data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(b" ") else value)
            # other fields (event:, id:, retry:, comments) carry nothing we meter

    def close(self) -> None:
        """End of stream: a last event without its blank line still counts."""
        if self._pending:
            self.feed(b"\n")
        self._dispatch()

    def _dispatch(self) -> None:
        data = self._data
        if not data:
            return
        self._data = []
        payload = data[0] if len(data) == 1 else b"\n".join(data)
        if payload == b"[DONE]":
            self.done = True
            return
        if self.tracker.ttft_s is not None and _NEEDS_PARSING.search(payload) is None:
            self.events += 1
            return
        try:
            event = json.loads(payload)
        except ValueError:
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

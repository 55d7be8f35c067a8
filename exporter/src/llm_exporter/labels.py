"""Label hygiene: every label value that reaches the registry passes through here.

Label values come from callers (request headers, model names returned by providers), so an
unbounded value set would grow the exporter's memory and Prometheus's series count without limit.
Each label keeps at most `bound` distinct values; later newcomers are recorded as "other" and
counted in llm_label_overflow_total{label}.
"""

from __future__ import annotations

import re
import threading

OVERFLOW_VALUE = "other"
UNKNOWN_VALUE = "unknown"
MAX_LENGTH = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/@+-]")

DEFAULT_BOUNDS = {"provider": 16, "model": 64, "app_id": 64, "department": 32, "alertname": 64, "receiver": 16}


def sanitise(value: object) -> str:
    """Map any value to a short, printable label value (other characters become '_')."""
    text = _UNSAFE.sub("_", str(value).strip())[:MAX_LENGTH]
    return text or UNKNOWN_VALUE


class LabelGuard:
    """Bounds the distinct values of each label; thread-safe.

    The accepted values are cached, so the hot path for a known value is a single dict lookup.
    """

    def __init__(self, bounds: dict[str, int] | None = None) -> None:
        self.bounds = {**DEFAULT_BOUNDS, **(bounds or {})}
        for label, bound in self.bounds.items():
            if bound < 1:
                raise ValueError(f"cardinality bound for label {label!r} must be at least 1, got {bound}")
        self._accepted: dict[str, dict[str, str]] = {label: {} for label in self.bounds}
        self._distinct: dict[str, set[str]] = {label: set() for label in self.bounds}
        self._overflow: dict[str, int] = {}
        self._lock = threading.Lock()

    def value(self, label: str, raw: object, *, count: bool = True) -> str:
        """The label value to record for `raw`: sanitised, or "other" past the bound. An "other"
        is counted in the overflow counts unless `count` is false (for a second look-up of the
        same call's value, e.g. when it starts and when it finishes: one call counts once)."""
        cached = self._accepted[label].get(raw)  # type: ignore[call-overload]
        if cached is not None:
            return cached
        clean = sanitise(raw)
        with self._lock:
            distinct = self._distinct[label]
            if clean in distinct or len(distinct) < self.bounds[label]:
                distinct.add(clean)
                cache = self._accepted[label]
                if isinstance(raw, str) and len(cache) < 4 * self.bounds[label]:
                    cache[raw] = clean
                return clean
            if count:
                self._overflow[label] = self._overflow.get(label, 0) + 1
            return OVERFLOW_VALUE

    def count_overflow(self, label: str) -> None:
        """Count one recording that lost its label value(s) to a bound enforced elsewhere."""
        with self._lock:
            self._overflow[label] = self._overflow.get(label, 0) + 1

    def overflow_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._overflow)

"""Alertmanager's webhook (payload version 4), received by the exporter itself.

Out of the box every receiver points here, so a person sees alerts arrive (as log lines, as
llm_alert_notifications_total and at GET /alertmanager/notifications) without any account.

Only well-formed payloads are accepted: the fields and types Alertmanager sends (RFC 3339 times
with a zone, string labels and annotations), at most MAX_ALERTS alerts per notification (the
shipped alertmanager.yml sets `max_alerts` lower). What is kept is bounded whatever a sender
sends: at most KEEP_NOTIFICATIONS entries and KEEP_BYTES bytes in the list, with long label
values and summaries shortened (the entry then says `"truncated": true`); at most
LOG_ALERTS_PER_NOTIFICATION log lines per notification, then one line saying how many more.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from collections import deque
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr

from .config import ConfigError

log = logging.getLogger(__name__)
KEEP_NOTIFICATIONS = 200  # entries in GET /alertmanager/notifications
KEEP_BYTES = 1024 * 1024  # and their size, as JSON
MAX_ALERTS = 1000  # alerts in one notification; more is refused (Alertmanager: `max_alerts`)
LOG_ALERTS_PER_NOTIFICATION = 20
MAX_LABELS = 32  # labels kept per entry
MAX_TEXT = 256  # characters kept of a label name or value
MAX_SUMMARY = 1024  # characters kept of the summary annotation


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339_text(value: object) -> object:
    """Alertmanager sends times as RFC 3339 strings; numbers and other spellings ("0", 1700000000)
    that the datetime parser would also take are refused."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 time with a zone, e.g. 2024-01-01T00:00:00Z")
    return value


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]


class WebhookAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[StrictStr, StrictStr]
    annotations: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    startsAt: Rfc3339
    endsAt: Rfc3339 | None = None
    generatorURL: StrictStr | None = None
    fingerprint: StrictStr | None = None


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: StrictStr = Field(min_length=1, max_length=MAX_TEXT)
    groupKey: StrictStr
    truncatedAlerts: int = Field(default=0, ge=0, strict=True)
    groupLabels: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    commonLabels: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    commonAnnotations: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    externalURL: StrictStr | None = None
    alerts: list[WebhookAlert] = Field(min_length=1, max_length=MAX_ALERTS)


class WebhookToken:
    """The bearer token the webhook requires, read once from a file (Docker secret style: one
    line; surrounding whitespace is ignored, as Alertmanager's `credentials_file` does). The
    token is never logged, and an error about the file never quotes its content."""

    MIN_LENGTH = 16

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    @classmethod
    def from_file(cls, path: Path) -> WebhookToken:
        try:
            token = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ConfigError(path, "(file)", "webhook token file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(path, "(file)", f"webhook token file cannot be read ({type(exc).__name__})") from None
        if len(token) < cls.MIN_LENGTH or any(c.isspace() or not c.isprintable() for c in token):
            raise ConfigError(path, "(token)", f"the token must be one line of at least {cls.MIN_LENGTH} "
                                               "printable characters without spaces")
        return cls(token)

    def accepts(self, authorization: str | None) -> bool:
        """True when the Authorization header is `Bearer <token>` (constant-time comparison)."""
        if authorization is None:
            return False
        scheme, _, credentials = authorization.partition(" ")
        given = f"{scheme.capitalize()} {credentials.strip()}".encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self._expected)

    def __repr__(self) -> str:
        return "WebhookToken(<hidden>)"


def _short(text: str, limit: int) -> tuple[str, bool]:
    return (text, False) if len(text) <= limit else (text[:limit] + "…", True)


def notification_entry(payload: WebhookPayload, alert: WebhookAlert, received_at: float) -> dict[str, Any]:
    """One alert of a notification as kept and listed: long texts shortened, labels capped."""
    truncated = len(alert.labels) > MAX_LABELS
    labels: dict[str, str] = {}
    for name, value in list(alert.labels.items())[:MAX_LABELS]:
        short_name, cut_name = _short(name, MAX_TEXT)
        labels[short_name], cut_value = _short(value, MAX_TEXT)
        truncated = truncated or cut_name or cut_value
    receiver, _ = _short(payload.receiver, MAX_TEXT)
    summary, cut_summary = _short(alert.annotations.get("summary", ""), MAX_SUMMARY)
    entry: dict[str, Any] = {
        "received_at": received_at,
        "receiver": receiver,
        "status": alert.status,
        "alertname": labels.get("alertname", "unknown"),
        "severity": labels.get("severity", "none"),
        "labels": labels,
        "summary": summary,
        "starts_at": alert.startsAt.isoformat(),
    }
    if truncated or cut_summary:
        entry["truncated"] = True
    return entry


class NotificationLog:
    """The most recent notifications, newest last, for the API and the guided demo; bounded in
    count (`keep`) and in size (`keep_bytes`, counted as the entries' JSON)."""

    def __init__(self, keep: int = KEEP_NOTIFICATIONS, keep_bytes: int = KEEP_BYTES) -> None:
        self.keep = keep
        self.keep_bytes = keep_bytes
        self._items: deque[tuple[dict[str, Any], int]] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    def add(self, payload: WebhookPayload, received_at: float) -> list[dict[str, Any]]:
        entries = [notification_entry(payload, alert, received_at) for alert in payload.alerts]
        sized = [(entry, len(json.dumps(entry))) for entry in entries[-self.keep:]]
        with self._lock:
            for item in sized:
                self._items.append(item)
                self._bytes += item[1]
            while self._items and (len(self._items) > self.keep or self._bytes > self.keep_bytes):
                self._bytes -= self._items.popleft()[1]
        self._log(entries)
        return entries

    def _log(self, entries: list[dict[str, Any]]) -> None:
        for entry in entries[:LOG_ALERTS_PER_NOTIFICATION]:
            log.warning(
                "alert notification received",
                extra={"event": "alert_notification", **{k: entry[k] for k in
                       ("receiver", "status", "alertname", "severity", "summary")}},
            )
        if len(entries) > LOG_ALERTS_PER_NOTIFICATION:
            log.warning("alert notification had %d more alerts, not logged one by one",
                        len(entries) - LOG_ALERTS_PER_NOTIFICATION,
                        extra={"event": "alert_notification_more", "receiver": entries[0]["receiver"],
                               "not_logged": len(entries) - LOG_ALERTS_PER_NOTIFICATION})

    def recent(self) -> list[dict[str, Any]]:
        with self._lock:
            return [entry for entry, _ in self._items]

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return self._bytes

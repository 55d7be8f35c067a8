"""Alertmanager's webhook (payload version 4), received by the exporter itself.

Out of the box every receiver points here, so a person sees alerts arrive (as log lines, as
llm_alert_notifications_total and at GET /alertmanager/notifications) without any account.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)
KEEP_NOTIFICATIONS = 200


class WebhookAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str
    endsAt: str | None = None
    fingerprint: str | None = None


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = Field(min_length=1)
    groupKey: str
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    alerts: list[WebhookAlert] = Field(min_length=1)


class NotificationLog:
    """The most recent notifications, newest last, for the API and the guided demo."""

    def __init__(self, keep: int = KEEP_NOTIFICATIONS) -> None:
        self._items: deque[dict[str, object]] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def add(self, payload: WebhookPayload, received_at: float) -> list[dict[str, object]]:
        entries = [
            {
                "received_at": received_at,
                "receiver": payload.receiver,
                "status": alert.status,
                "alertname": alert.labels.get("alertname", "unknown"),
                "severity": alert.labels.get("severity", "none"),
                "labels": alert.labels,
                "summary": alert.annotations.get("summary", ""),
                "starts_at": alert.startsAt,
            }
            for alert in payload.alerts
        ]
        with self._lock:
            self._items.extend(entries)
        for entry in entries:
            log.warning(
                "alert notification received",
                extra={"event": "alert_notification", **{k: entry[k] for k in
                       ("receiver", "status", "alertname", "severity", "summary")}},
            )
        return entries

    def recent(self) -> list[dict[str, object]]:
        with self._lock:
            return list(self._items)

"""One step of the demo, watched: which alerts Prometheus evaluates as pending and firing, what
Alertmanager does with each (routes it, or holds it back: inhibited or silenced), and which
notification reaches which receiver. Each fact is read from that component's own API, and each
notification is attributed to its alert by the notification's own labels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests
import yaml
from demo_changes import DEMO_LABEL, Prometheus, compressed_for

from prometheus import generator

SHOWN_LABELS = ("department", "app_id", "model", "gpu")


def get_json(url: str, **params: str) -> object:
    response = requests.get(url, params=params, timeout=10)
    response.raise_for_status()
    return response.json()


@dataclass
class Alertmanager:
    url: str

    def alerts(self) -> list[dict]:
        """Every alert it holds, the inhibited and silenced ones included."""
        flags = {name: "true" for name in ("active", "silenced", "inhibited", "unprocessed")}
        return get_json(self.url + "/api/v2/alerts", **flags)  # type: ignore[return-value]

    def groups(self) -> list[dict]:
        return get_json(self.url + "/api/v2/alerts/groups")  # type: ignore[return-value]

    def silences(self) -> dict[str, dict]:
        return {s["id"]: s for s in get_json(self.url + "/api/v2/silences")}  # type: ignore[union-attr]

    def config(self) -> dict:
        """The configuration Alertmanager runs, as it was loaded."""
        return yaml.safe_load(get_json(self.url + "/api/v2/status")["config"]["original"])  # type: ignore[index]

    def receivers(self) -> dict[str, str]:
        """Routed receiver name -> where its notifications go, from the configuration Alertmanager runs."""
        config = self.config()
        routed = set(_routed(config.get("route", {})))
        return {r["name"]: destinations(r) for r in config.get("receivers", []) if r["name"] in routed}


def _routed(route: dict) -> list[str]:
    """Every receiver a route tree sends to."""
    return [route.get("receiver", ""), *(name for child in route.get("routes", []) for name in _routed(child))]


def destinations(receiver: dict) -> str:
    parts = [f"webhook {c.get('url', c.get('url_file', '?'))}" for c in receiver.get("webhook_configs", [])]
    parts += [f"Slack {c.get('channel', '')}".rstrip() for c in receiver.get("slack_configs", [])]
    parts += ["PagerDuty" for _ in receiver.get("pagerduty_configs", [])]
    parts += [f"e-mail to {c.get('to', '?')}" for c in receiver.get("email_configs", [])]
    return ", ".join(parts) or "nowhere (no integration)"


@dataclass
class Exporter:
    url: str

    def scenario(self) -> str:
        return get_json(self.url + "/mock/scenario")["active"]  # type: ignore[index]

    def switch(self, scenario: str) -> dict:
        response = requests.post(self.url + "/mock/scenario", json={"scenario": scenario}, timeout=10)
        response.raise_for_status()
        return response.json()

    def notifications(self) -> list[dict]:
        return get_json(self.url + "/alertmanager/notifications")  # type: ignore[return-value]


def describe(labels: dict[str, str]) -> str:
    """`LLMErrorRatioHigh{app_id=..., model=...}`, with `(time-compressed)` on the demo's copies."""
    shown = ", ".join(f"{name}={labels[name]}" for name in SHOWN_LABELS if name in labels)
    copy = " (time-compressed)" if DEMO_LABEL in labels else ""
    return f"{labels.get('alertname', '?')}{{{shown}}}{copy}"


def waits_for(labels: dict[str, str]) -> bool:
    """The alerts a step waits for: the demo's copies, and shipped rules that fire at once (no
    copy needed). A shipped rule with its full `for:` would outlast the demo."""
    if DEMO_LABEL in labels:
        return True
    try:
        return generator.alert(labels.get("alertname", "")).for_ is None
    except KeyError:
        return False


@dataclass
class Tracked:
    labels: dict[str, str]
    pending_at: float | None = None
    firing_at: float | None = None
    receivers: list[str] = field(default_factory=list)  # notifications received, by receiver
    held: str = ""  # why Alertmanager holds its notifications back ("" when it does not)
    grouped: bool = False  # joins an Alertmanager group already notified in this step

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "?")

    def settled(self) -> bool:
        return self.firing_at is not None and bool(self.receivers or self.held or self.grouped)


class Watch:
    """Alerts that became pending or firing after the step started, and what happened to them."""

    def __init__(self, prometheus: Prometheus, alertmanager: Alertmanager, exporter: Exporter,
                 say: Callable[[str], None]) -> None:
        self.prometheus, self.alertmanager, self.exporter, self.say = prometheus, alertmanager, exporter, say
        self.external = set(prometheus.external_labels())
        self.started = time.monotonic()
        self.before = {frozenset(a["labels"].items()) for a in prometheus.alerts()}
        notes = exporter.notifications()
        self.notes_after = max((n["received_at"] for n in notes), default=0.0)
        self.tracked: dict[frozenset, Tracked] = {}

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def event(self, text: str) -> None:
        self.say(f"  [{self.elapsed():5.0f}s] {text}")

    def poll(self) -> None:
        self._prometheus()
        self._alertmanager()
        self._notifications()

    def settled(self, shows: tuple[str, ...]) -> bool:
        """Each alert of `shows` has fired (its copy, or the shipped rule when it has no `for:`) and
        Alertmanager notified a receiver of it or holds it back."""
        done = {t.name for t in self.tracked.values() if waits_for(t.labels) and t.settled()}
        return set(shows) <= done

    def _prometheus(self) -> None:
        for alert in self.prometheus.alerts():
            key = frozenset(alert["labels"].items())
            if key in self.before:
                continue
            tracked = self.tracked.setdefault(key, Tracked(dict(alert["labels"])))
            if tracked.pending_at is None:
                tracked.pending_at = self.elapsed()
                if waits_for(tracked.labels):  # a shipped rule's pending state outlasts the demo: not shown
                    self.event(f"{describe(tracked.labels)} pending in Prometheus ({_rule_wait(tracked.labels)})")
            if alert["state"] == "firing" and tracked.firing_at is None:
                tracked.firing_at = self.elapsed()
                self.event(f"{describe(tracked.labels)} FIRING: {alert['annotations'].get('summary', '')}")

    def _alertmanager(self) -> None:
        held = self.alertmanager.alerts()
        by_fingerprint = {a["fingerprint"]: a for a in held}
        silences = None
        for alert in held:
            tracked = self._find(alert["labels"])
            if tracked is None:
                continue
            status = alert["status"]
            reasons = [f"inhibited by {describe(by_fingerprint[f]['labels'])}" if f in by_fingerprint
                       else f"inhibited by alert {f}" for f in status.get("inhibitedBy") or []]
            if status.get("silencedBy"):
                silences = silences if silences is not None else self.alertmanager.silences()
                reasons += [_silence(silences.get(s), s) for s in status["silencedBy"]]
            reason = "; ".join(reasons)
            if reason != tracked.held:
                tracked.held = reason
                self.event(f"{describe(tracked.labels)} held back by Alertmanager: {reason}" if reason else
                           f"{describe(tracked.labels)} no longer held back by Alertmanager")
        self._grouped()

    def _grouped(self) -> None:
        """Alerts joining a group Alertmanager already notified go out with its next notification."""
        for group in self.alertmanager.groups():
            members = [t for t in (self._find(a["labels"]) for a in group["alerts"]) if t is not None]
            if any(m.receivers for m in members):
                for member in members:
                    if not member.receivers and not member.grouped and member.firing_at is not None:
                        member.grouped = True
                        self.event(f"{describe(member.labels)} joins a group '{group['receiver']['name']}' "
                                   "was already notified of: it goes out with the group's next notification "
                                   "(Alertmanager's group_interval)")

    def _notifications(self) -> None:
        """Each new notification, attributed by its labels: to an alert of this step, one per line;
        to alerts of earlier steps, counted per alert name, receiver and status."""
        notes = [n for n in self.exporter.notifications() if n["received_at"] > self.notes_after]
        earlier: dict[tuple[str, str, str], int] = {}
        for note in sorted(notes, key=lambda n: n["received_at"]):
            self.notes_after = max(self.notes_after, note["received_at"])
            tracked = self._find(note["labels"])
            if tracked is None:
                copy = " (time-compressed)" if DEMO_LABEL in note["labels"] else ""
                key = (note["status"], f"{note['alertname']}{copy}", note["receiver"])
                earlier[key] = earlier.get(key, 0) + 1
                continue
            self.event(f"notification ({note['status']}) for {describe(note['labels'])} -> "
                       f"receiver '{note['receiver']}'")
            if note["status"] == "firing":
                tracked.receivers.append(note["receiver"])
        for (status, name, receiver), count in earlier.items():
            self.event(f"notification ({status}) for {count} {name} of earlier steps -> receiver '{receiver}'")

    def _find(self, labels: dict[str, str]) -> Tracked | None:
        """The tracked alert a notification or an Alertmanager alert is about: its labels are
        exactly the alert's, plus Prometheus' external labels (a copy's differ by `demo`)."""
        own = frozenset((name, value) for name, value in labels.items() if name not in self.external)
        return self.tracked.get(own)


def _rule_wait(labels: dict[str, str]) -> str:
    try:
        shipped = generator.alert(labels.get("alertname", "")).for_
    except KeyError:
        return "not one of the shipped rules"
    if DEMO_LABEL in labels:
        return f"the demo's copy: fires after for: {compressed_for(shipped or '0s')} instead of {shipped}"
    return f"shipped rule: fires after for: {shipped}" if shipped else "shipped rule without for: fires at once"


def _silence(silence: dict | None, silence_id: str) -> str:
    if silence is None:
        return f"silenced by silence {silence_id}"
    return (f"silenced by silence {silence_id} ({silence.get('createdBy', '?')}: {silence.get('comment', '')!r}, "
            f"until {silence.get('endsAt', '?')})")

"""The production stack's Alertmanager receivers, filled from `.env` or secret files.

Alertmanager expands no environment variable in its configuration, and a Slack, PagerDuty or
e-mail integration without its secret fails at every send (and raises
AlertmanagerNotificationsFailing). So the production stack's one-shot `secrets` service
(`python -m llm_exporter.stack_secrets DIR --alertmanager-config ...`) writes, in DIR:

- each secret it was given, one per file and without a final newline (Alertmanager 0.25 sends the
  content of `auth_password_file` untrimmed), which Alertmanager reads at every send:
  `slack_webhook_url` (`api_url_file`), `pagerduty_routing_key` (`routing_key_file`),
  `smtp_password` (`auth_password_file`); a secret no longer given is deleted;
- `alertmanager.yml`: the shipped alertmanager/alertmanager.yml whose `pager` receiver also sends
  to PagerDuty, Slack and e-mail, and whose `ticket` receiver also sends to Slack and e-mail, each
  only when its settings are there. The integrations' texts come from the shipped file's
  ready-to-fill receivers `pagerduty`, `slack` and `email` (which the rendered file then drops);
  routes, inhibition and the webhook to the exporter's notification log stay as shipped.

Where each value comes from: the environment (compose passes `.env`'s SLACK_WEBHOOK_URL,
PAGERDUTY_ROUTING_KEY, SMTP_SMARTHOST, SMTP_FROM, SMTP_TO, SMTP_USERNAME, SMTP_PASSWORD), else,
for the three secrets, the file of the same lower-case name in the secrets input directory
(compose mounts `LLM_OBS_SECRETS_DIR`, default ./secrets). Nothing secret is written into the
rendered configuration or printed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

CONFIG_NAME = "alertmanager.yml"
SLACK_URL, PAGERDUTY_KEY, SMTP_PASSWORD = "slack_webhook_url", "pagerduty_routing_key", "smtp_password"
SECRETS = (SLACK_URL, PAGERDUTY_KEY, SMTP_PASSWORD)  # file names; the variable is the upper-case name
SMTP_REQUIRED = ("SMTP_SMARTHOST", "SMTP_FROM", "SMTP_TO")
# receiver of the shipped routes -> the integrations it also sends to, when configured
ROUTED = {"pager": ("pagerduty", "slack", "email"), "ticket": ("slack", "email")}
TEMPLATE_RECEIVERS = {"pagerduty": "pagerduty_configs", "slack": "slack_configs", "email": "email_configs"}


class ReceiverError(ValueError):
    """A receiver setting that cannot work; the message names the variable or file and why."""


@dataclass(frozen=True)
class Smtp:
    smarthost: str
    sender: str
    to: str
    username: str | None
    password: str | None


@dataclass(frozen=True)
class Receivers:
    """What `.env` and the secret files configure; None: that integration is off."""

    slack_webhook_url: str | None = None
    pagerduty_routing_key: str | None = None
    smtp: Smtp | None = None

    def integrations(self) -> tuple[str, ...]:
        on = {"pagerduty": self.pagerduty_routing_key, "slack": self.slack_webhook_url, "email": self.smtp}
        return tuple(name for name in TEMPLATE_RECEIVERS if on[name] is not None)


def _secret(name: str, environ: Mapping[str, str], input_dir: Path | None) -> str | None:
    """The secret from the environment, else from input_dir/name; None when neither has one."""
    value = environ.get(name.upper(), "").strip()
    origin = name.upper()
    if not value and input_dir is not None and (input_dir / name).exists():
        origin = f"the secret file {name}"
        try:
            value = (input_dir / name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ReceiverError(f"cannot read the secret file {name} ({exc.strerror}): it must be readable by the "
                                "stack's user, uid 10101 (chmod 0444, or chown 10101)") from None
    if not value:
        return None
    if "\n" in value or any(ch.isspace() for ch in value):
        raise ReceiverError(f"{origin} must be one line without spaces")
    return value


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ReceiverError("SLACK_WEBHOOK_URL must be an absolute https:// URL (Slack: Apps > Incoming Webhooks)")
    return url


def _smtp(environ: Mapping[str, str], password: str | None) -> Smtp | None:
    given = {name: environ.get(name, "").strip() for name in (*SMTP_REQUIRED, "SMTP_USERNAME")}
    if not any(given.values()) and password is None:
        return None
    missing = [name for name in SMTP_REQUIRED if not given[name]]
    if missing:
        raise ReceiverError(f"e-mail needs {', '.join(SMTP_REQUIRED)}; missing: {', '.join(missing)}")
    host, _, port = given["SMTP_SMARTHOST"].rpartition(":")
    if not host or not port.isdigit():
        raise ReceiverError(f"SMTP_SMARTHOST must be host:port, e.g. smtp.example.com:587 (got {host or port!r})")
    if "@" not in given["SMTP_FROM"] or any("@" not in a for a in given["SMTP_TO"].split(",")):
        raise ReceiverError("SMTP_FROM and SMTP_TO must be e-mail addresses (SMTP_TO: comma-separated)")
    username = given["SMTP_USERNAME"] or (given["SMTP_FROM"] if password else None)
    return Smtp(given["SMTP_SMARTHOST"], given["SMTP_FROM"], given["SMTP_TO"], username, password)


def read_receivers(environ: Mapping[str, str], input_dir: Path | None = None) -> Receivers:
    """The receivers `environ` (and the secret files in input_dir) configure; ReceiverError when
    a setting is there but cannot work (a half-configured e-mail, a URL that is not one, ...)."""
    slack = _secret(SLACK_URL, environ, input_dir)
    return Receivers(slack_webhook_url=_check_url(slack) if slack else None,
                     pagerduty_routing_key=_secret(PAGERDUTY_KEY, environ, input_dir),
                     smtp=_smtp(environ, _secret(SMTP_PASSWORD, environ, input_dir)))


def _integration(shipped: dict[str, Any], name: str, receivers: Receivers, secrets_dir: Path) -> dict[str, Any]:
    """The shipped ready-to-fill receiver's integration, with its secret file and settings."""
    key = TEMPLATE_RECEIVERS[name]
    by_name = {r["name"]: r for r in shipped["receivers"]}
    if name not in by_name or not by_name[name].get(key):
        raise ReceiverError(f"the shipped Alertmanager configuration has no `{name}` receiver with {key}")
    config = copy.deepcopy(by_name[name][key][0])
    if name == "slack":
        config["api_url_file"] = str(secrets_dir / SLACK_URL)
    elif name == "pagerduty":
        config["routing_key_file"] = str(secrets_dir / PAGERDUTY_KEY)
    else:
        smtp = receivers.smtp
        assert smtp is not None
        config.update({"smarthost": smtp.smarthost, "from": smtp.sender, "to": smtp.to})
        config.pop("auth_username", None)
        config.pop("auth_password_file", None)
        if smtp.password is not None:
            config.update({"auth_username": smtp.username, "auth_password_file": str(secrets_dir / SMTP_PASSWORD)})
    return config


def render(shipped: dict[str, Any], shipped_dir: Path, receivers: Receivers, secrets_dir: Path) -> dict[str, Any]:
    """The production configuration: `shipped` with the configured integrations added to the
    routed receivers, the ready-to-fill ones dropped, template paths made absolute."""
    config = copy.deepcopy(shipped)
    config["templates"] = [str(shipped_dir / path) for path in shipped.get("templates", [])]
    on = receivers.integrations()
    kept = []
    for receiver in config["receivers"]:
        if receiver["name"] in TEMPLATE_RECEIVERS:
            continue
        for name in ROUTED.get(receiver["name"], ()):
            if name in on:
                receiver.setdefault(TEMPLATE_RECEIVERS[name], []).append(
                    _integration(shipped, name, receivers, secrets_dir))
        kept.append(receiver)
    config["receivers"] = kept
    return config


def describe(receivers: Receivers) -> list[str]:
    """Where each routed receiver sends, in words (no secret)."""
    on = receivers.integrations()
    lines = [f"{receiver} -> {', '.join([*(n for n in names if n in on), 'exporter notification log'])}"
             for receiver, names in ROUTED.items()]
    if not on:
        lines.append("no Slack, PagerDuty or e-mail settings: notifications reach only the exporter's "
                     "notification log (set them in .env, docs/production.md)")
    return lines


def write_secret_files(secrets_dir: Path, receivers: Receivers, write: Callable[[Path, str], None]) -> None:
    """One file per secret given (Alertmanager reads it at every send); a secret no longer given is deleted."""
    values = {SLACK_URL: receivers.slack_webhook_url, PAGERDUTY_KEY: receivers.pagerduty_routing_key,
              SMTP_PASSWORD: receivers.smtp.password if receivers.smtp else None}
    for name, value in values.items():
        if value is None:
            (secrets_dir / name).unlink(missing_ok=True)
        else:
            write(secrets_dir / name, value)


def write_receivers(secrets_dir: Path, shipped_path: Path, receivers: Receivers,
                    write: Callable[[Path, str], None]) -> list[str]:
    """Write the secret files and alertmanager.yml into secrets_dir with `write`; the report lines."""
    if not shipped_path.is_file():
        raise ReceiverError(f"no Alertmanager configuration at {shipped_path}")
    shipped = yaml.safe_load(shipped_path.read_text(encoding="utf-8"))
    config = render(shipped, shipped_path.parent, receivers, secrets_dir)
    write_secret_files(secrets_dir, receivers, write)
    header = (f"# Written by the `secrets` service (llm_exporter.stack_receivers) from {shipped_path}\n"
              "# and the receiver settings in .env; edit those, not this file.\n")
    write(secrets_dir / CONFIG_NAME, header + yaml.safe_dump(config, sort_keys=False, width=1000))
    return [f"{CONFIG_NAME}: {line}" for line in describe(receivers)]

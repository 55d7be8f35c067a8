"""`python -m llm_exporter.stack_secrets DIR`: the compose stack's secrets, made at first start.

docker-compose.yml runs this once before the other services (service `secrets`, the exporter's
image) with DIR on a named volume that Alertmanager, Grafana and the exporter mount read-only:

- `DIR/webhook_token`: the bearer token Alertmanager sends to the exporter's webhook
  (`credentials_file` in alertmanager.yml; `--webhook-token-file` for the exporter); generated
  when missing, kept afterwards.
- `DIR/grafana_admin_password`: `GRAFANA_ADMIN_PASSWORD` when the environment (or `.env`) sets
  it, else generated when missing, kept afterwards (Grafana reads it through
  `GF_SECURITY_ADMIN_PASSWORD__FILE`). Grafana uses it only when it creates its database, at the
  first start.

With `--alertmanager-config PATH` (the production stack), it also writes Alertmanager's receivers:
the secret files and `DIR/alertmanager.yml` rendered from PATH and the receiver settings in the
environment or in the `--secrets-input` directory (llm_exporter.stack_receivers).

No secret is ever printed: only where to read it. Files are written whole (a temporary file,
then a rename) with mode 0444: the services read them under their own user ids. A receiver
setting that cannot work stops the job with a message naming it (exit 1), and the services that
wait for it do not start.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .stack_receivers import ReceiverError, read_receivers, write_receivers

WEBHOOK_TOKEN = "webhook_token"
GRAFANA_PASSWORD = "grafana_admin_password"
READ_COMMAND = "docker compose exec grafana cat /run/secrets/llm/" + GRAFANA_PASSWORD


def _write(path: Path, value: str) -> None:
    """`value` exactly (no newline added: Alertmanager 0.25 reads a password file untrimmed)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    os.chmod(temporary, 0o444)
    os.replace(temporary, path)


def ensure_secrets(directory: Path, environ: Mapping[str, str]) -> list[str]:
    """Create what is missing in `directory`; returns one line per secret saying what was done."""
    report = []
    token = directory / WEBHOOK_TOKEN
    if token.exists():
        report.append(f"{WEBHOOK_TOKEN}: kept")
    else:
        _write(token, secrets.token_urlsafe(32) + "\n")
        report.append(f"{WEBHOOK_TOKEN}: generated")
    password = directory / GRAFANA_PASSWORD
    given = environ.get("GRAFANA_ADMIN_PASSWORD", "").strip()
    if given:
        _write(password, given + "\n")
        report.append(f"{GRAFANA_PASSWORD}: from GRAFANA_ADMIN_PASSWORD")
    elif password.exists():
        report.append(f"{GRAFANA_PASSWORD}: kept; read it with `{READ_COMMAND}`")
    else:
        _write(password, secrets.token_urlsafe(18) + "\n")
        report.append(f"{GRAFANA_PASSWORD}: generated; read it with `{READ_COMMAND}`")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm_exporter.stack_secrets",
                                     description="The compose stack's secrets, made at first start.")
    parser.add_argument("directory", type=Path, help="where the secrets are written (compose: the llm-secrets volume)")
    parser.add_argument("--alertmanager-config", type=Path,
                        help="the shipped alertmanager.yml: also write the production receivers and their secrets")
    parser.add_argument("--secrets-input", type=Path,
                        help="directory of secret files (slack_webhook_url, pagerduty_routing_key, smtp_password) "
                             "read when the environment does not set them")
    args = parser.parse_args(argv)
    directory = args.directory
    try:
        lines = ensure_secrets(directory, os.environ)
        if args.alertmanager_config is not None:
            receivers = read_receivers(os.environ, args.secrets_input)
            lines += write_receivers(directory, args.alertmanager_config, receivers, _write)
    except ReceiverError as exc:
        print(f"stack_secrets: Alertmanager receivers: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"stack_secrets: cannot write secrets in {directory}: {exc.strerror} "
              f"({type(exc).__name__})", file=sys.stderr)
        return 1
    for line in lines:
        print(f"stack_secrets: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

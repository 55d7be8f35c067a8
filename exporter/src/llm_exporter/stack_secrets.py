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

No secret is ever printed: only where to read it. Files are written whole (a temporary file,
then a rename) with mode 0444: the three services read them under their own user ids.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

WEBHOOK_TOKEN = "webhook_token"
GRAFANA_PASSWORD = "grafana_admin_password"
READ_COMMAND = "docker compose exec grafana cat /run/secrets/llm/" + GRAFANA_PASSWORD


def _write(path: Path, value: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    os.chmod(temporary, 0o444)
    os.replace(temporary, path)


def ensure_secrets(directory: Path, environ: Mapping[str, str]) -> list[str]:
    """Create what is missing in `directory`; returns one line per secret saying what was done."""
    report = []
    token = directory / WEBHOOK_TOKEN
    if token.exists():
        report.append(f"{WEBHOOK_TOKEN}: kept")
    else:
        _write(token, secrets.token_urlsafe(32))
        report.append(f"{WEBHOOK_TOKEN}: generated")
    password = directory / GRAFANA_PASSWORD
    given = environ.get("GRAFANA_ADMIN_PASSWORD", "").strip()
    if given:
        _write(password, given)
        report.append(f"{GRAFANA_PASSWORD}: from GRAFANA_ADMIN_PASSWORD")
    elif password.exists():
        report.append(f"{GRAFANA_PASSWORD}: kept; read it with `{READ_COMMAND}`")
    else:
        _write(password, secrets.token_urlsafe(18))
        report.append(f"{GRAFANA_PASSWORD}: generated; read it with `{READ_COMMAND}`")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m llm_exporter.stack_secrets DIR", file=sys.stderr)
        return 2
    directory = Path(args[0])
    try:
        lines = ensure_secrets(directory, os.environ)
    except OSError as exc:
        print(f"stack_secrets: cannot write secrets in {directory}: {exc.strerror} "
              f"({type(exc).__name__})", file=sys.stderr)
        return 1
    for line in lines:
        print(f"stack_secrets: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

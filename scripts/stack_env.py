"""What a running compose stack was configured with, read the way docker compose reads it:
the environment first, then the repository's .env file, then what the stack generated."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def dotenv(path: Path = REPO / ".env") -> dict[str, str]:
    """KEY=value lines of .env (comments and blank lines ignored; quotes stripped)."""
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip().strip("'\"") for key, value in pairs}


GRAFANA_PASSWORD_FILE = "/run/secrets/llm/grafana_admin_password"  # written by compose's `secrets` service


def generated_grafana_password() -> str:
    """The password compose's `secrets` service generated, read from the running Grafana."""
    command = ["docker", "compose", "exec", "-T", "grafana", "cat", GRAFANA_PASSWORD_FILE]
    try:
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"cannot read Grafana's generated password ({' '.join(command)}): {exc}") from None
    if result.returncode != 0:
        raise RuntimeError(f"cannot read Grafana's generated password ({' '.join(command)}): "
                           f"{result.stderr.strip()[:300]}")
    return result.stdout.strip()


def grafana_credentials(read_generated: Callable[[], str] = generated_grafana_password) -> tuple[str, str]:
    """The Grafana admin login compose set up: GRAFANA_ADMIN_PASSWORD when the environment or
    .env sets it, else the password the stack generated at its first start."""
    settings = {**dotenv(), **os.environ}
    password = settings.get("GRAFANA_ADMIN_PASSWORD", "")
    return settings.get("GRAFANA_ADMIN_USER") or "admin", password or read_generated()

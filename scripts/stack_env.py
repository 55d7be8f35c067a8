"""What a running compose stack was configured with, read the way docker compose reads it:
the environment first, then the repository's .env file, then compose's defaults."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def dotenv(path: Path = REPO / ".env") -> dict[str, str]:
    """KEY=value lines of .env (comments and blank lines ignored; quotes stripped)."""
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip().strip("'\"") for key, value in pairs}


def grafana_credentials() -> tuple[str, str]:
    """The Grafana admin login compose set up (defaults admin/admin, as in docker-compose.yml)."""
    settings = {**dotenv(), **os.environ}
    return settings.get("GRAFANA_ADMIN_USER", "admin"), settings.get("GRAFANA_ADMIN_PASSWORD", "admin")

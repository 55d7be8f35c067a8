"""The smoke test and the demo log in to Grafana with what compose was given (env, then .env)."""

from __future__ import annotations

import sys

from tests.support.processes import REPO

sys.path.insert(0, str(REPO / "scripts"))
import stack_env


def test_dotenv_is_read_like_compose(tmp_path, monkeypatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nGRAFANA_ADMIN_PASSWORD='s3cret'\n\nGRAFANA_ADMIN_USER = ops\nBROKEN\n")
    assert stack_env.dotenv(env_file) == {"GRAFANA_ADMIN_PASSWORD": "s3cret", "GRAFANA_ADMIN_USER": "ops"}
    monkeypatch.setattr(stack_env, "dotenv", lambda: {"GRAFANA_ADMIN_PASSWORD": "s3cret"})
    monkeypatch.delenv("GRAFANA_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("GRAFANA_ADMIN_USER", raising=False)
    assert stack_env.grafana_credentials() == ("admin", "s3cret")
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", "from-env")
    assert stack_env.grafana_credentials() == ("admin", "from-env"), "the environment wins, as in compose"


def test_missing_dotenv_means_compose_defaults(tmp_path) -> None:
    assert stack_env.dotenv(tmp_path / ".env") == {}

"""The smoke test and the demo log in to Grafana with what compose was given (env, then .env)."""

from __future__ import annotations

import sys

import pytest

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


def test_without_a_password_the_generated_one_is_read_from_the_stack(tmp_path, monkeypatch) -> None:
    assert stack_env.dotenv(tmp_path / ".env") == {}
    monkeypatch.setattr(stack_env, "dotenv", lambda: {"GRAFANA_ADMIN_PASSWORD": ""})  # as .env.example has it
    monkeypatch.delenv("GRAFANA_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("GRAFANA_ADMIN_USER", raising=False)
    assert stack_env.grafana_credentials(lambda: "generated-pw") == ("admin", "generated-pw")


def test_reading_the_generated_password_without_a_stack_says_why(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no docker
    with pytest.raises(RuntimeError, match="cannot read Grafana's generated password"):
        stack_env.generated_grafana_password()

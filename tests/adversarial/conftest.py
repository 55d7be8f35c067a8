"""Fixtures of the adversarial suite: the figures it measures, and one exporter per mode under
attack (each sees nothing but hostile requests, so that "nothing was recorded" can be checked)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adversarial.figures import Figures
from tests.support.openai_upstream import OpenAIUpstream
from tests.support.processes import Running, run_exporter, webhook_token_file

BODY_TIMEOUT_S = 1.0  # short, so that a stalled upload is refused within the test
PROXY_MAX_REQUEST_BYTES = 1024 * 1024


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    collected = Figures()
    yield collected
    collected.write()
    if os.environ.get("RELIABILITY_DOC") == "1":
        collected.rewrite_doc()


@pytest.fixture(scope="session")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return webhook_token_file(tmp_path_factory.mktemp("secrets"))


@pytest.fixture(scope="session")
def upstream() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def mock(token_file: Path) -> Iterator[Running]:
    """Mock mode, no simulated traffic, the webhook behind a bearer token."""
    with run_exporter("--mode", "mock", "--mock-rps", "0", "--body-timeout", str(BODY_TIMEOUT_S),
                      "--webhook-token-file", str(token_file)) as running:
        yield running


@pytest.fixture(scope="module")
def real() -> Iterator[Running]:
    """Real mode (no GPU here: llm_gpu_up 0), the webhook without a token."""
    with run_exporter("--mode", "real", "--body-timeout", str(BODY_TIMEOUT_S)) as running:
        yield running


@pytest.fixture(scope="module")
def config() -> Iterator[Running]:
    """Config mode (the production stack's exporter), the webhook without a token."""
    with run_exporter("--mode", "config", "--body-timeout", str(BODY_TIMEOUT_S)) as running:
        yield running


@pytest.fixture(scope="module")
def proxy(upstream: OpenAIUpstream) -> Iterator[Running]:
    with run_exporter("--mode", "proxy", "--upstream-url", upstream.url, "--body-timeout", str(BODY_TIMEOUT_S),
                      "--max-request-bytes", str(PROXY_MAX_REQUEST_BYTES)) as running:
        yield running

"""Shared fixtures. Process helpers live in tests/support/processes.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.processes import Running, run_exporter


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: starts real Prometheus/Alertmanager processes (slower)")
    config.addinivalue_line("markers", "gpu: needs an NVIDIA GPU; skipped with its reason elsewhere")


@pytest.fixture(scope="session")
def mock_exporter() -> Iterator[Running]:
    """One live mock-mode exporter shared by read-only tests (do not switch its scenario)."""
    with run_exporter("--mode", "mock", "--mock-rps", "40", "--seed", "7") as running:
        yield running

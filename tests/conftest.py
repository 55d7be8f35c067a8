"""Shared fixtures. Process helpers live in tests/support/processes.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.support.metrics_text import families, sample_sum
from tests.support.processes import Running, run_exporter, wait_for


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: starts real Prometheus/Alertmanager processes (slower)")
    config.addinivalue_line("markers", "gpu: needs an NVIDIA GPU; skipped with its reason elsewhere")
    # pytest-xdist registers it too; declared here so that `-p no:xdist` still runs the suite
    config.addinivalue_line("markers", "xdist_group(name): run on the same worker as the group's other tests")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's worker reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` spreads the tests over pytest-xdist workers (`--dist loadgroup`). A test that
    uses a module-scoped fixture (a live Prometheus fleet, an exporter, a receiver) joins its
    module's group, so that the fixture starts once, on one worker; every other test runs on
    whichever worker is free."""
    for item in items:
        fixtures = getattr(item, "_fixtureinfo", None)
        definitions = fixtures.name2fixturedefs.values() if fixtures else ()
        if any(d.scope == "module" for defs in definitions for d in defs):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


@pytest.fixture(scope="session")
def mock_exporter() -> Iterator[Running]:
    """One live mock-mode exporter shared by read-only tests (do not switch its scenario)."""
    with run_exporter("--mode", "mock", "--mock-rps", "40", "--seed", "7") as running:
        wait_for(lambda: recorded_calls(running.url) >= 100, timeout=60, what="100 recorded mock calls")
        yield running


def recorded_calls(url: str) -> float:
    """How many calls a live exporter has recorded so far (sum of llm_requests_total)."""
    text = requests.get(url + "/metrics", timeout=5).text
    return sample_sum(families(text)["llm_requests"], "_total")

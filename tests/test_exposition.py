"""/metrics on a live exporter: formats, content types, histogram invariants, exemplars."""

from __future__ import annotations

import itertools
import math

import pytest
import requests

from tests.support.metrics_text import OPENMETRICS_ACCEPT, families, histogram_series

HISTOGRAMS = ("llm_request_duration_seconds", "llm_time_to_first_token_seconds",
              "llm_time_per_output_token_seconds", "llm_request_cost_usd")


def scrape(url: str, accept: str | None = None) -> requests.Response:
    headers = {"Accept": accept} if accept else {}
    return requests.get(url + "/metrics", headers=headers, timeout=5, allow_redirects=False)


def test_text_format_by_default(mock_exporter) -> None:
    response = scrape(mock_exporter.url)
    assert response.status_code == 200  # not a 307 to /metrics/
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "llm_requests_total" in families(response.text) or "llm_requests" in families(response.text)


def test_openmetrics_when_asked(mock_exporter) -> None:
    response = scrape(mock_exporter.url, OPENMETRICS_ACCEPT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.text.endswith("# EOF\n")
    parsed = families(response.text, openmetrics=True)  # the strict parser raises on any violation
    assert "llm_requests" in parsed


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
def test_histogram_invariants(mock_exporter, openmetrics: bool) -> None:
    text = scrape(mock_exporter.url, OPENMETRICS_ACCEPT if openmetrics else None).text
    parsed = families(text, openmetrics)
    checked = 0
    for name in HISTOGRAMS:
        for labels, series in histogram_series(parsed[name]).items():
            buckets = series["buckets"]
            edges = [edge for edge, _ in buckets]
            assert edges == sorted(edges) and len(set(edges)) == len(edges), f"{name}{labels}: buckets out of order"
            assert math.isinf(edges[-1]) and edges.count(math.inf) == 1, f"{name}{labels}: one +Inf bucket, last"
            counts = [count for _, count in buckets]
            assert all(a <= b for a, b in itertools.pairwise(counts)), f"{name}{labels}: not cumulative"
            assert counts[-1] == series["count"], f"{name}{labels}: +Inf != _count"
            assert series["sum"] >= 0
            checked += 1
    assert checked >= 10, "the mock should have produced several histogram series by now"


def test_exemplars_only_in_openmetrics(mock_exporter) -> None:
    om = scrape(mock_exporter.url, OPENMETRICS_ACCEPT).text
    text = scrape(mock_exporter.url).text
    exemplars = [s.exemplar for f in families(om, True).values() for s in f.samples if s.exemplar]
    assert exemplars, "latency buckets carry trace_id exemplars in OpenMetrics"
    assert all(len(e.labels["trace_id"]) == 32 for e in exemplars)
    assert "trace_id" not in text

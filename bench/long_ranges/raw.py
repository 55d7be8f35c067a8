"""What a panel that reads a recording rule would cost without it: the same query over the raw
series the rule reads. The benchmark times both on the same data and checks they answer the same.

Each equivalent replaces a recorded selector by the raw expression it stands for, for this
project's own series (the benchmark's data: the contract's, source `llm`, layer `client`):

    app_model:<histogram>_bucket:rate5m{...}    rate(<histogram>_bucket{...}[5m])
    app_model:llm_requests:rate30d{...}         rate(llm_requests_total{...}[30d])
    app_model:llm_request_errors:rate30d{...}   rate(llm_requests_total{status="error", ...}[30d])
    sum_over_time(app_model:<histogram>_bucket:increase1m{...}[w])
                                                increase(<histogram>_bucket{...}[w])

It applies to any query containing the pattern, so it follows the dashboards as they change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from prometheus.generator.adapters import CLIENT, CONTRACT


@dataclass(frozen=True)
class RawEquivalent:
    title: str
    pattern: re.Pattern[str]  # a recorded selector
    replacement: Callable[[re.Match[str]], str]
    # Counts per bucket: compared against the largest bucket of the answer (the +Inf one), as a
    # rare bucket's handful of calls differs by a fraction of a call between increase() windows.
    of_largest: bool = False

    def applies(self, query: str) -> bool:
        return self.pattern.search(query) is not None

    def rewrite(self, query: str) -> str:
        return self.pattern.sub(self.replacement, query)


def _labelled(expr: str) -> str:
    """`expr` with the labels the recorded series carries and the raw series lacks."""
    return f'label_replace(label_replace({expr}, "source", "{CONTRACT}", "", ""), "layer", "{CLIENT}", "layer", "")'


def _buckets(match: re.Match[str]) -> str:
    return _labelled(f"rate({match.group('family')}_bucket{{{match.group('selector')}}}[5m])")


def _slo(match: re.Match[str]) -> str:
    selector = ", ".join(filter(None, ('status="error"' if match.group("error") else "", match.group("selector"))))
    return _labelled(f"rate(llm_requests_total{{{selector}}}[30d])")


def _minutes(match: re.Match[str]) -> str:
    return f"increase({match.group('family')}_bucket{{{match.group('selector')}}}[{match.group('window')}])"


BUCKET_RATES = RawEquivalent(
    "quantiles from the recorded 5-minute bucket rates per app and model",
    re.compile(r"app_model:(?P<family>llm_\w+?)_bucket:rate5m\{(?P<selector>[^}]*)\}"), _buckets)
SLO_30D = RawEquivalent(
    "30-day availability and error budget from the recorded 30-day call and error rates",
    re.compile(r"app_model:llm_request(?:s|(?P<error>_errors)):rate30d\{(?P<selector>[^}]*)\}"), _slo)
BUCKET_MINUTES = RawEquivalent(
    "heatmaps from the recorded per-minute bucket increases per app and model",
    re.compile(r"sum_over_time\(app_model:(?P<family>llm_\w+?)_bucket:increase1m\{(?P<selector>[^}]*)\}"
               r"\[(?P<window>\w+)\]\)"), _minutes, of_largest=True)
EQUIVALENTS = (SLO_30D, BUCKET_RATES, BUCKET_MINUTES)

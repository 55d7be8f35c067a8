"""Recording rules proposed for panels that miss their target, and how a panel's query reads them.
Not shipped: `--proposals` backfills the rules on the benchmark's data, then times every panel
query a proposal applies to beside its rewrite, and checks that both give the same answer.

A proposal only moves work from the dashboard to the rule evaluator: same range, same labels,
same value up to the rules' evaluation interval. It applies to any query containing its pattern,
so it follows the dashboards as they change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from llm_exporter import contract
from prometheus.generator import recording
from prometheus.generator.model import Record

SLO_WINDOW = "30d"


@dataclass(frozen=True)
class Proposal:
    title: str
    records: tuple[Record, ...]  # new rules it needs (the shipped ones are there already)
    interval: str  # the evaluation interval of the proposed rule group
    pattern: re.Pattern[str]  # a raw range selector the proposal replaces
    replacement: Callable[[re.Match[str]], str]

    def applies(self, query: str) -> bool:
        return self.pattern.search(query) is not None

    def rewrite(self, query: str) -> str:
        return self.pattern.sub(self.replacement, query)


def _slo_records() -> tuple[Record, ...]:
    """The 30-day call and error rates per app and model, recorded like the shipped burn-rate
    windows (same names, same labels, the same `or ... * 0` for pairs without errors)."""
    calls, errors = recording.requests_rate(SLO_WINDOW), recording.errors_rate(SLO_WINDOW)
    by = recording.APP_MODEL_CALLS
    return (
        Record(calls, f"sum by ({by}) (rate(llm_requests_total[{SLO_WINDOW}]))"),
        Record(errors, f'sum by ({by}) (rate(llm_requests_total{{status="error"}}[{SLO_WINDOW}]))\n'
                       f"  or {calls} * 0"),
    )


def _slo_series(match: re.Match[str]) -> str:
    name = recording.errors_rate(SLO_WINDOW) if match.group("error") else recording.requests_rate(SLO_WINDOW)
    return f"{name}{{{match.group('selector')}}}"


SLO_30D = Proposal(
    "30-day call and error rates per app and model, recorded every 5 minutes",
    _slo_records(), "5m",
    re.compile(r'rate\(llm_requests_total\{(?P<error>status="error", )?(?P<selector>[^}]*)\}\[30d\]\)'),
    _slo_series,
)

# Histograms whose per-pair bucket rates over 5 minutes are recorded (the latency ones are shipped).
BUCKET_HISTOGRAMS = (*recording.LATENCY_HISTOGRAMS, contract.REQUEST_COST)


def _bucket_series(match: re.Match[str]) -> str:
    spec = next(s for s in BUCKET_HISTOGRAMS if s.name == match.group("family"))
    return f"{recording.buckets(spec)}{{{match.group('selector')}}}"


BUCKET_RATES = Proposal(
    "quantile panels read the recorded 5-minute bucket rates per app and model (new for the cost histogram)",
    (Record(recording.buckets(contract.REQUEST_COST),
            f"sum by ({recording.APP_MODEL}, le) (rate({contract.REQUEST_COST.name}_bucket[5m]))"),),
    "1m",
    re.compile(r"rate\((?P<family>" + "|".join(s.name for s in BUCKET_HISTOGRAMS)
               + r")_bucket\{(?P<selector>[^}]*)\}\[5m\]\)"),
    _bucket_series,
)

PROPOSALS = (SLO_30D, BUCKET_RATES)

"""Recording rules proposed for panels that miss their target, with the panels' queries rewritten
to read them. Not shipped: `--proposals` backfills them on the benchmark's data and times each
rewritten query beside the shipped one, and checks that both give the same answer.

A proposal only moves work from the dashboard to the rule evaluator; it must not change what a
panel shows (same range, same labels, same value up to the rule's evaluation interval).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from prometheus.generator import recording
from prometheus.generator.model import Record

SLO_WINDOW = "30d"


@dataclass(frozen=True)
class Proposal:
    title: str
    records: tuple[Record, ...]
    interval: str  # the evaluation interval of the proposed rule group
    panels: tuple[tuple[str, str], ...]  # (dashboard uid, panel title)
    rewrite: Callable[[str], str]  # a shipped query (variables expanded) -> the one reading the records

    def applies(self, dashboard: str, panel: str) -> bool:
        return (dashboard, panel) in self.panels


def _slo_records() -> tuple[Record, ...]:
    """The 30-day call and error rates per app and model, as the shipped rules record the
    burn-rate windows (same names, same labels, same `or ... * 0` for pairs without errors)."""
    calls, errors = recording.requests_rate(SLO_WINDOW), recording.errors_rate(SLO_WINDOW)
    by = recording.APP_MODEL_CALLS
    return (
        Record(calls, f"sum by ({by}) (rate(llm_requests_total[{SLO_WINDOW}]))"),
        Record(errors, f'sum by ({by}) (rate(llm_requests_total{{status="error"}}[{SLO_WINDOW}]))\n'
                       f"  or {calls} * 0"),
    )


_RAW_ERRORS = re.compile(r'rate\(llm_requests_total\{status="error", ([^}]*)\}\[30d\]\)')
_RAW_CALLS = re.compile(r"rate\(llm_requests_total\{([^}]*)\}\[30d\]\)")


def _read_slo_records(query: str) -> str:
    query = _RAW_ERRORS.sub(lambda m: f"{recording.errors_rate(SLO_WINDOW)}{{{m.group(1)}}}", query)
    return _RAW_CALLS.sub(lambda m: f"{recording.requests_rate(SLO_WINDOW)}{{{m.group(1)}}}", query)


PROPOSALS = (
    Proposal(
        "30-day call and error rates per app and model, recorded every 5 minutes",
        _slo_records(), "5m",
        (("llm-slo", "Availability, 30 days"), ("llm-slo", "Availability by model, 30 days"),
         ("llm-slo", "Error budget remaining, 30 days"), ("llm-slo", "Error budget remaining by model, 30 days")),
        _read_slo_records,
    ),
)

"""The shipped recording rules, backfilled over the simulated days as the dashboards need them.

`promtool tsdb create-blocks-from rules` evaluates each rule with range queries against a running
Prometheus and writes the results as blocks; a rule that reads another recorded series only sees
it once that series' blocks are loaded. So the rules go level by level: level 1 reads only raw
series, level n reads levels below n; after each level Prometheus restarts on the new blocks.

`plan()` decides, per rule:

- from when: what the panels read, over the longest timed range, and what those rules read in
  turn, back through every range selector (a rule only an instant panel reads needs its last
  hour; one no panel reads is not backfilled);
- how often: its group's evaluation interval in compose (prometheus.yml's global one, 15 s, or
  the group's own), except the rules that average over a day or more (burn-rate windows of 1 and
  3 days, the 7-day token baseline, the month-end forecast): every LONG_AVERAGE_INTERVAL.
  Evaluating those every 15 s over 30 days would take hours here; the panels that read them read
  fewer samples than in compose, and the table marks them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from prometheus import generator
from tests.support import promql
from tests.support.processes import run_prometheus

from .panels import RANGES, seconds

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_YML = REPO / "prometheus" / "prometheus.yml"
# Long enough that nothing simulated is deleted (compose keeps 35 days, the largest block then
# spans 3.5 days: what the timing run uses too).
RETENTION = "35d"
LOOKBACK_S = 300  # an instant selector reads up to 5 minutes back
LONG_AVERAGE_S = 86_400  # a rule reading a range at least this long is backfilled coarser
LONG_AVERAGE_INTERVAL = "5m"


@dataclass(frozen=True)
class Backfill:
    """The rules of one promtool run: one level, one evaluation interval, one start."""

    level: int
    interval: str
    start_s: int
    records: tuple[generator.Record, ...]


def levels(records: list[generator.Record] | None = None) -> list[list[generator.Record]]:
    """`records` (default: every shipped recording rule) grouped so that each reads only raw or
    already recorded series and the levels before it."""
    records = records if records is not None else generator.records()
    names = {r.name for r in records}
    reads = {name: {other for other in names if other != name and any(re.search(
        rf"(?<![\w:]){re.escape(other)}(?![\w:])", r.expr) for r in records if r.name == name)} for name in names}
    level: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in level:
            level[name] = 1 + max((depth(other) for other in reads[name]), default=0)
        return level[name]

    out: list[list[generator.Record]] = [[] for _ in range(max(map(depth, names), default=0))]
    for rule in records:
        out[level[rule.name] - 1].append(rule)
    return out


def _ranges_read(exprs: Iterable[str], names: set[str]) -> dict[str, float]:
    """Recorded name -> the longest range any of `exprs` reads it over (LOOKBACK_S for a plain selector)."""
    out: dict[str, float] = {}
    for analysis in promql.analyse(exprs).values():
        for selector in analysis.selectors:
            if selector.name in names:
                reach = seconds(selector.range) if selector.range else LOOKBACK_S
                out[selector.name] = max(out.get(selector.name, 0), reach)
    return out


def needed_history(panel_reads: list[tuple[str, bool]], records: list[generator.Record]) -> dict[str, float]:
    """Recorded name -> seconds of history before the end that some panel needs, directly or
    through the rules reading it. `panel_reads`: (PromQL as sent over the longest range, instant)."""
    names = {r.name for r in records}
    longest = max(RANGES.values())
    need: dict[str, float] = {}
    for instant in (True, False):
        span = 0 if instant else longest
        exprs = [expr for expr, is_instant in panel_reads if is_instant == instant]
        for name, reach in _ranges_read(exprs, names).items():
            need[name] = max(need.get(name, 0), span + reach)
    for level in reversed(levels(records)):
        for record in level:
            if record.name in need:
                for name, reach in _ranges_read([record.expr], names).items():
                    need[name] = max(need.get(name, 0), need[record.name] + reach)
    return need


def _longest_range_s(expr: str) -> float:
    return max((seconds(s.range) for s in promql.analysis(expr).selectors if s.range), default=0)


def coarse_names() -> set[str]:
    """The recorded names backfilled every LONG_AVERAGE_INTERVAL: averages over a day or more."""
    return {r.name for r in generator.records() if _longest_range_s(r.expr) >= LONG_AVERAGE_S}


def evaluation_intervals() -> dict[str, str]:
    """Record name -> its group's evaluation interval in compose (LONG_AVERAGE_INTERVAL for the
    coarse ones)."""
    default = str(yaml.safe_load(PROMETHEUS_YML.read_text())["global"]["evaluation_interval"])
    coarse = coarse_names()
    return {rule.name: LONG_AVERAGE_INTERVAL if rule.name in coarse else (group.interval or default)
            for group in generator.groups() for rule in group.rules if isinstance(rule, generator.Record)}


def plan(panel_reads: list[tuple[str, bool]], start_s: int, end_s: int,
         records: list[generator.Record] | None = None) -> list[Backfill]:
    """The promtool runs that give every panel what it reads, in level order."""
    records = records if records is not None else generator.records()
    promql.analyse([*(expr for expr, _ in panel_reads), *(r.expr for r in records)])  # one node run
    need, intervals = needed_history(panel_reads, records), evaluation_intervals()
    runs: dict[tuple[int, str, int], list[generator.Record]] = {}
    for index, level in enumerate(levels(records), start=1):
        for record in level:
            if record.name in need:
                start = max(start_s, int(end_s - need[record.name]) // 3600 * 3600)
                runs.setdefault((index, intervals.get(record.name, "1m"), start), []).append(record)
    return [Backfill(level, interval, start, tuple(rules)) for (level, interval, start), rules in sorted(runs.items())]


def absent(url: str, runs: list[Backfill], end_s: int) -> list[Backfill]:
    """The part of `runs` whose rules have no series in the TSDB served at `url` over the last
    hour before `end_s`: rules added since it was built (a rule whose expression changed needs a
    rebuild)."""
    out = []
    for run in runs:
        records = tuple(r for r in run.records if not requests.get(url + "/api/v1/series", timeout=60, params={
            "match[]": f'{{__name__="{r.name}"}}', "start": end_s - 3600, "end": end_s}).json()["data"])
        if records:
            out.append(Backfill(run.level, run.interval, run.start_s, records))
    return out


def _rule_file(rules: Iterable[generator.Record], path: Path) -> Path:
    group = {"name": path.stem, "rules": [{"record": r.name, "expr": r.expr.strip(),
                                           **({"labels": dict(r.labels)} if r.labels else {})} for r in rules]}
    path.write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False))
    return path


def backfill(data_dir: Path, runs: list[Backfill], end_s: int, workdir: Path, progress=print) -> None:
    """Each run's rules evaluated every `interval` from its start to `end_s`, into `data_dir`;
    Prometheus restarts on the new blocks before the next level."""
    workdir.mkdir(parents=True, exist_ok=True)
    for level in sorted({run.level for run in runs}):
        batch = [run for run in runs if run.level == level]
        with run_prometheus({"global": {}}, storage=data_dir, ready_timeout=600,
                            extra_args=[f"--storage.tsdb.retention.time={RETENTION}"]) as prometheus:
            outputs = []
            for index, run in enumerate(batch):
                rule_file = _rule_file(run.records, workdir / f"level-{level}-{index}.yml")
                output = workdir / f"level-{level}-{index}-blocks"
                shutil.rmtree(output, ignore_errors=True)
                started = time.monotonic()
                result = subprocess.run(
                    ["promtool", "tsdb", "create-blocks-from", "rules", "--quiet", f"--url={prometheus.url}",
                     f"--start={run.start_s}", f"--end={end_s}", f"--eval-interval={run.interval}",
                     f"--output-dir={output}", str(rule_file)], capture_output=True, text=True)
                if result.returncode != 0:
                    raise RuntimeError(f"promtool create-blocks-from rules (level {level}) failed:\n"
                                       f"{result.stderr[-3000:]}")
                outputs.append(output)
                progress(f"  rules: level {level}, {len(run.records)} rules every {run.interval} over the last "
                         f"{(end_s - run.start_s) / 3600:,.0f} h, {time.monotonic() - started:.0f} s")
        for output in outputs:
            for block in output.iterdir():
                shutil.move(str(block), data_dir / block.name)


def _metric(url: str, name: str) -> float:
    text = requests.get(url + "/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " ")
               or line.startswith(name + "{"))


def compact(data_dir: Path, progress=print, settle_s: float = 20.0) -> int:
    """Let Prometheus merge the backfilled blocks as it would its own (overlapping blocks first,
    then 2 h -> 6 h -> 18 h -> 54 h at 35 days' retention); returns the blocks left."""
    with run_prometheus({"global": {}}, storage=data_dir, ready_timeout=600,
                        extra_args=[f"--storage.tsdb.retention.time={RETENTION}"]) as prometheus:
        started = time.monotonic()
        blocks, stable_since = _metric(prometheus.url, "prometheus_tsdb_blocks_loaded"), time.monotonic()
        progress(f"  compaction: {blocks:.0f} blocks loaded")
        # The compactor runs a minute after start, then every minute; wait for it to go quiet.
        while time.monotonic() - started < 70 or time.monotonic() - stable_since < settle_s:
            time.sleep(5)
            now = _metric(prometheus.url, "prometheus_tsdb_blocks_loaded")
            if now != blocks:
                blocks, stable_since = now, time.monotonic()
                progress(f"  compaction: {blocks:.0f} blocks")
    return int(blocks)

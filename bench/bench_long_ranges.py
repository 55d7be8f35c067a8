"""Dashboards over 24 hours, 7 days and 30 days. Run: `make bench-long` (about two hours).

1. 30 days of the mock fleet (the exporter's own simulator and recorder on a simulated clock,
   scraped every 15 s) become TSDB blocks: `promtool tsdb create-blocks-from openmetrics`.
2. The shipped recording rules the panels read are backfilled on them at compose's evaluation
   intervals (bench/long_ranges/rules.py): `promtool tsdb create-blocks-from rules`, level by
   level; Prometheus compacts the blocks as its own (35 days' retention, as in compose).
3. A real Prometheus serves the result; every Prometheus query of every dashboard is timed at the
   step Grafana would use over each range (bench/long_ranges/panels.py), all variables at All;
   then each query that reads a recording rule standing for a raw query is timed again as that
   raw query (bench/long_ranges/raw.py), and both answers compared.

Targets (docs/performance.md): every panel <= 300 ms over 7 days and <= 1 s over 30 days, a
panel's time being the sum of its queries' medians. A benchmark, never a test: it prints the
tables (`--write-docs` puts them in docs/performance.md) and asserts nothing.

The TSDB is built in --workdir (outside the repository, about 1.5 GB); `--reuse` times an existing
one again without rebuilding it, after backfilling the recording rules added since it was built.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

import requests  # noqa: E402
from long_ranges import fleet, panels, raw, rules  # noqa: E402

from tests.support.processes import run_prometheus  # noqa: E402

DOC = REPO / "docs" / "performance.md"
TARGETS_S = {"7d": 0.3, "30d": 1.0}
COMPARE_BEFORE_END_S = 300  # a multiple of every evaluation interval the rules are backfilled at
BEGIN = "<!-- BEGIN GENERATED long-ranges (`make bench-long`; do not edit) -->"
END = "<!-- END GENERATED long-ranges -->"


@dataclass
class PanelRow:
    dashboard: str
    panel: str
    kind: str  # range | instant | mixed
    seconds: dict[str, float]  # range name -> sum of the panel's query medians
    coarse: bool = False  # reads a rule backfilled coarser than compose evaluates it

    def meets(self, range_name: str) -> bool:
        return range_name not in TARGETS_S or self.seconds[range_name] <= TARGETS_S[range_name]


def panel_reads() -> list[tuple[str, bool]]:
    """(PromQL over the longest range, instant) of every panel query."""
    scrape, longest = panels.scrape_interval_s(), max(panels.RANGES.values())
    return [(pq.expr(longest, scrape), pq.query.instant) for pq in panels.panel_queries()]


def build(args: argparse.Namespace, data: Path) -> fleet.FleetSpec:
    end = int(time.time()) // fleet.BLOCK_S * fleet.BLOCK_S
    spec = fleet.FleetSpec(days=args.days, scrape_s=args.scrape, rps=args.rps, seed=args.seed, end_s=end)
    started = time.monotonic()
    log = lambda message: print(f"[{time.monotonic() - started:6.0f} s] {message}", flush=True)  # noqa: E731
    log(f"simulating {args.days} days at {args.rps} calls/s, scraped every {args.scrape} s")
    samples = fleet.build_blocks(spec, args.workdir, data, progress=log)
    log(f"{samples:,} samples in blocks; backfilling the recording rules the panels read")
    rules.backfill(data, rules.plan(panel_reads(), spec.start_s, spec.end_s), spec.end_s, args.workdir, progress=log)
    log(f"compacted into {rules.compact(data, progress=log)} blocks")
    (data / "END").write_text(str(spec.end_s))
    return spec


def backfill_new_rules(args: argparse.Namespace, data: Path, end_s: int) -> None:
    """`--reuse`: the recording rules the panels read that the TSDB lacks (added since it was
    built) are backfilled as `build` would have, then compacted."""
    start_s = end_s - args.days * 86_400
    with run_prometheus({"global": {}}, storage=data, ready_timeout=600,
                        extra_args=[f"--storage.tsdb.retention.time={rules.RETENTION}"]) as prometheus:
        runs = rules.absent(prometheus.url, rules.plan(panel_reads(), start_s, end_s), end_s)
    if runs:
        print(f"backfilling {sum(len(run.records) for run in runs)} recording rules the TSDB lacks", flush=True)
        rules.backfill(data, runs, end_s, args.workdir)
        print(f"compacted into {rules.compact(data)} blocks", flush=True)


def measure(url: str, end_s: float, runs: int) -> list[PanelRow]:
    scrape = panels.scrape_interval_s()
    coarse = rules.coarse_names()
    rows: dict[tuple[str, str], PanelRow] = {}
    session = requests.Session()
    for pq in panels.panel_queries():
        row = rows.setdefault((pq.dashboard, pq.panel), PanelRow(pq.dashboard, pq.panel, "",
                                                                  dict.fromkeys(panels.RANGES, 0.0)))
        kind = "instant" if pq.query.instant else "range"
        row.kind = kind if row.kind in ("", kind) else "mixed"
        row.coarse = row.coarse or any(re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])", pq.query.expr)
                                       for name in coarse)
        for name, range_s in panels.RANGES.items():
            timing = panels.time_query(session, url, pq.expr(range_s, scrape), instant=pq.query.instant,
                                       end_s=end_s, range_s=range_s, step_s=pq.step(range_s, scrape), runs=runs)
            row.seconds[name] += timing.seconds
        print(f"  {pq.dashboard} / {pq.panel} [{pq.ref}]: " + ", ".join(
            f"{name} {row.seconds[name] * 1000:.0f} ms" for name in panels.RANGES), flush=True)
    return list(rows.values())


def measure_raw(url: str, end_s: float, runs: int) -> str:
    """Shipped query vs its raw equivalent, per range; and whether both answer the same at the end."""
    scrape = panels.scrape_interval_s()
    session = requests.Session()
    head = "| Panel | Query | " + " | ".join(f"{n} raw | {n} recorded" for n in panels.RANGES) + " | same answer |"
    lines = [head, "|---|---|" + "---:|---:|" * len(panels.RANGES) + "---|"]
    for equivalent in raw.EQUIVALENTS:
        lines.append(f"| *{equivalent.title}* |" + " |" * (2 * len(panels.RANGES) + 2))
        for pq in panels.panel_queries():
            if not equivalent.applies(pq.expr(max(panels.RANGES.values()), scrape)):
                continue
            cells = []
            for range_s in panels.RANGES.values():
                shipped = pq.expr(range_s, scrape)
                for expr in (equivalent.rewrite(shipped), shipped):
                    timing = panels.time_query(session, url, expr, instant=pq.query.instant, end_s=end_s,
                                               range_s=range_s, step_s=pq.step(range_s, scrape), runs=runs)
                    cells.append(f"{timing.seconds * 1000:,.0f}")
            # At a time on every rule's evaluation grid: the recorded series hold a sample for it.
            same = panels.same_answer(session, url, equivalent.rewrite(shipped), shipped,
                                      end_s - COMPARE_BEFORE_END_S, of_largest=equivalent.of_largest)
            lines.append(f"| {pq.dashboard} / {pq.panel} | {pq.ref} | " + " | ".join(cells) + f" | {same} |")
    return "\n".join(lines)


def table(rows: list[PanelRow]) -> str:
    head = "| Dashboard | Panel | Query | " + " | ".join(panels.RANGES) + " |"
    lines = [head, "|---|---|---|" + "---:|" * len(panels.RANGES)]
    for row in rows:
        cells = [f"{row.seconds[n] * 1000:,.0f}" + ("" if row.meets(n) else " ✗") for n in panels.RANGES]
        mark = " †" if row.coarse else ""
        lines.append(f"| {row.dashboard} | {row.panel}{mark} | {row.kind} | " + " | ".join(cells) + " |")
    over = {n: sum(not r.meets(n) for r in rows) for n in TARGETS_S}
    lines.append("")
    lines.append(f"{len(rows)} panels; over target: " + ", ".join(f"{n} {over[n]}" for n in TARGETS_S) + ".")
    if any(row.coarse for row in rows):
        lines.append(f"† reads a rule averaging a day or more, backfilled every {rules.LONG_AVERAGE_INTERVAL} "
                     "(compose evaluates it every 15 s): fewer samples than in compose.")
    return "\n".join(lines)


def write_docs(text: str) -> None:
    doc = DOC.read_text()
    if doc.count(BEGIN) != 1 or doc.count(END) != 1:
        raise SystemExit(f"{DOC}: expected one {BEGIN} ... {END} region")
    before, rest = doc.split(BEGIN)
    DOC.write_text(before + BEGIN + "\n" + text + "\n" + END + rest.split(END, 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--scrape", type=int, default=15, help="scrape interval, seconds (compose: 15)")
    parser.add_argument("--rps", type=float, default=5.0, help="mock calls per second (the exporter's default)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query (after one warm-up)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "llm-observability-bench-long")
    parser.add_argument("--reuse", action="store_true",
                        help="time the TSDB already in --workdir (recording rules it lacks are backfilled first)")
    parser.add_argument("--write-docs", action="store_true", help="put the tables into docs/performance.md")
    args = parser.parse_args()
    data = args.workdir / "data"
    if args.reuse:
        end_s = float((data / "END").read_text())
        backfill_new_rules(args, data, int(end_s))
    else:
        if args.workdir.exists() and any(args.workdir.iterdir()):
            raise SystemExit(f"{args.workdir} is not empty: remove it, or pass --reuse to time it again")
        data.mkdir(parents=True)
        end_s = build(args, data).end_s
    with run_prometheus({"global": {}}, storage=data, ready_timeout=600,
                        extra_args=[f"--storage.tsdb.retention.time={rules.RETENTION}"]) as prometheus:
        rows = measure(prometheus.url, end_s, args.runs)
        compared = measure_raw(prometheus.url, end_s, args.runs)
    text = table(rows) + f"\n\nRaw vs recorded (milliseconds):\n\n{compared}"
    print(text)
    if args.write_docs:
        write_docs(text)


if __name__ == "__main__":
    main()

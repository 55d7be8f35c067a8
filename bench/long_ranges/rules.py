"""The shipped recording rules, backfilled over the simulated days.

`promtool tsdb create-blocks-from rules` evaluates each rule with range queries against a running
Prometheus and writes the results as blocks; a rule that reads another recorded series only sees
it once that series' blocks are loaded. So the rules go level by level: level 1 reads only raw
series, level n reads levels below n; after each level Prometheus restarts on the new blocks.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import requests
import yaml

from prometheus import generator
from tests.support.processes import run_prometheus

# Long enough that nothing simulated is deleted (compose keeps 35 days, the largest block then
# spans 3.5 days: what the timing run uses too).
RETENTION = "35d"


def levels(records: list[generator.Record] | None = None) -> list[list[generator.Record]]:
    """`records` (default: every shipped recording rule) grouped so that each reads only raw or
    already recorded series and the levels before it."""
    records_by_name = {r.name: r for r in (records if records is not None else generator.records())}
    reads = {name: {other for other in records_by_name if other != name and re.search(
        rf"(?<![\w:]){re.escape(other)}(?![\w:])", rule.expr)} for name, rule in records_by_name.items()}
    level: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in level:
            level[name] = 1 + max((depth(other) for other in reads[name]), default=0)
        return level[name]

    out: list[list[generator.Record]] = [[] for _ in range(max(map(depth, records_by_name), default=0))]
    for name, rule in records_by_name.items():
        out[level[name] - 1].append(rule)
    return out


def _rule_file(rules: list[generator.Record], path: Path) -> Path:
    group = {"name": path.stem, "rules": [{"record": r.name, "expr": r.expr.strip()} for r in rules]}
    path.write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False))
    return path


def backfill(data_dir: Path, start_s: int, end_s: int, eval_interval: str, workdir: Path, progress=print,
             records: list[generator.Record] | None = None) -> None:
    """`records` (default: every shipped recording rule) evaluated every `eval_interval` from
    `start_s` to `end_s`, into `data_dir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    for index, rules in enumerate(levels(records), start=1):
        rule_file = _rule_file(rules, workdir / f"level-{index}.yml")
        output = workdir / f"level-{index}-blocks"
        shutil.rmtree(output, ignore_errors=True)
        with run_prometheus({"global": {}}, storage=data_dir,
                            extra_args=[f"--storage.tsdb.retention.time={RETENTION}"]) as prometheus:
            result = subprocess.run(
                ["promtool", "tsdb", "create-blocks-from", "rules", "--quiet", f"--url={prometheus.url}",
                 f"--start={start_s}", f"--end={end_s}", f"--eval-interval={eval_interval}",
                 f"--output-dir={output}", str(rule_file)], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"promtool create-blocks-from rules (level {index}) failed:\n{result.stderr[-3000:]}")
        for block in output.iterdir():
            shutil.move(str(block), data_dir / block.name)
        progress(f"  rules: level {index} ({len(rules)} rules) backfilled")


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

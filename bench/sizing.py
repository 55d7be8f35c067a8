"""Sizing of the metrics path for docs/production.md. Run: `make sizing` (or .venv/bin/python
bench/sizing.py --minutes 50).

Runs the mock exporter as compose runs it (default rate, the shipped pricing, budgets and
objectives) and a real Prometheus with the shipped prometheus.yml and rules (the Prometheus-2.x
form; scrape and evaluation every 15 s) scraping it, for `--minutes`. Prometheus cuts a block
every 30 minutes (hidden flags `--storage.tsdb.min/max-block-duration`, so that blocks exist in a
short run; a chunk holds up to 120 samples either way, as in production's 2-hour blocks). Then it
reads:

- series in Prometheus' head and samples appended per second (its own /metrics);
- Prometheus' resident memory (process_resident_memory_bytes) and the exporter's (VmRSS);
- chunk bytes per sample on disk (the persisted blocks' chunk files over the samples their
  meta.json counts), and from it the chunks that `--retention-days` of this ingestion take; the
  index, per series and block, comes on top (fewer, larger blocks as they are compacted).

It prints numbers and asserts nothing. The mock fleet is 5 apps calling 6 models (10 app-model
pairs); a real fleet's series grow with its pairs, see docs/production.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e_support.alerting import shipped_rule_files  # noqa: E402
from tests.support.metrics_text import families, sample_sum  # noqa: E402
from tests.support.processes import (  # noqa: E402
    free_port,
    run_exporter,
    run_prometheus,
    shipped_prometheus_config,
    wait_for,
)

BLOCK = "30m"  # one chunk holds up to 120 samples (30 minutes at 15 s), as in production
APPENDED = ("prometheus_tsdb_head_samples_appended", "_total")


def metric(url: str, name: str, suffix: str = "") -> float:
    """A family's samples summed, from a process' own /metrics (counters: family name, suffix "_total")."""
    text = requests.get(url + "/metrics", timeout=10).text
    return sample_sum(families(text)[name], suffix)


def vm_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def block_stats(data_dir: Path) -> tuple[int, int, int, int]:
    """(chunk bytes, samples, index bytes, series) summed over every persisted block."""
    chunks = samples = index = series = 0
    for meta in data_dir.glob("*/meta.json"):
        stats = json.loads(meta.read_text())["stats"]
        samples, series = samples + stats["numSamples"], series + stats["numSeries"]
        chunks += sum(f.stat().st_size for f in (meta.parent / "chunks").iterdir())
        index += (meta.parent / "index").stat().st_size
    return chunks, samples, index, series


def config_for(exporter: str, prometheus_port: int) -> dict:
    """The shipped prometheus.yml with the exporter and Prometheus at their loopback addresses."""
    config = shipped_prometheus_config()
    addresses = {"llm-exporter": exporter, "prometheus": f"127.0.0.1:{prometheus_port}"}
    config["scrape_configs"] = [{**job, "static_configs": [{"targets": [addresses[job["job_name"]]]}]}
                                for job in config["scrape_configs"] if job["job_name"] in addresses]
    config.pop("alerting", None)
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=50)
    parser.add_argument("--retention-days", type=int, default=35)
    args = parser.parse_args()
    port = free_port()
    with run_exporter("--mode", "mock") as exporter:
        config = config_for(exporter.url.removeprefix("http://"), port)
        flags = (f"--storage.tsdb.min-block-duration={BLOCK}", f"--storage.tsdb.max-block-duration={BLOCK}")
        with run_prometheus(config, shipped_rule_files(), flags, port=port) as prometheus:
            wait_for(lambda: metric(prometheus.url, "prometheus_tsdb_head_series") > 0, 60, "the first scrape")
            started, appended = time.monotonic(), metric(prometheus.url, *APPENDED)
            time.sleep(args.minutes * 60)
            elapsed = time.monotonic() - started
            rate = (metric(prometheus.url, *APPENDED) - appended) / elapsed
            series = metric(prometheus.url, "prometheus_tsdb_head_series")
            prometheus_rss = metric(prometheus.url, "process_resident_memory_bytes")
            exporter_rss = vm_rss_bytes(exporter.process.pid)
            chunks, samples, index, block_series = block_stats(prometheus.workdir / "data")
    per_sample = chunks / samples if samples else float("nan")
    disk = rate * 86400 * args.retention_days * per_sample
    print(f"after {elapsed / 60:.0f} min of the mock fleet at the default rate, scraped and evaluated every 15 s:")
    print(f"  series in Prometheus' head:       {series:.0f}")
    print(f"  samples appended per second:      {rate:.0f}")
    print(f"  Prometheus resident memory:       {prometheus_rss / 2**20:.0f} MiB")
    print(f"  exporter resident memory:         {exporter_rss / 2**20:.0f} MiB")
    print(f"  chunk bytes per sample on disk:   {per_sample:.2f} ({samples} samples in {BLOCK} blocks)")
    print(f"  index bytes per series per block: {index / block_series if block_series else float('nan'):.0f}")
    print(f"  chunks for {args.retention_days} days at this rate:   {disk / 2**30:.2f} GiB")

if __name__ == "__main__":
    main()

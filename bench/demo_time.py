"""How long `make demo` takes at compose's intervals and timers, without containers. Run:
`.venv/bin/python bench/demo_time.py` (about 10 minutes; the README's demo paragraph has the result).

The mock exporter as compose runs it (default rate, the shipped pricing, budgets and objectives),
Alertmanager with the shipped alertmanager.yml (only the webhook address and token file changed:
its group_wait and group_interval are the shipped ones), and Prometheus with the shipped
prometheus.yml and rules (every 15 s; only the addresses changed, as tests/test_demo.py does at
one-second intervals). After `--warm-up` seconds of normal traffic it runs scripts/demo.py with its
defaults and prints the wall time. It prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.processes import (  # noqa: E402
    free_port,
    run_alertmanager,
    run_exporter,
    run_prometheus,
    shipped_prometheus_config,
    wait_for,
    webhook_token_file,
)
from tests.test_demo import demo_prometheus_config, exporter_scraped  # noqa: E402


def alertmanager_yml(webhook: str, token: Path) -> str:
    """The shipped alertmanager.yml with only the webhook address and its token file changed."""
    config = yaml.safe_load((REPO / "alertmanager" / "alertmanager.yml").read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook
            hook["http_config"]["authorization"]["credentials_file"] = str(token)
    config["templates"] = [str(REPO / "alertmanager" / t) for t in config.get("templates", [])]
    return yaml.safe_dump(config, sort_keys=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--warm-up", type=float, default=180, help="seconds of normal traffic first")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="demo-time-"))
    token = webhook_token_file(work / "secrets")
    config_dir = work / "etc-prometheus"
    shutil.copytree(REPO / "prometheus" / "rules", config_dir / "rules")
    (config_dir / "targets").mkdir()
    port = free_port()
    with (run_exporter("--mode", "mock", "--webhook-token-file", str(token)) as exporter,
          run_alertmanager(alertmanager_yml(exporter.url + "/alertmanager/webhook", token)) as alertmanager):
        config = demo_prometheus_config(config_dir, exporter.url.removeprefix("http://"),
                                        alertmanager.url.removeprefix("http://"), f"127.0.0.1:{port}")
        shipped = shipped_prometheus_config()["global"]
        config["global"] = {**config["global"], **{key: shipped[key] for key in
                                                   ("scrape_interval", "scrape_timeout", "evaluation_interval")}}
        with run_prometheus(config, port=port) as prometheus:
            wait_for(lambda: exporter_scraped(prometheus.url), timeout=60, what="the exporter's first scrape")
            time.sleep(args.warm_up)
            env = {**os.environ, "EXPORTER_URL": exporter.url, "PROMETHEUS_URL": prometheus.url,
                   "ALERTMANAGER_URL": alertmanager.url, "GRAFANA_URL": f"http://127.0.0.1:{free_port()}",
                   "GRAFANA_ADMIN_PASSWORD": "not-used"}
            started = time.monotonic()
            result = subprocess.run([sys.executable, str(REPO / "scripts" / "demo.py"),
                                     "--prometheus-dir", str(config_dir)], env=env)
            print(f"make demo: exit {result.returncode}, {time.monotonic() - started:.0f} s", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

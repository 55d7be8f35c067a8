#!/usr/bin/env python3
"""Guided demo of the running compose stack (`make demo`): switch the mock fleet through fault
scenarios and show, for each, which alerts fire after how long, where Grafana shows them, what
Alertmanager does with them and which receiver each notification reaches; then a vLLM fleet
behind a LiteLLM gateway on the same dashboards.

Time-compressed, for the demo only (demo_changes.py): Prometheus also evaluates a copy of the alert
rules whose `for:` is divided by 20, removed at the end. Every fact printed is read from the
running stack's APIs (Prometheus, Alertmanager, the exporter's notification log, Grafana); where
a panel or a rule is named, it is the generators' own (prometheus/generator/, grafana/generator/).
Run after `docker compose up -d`: `make demo`. At the end, and on Ctrl-C, it takes back what it
changed: the scenario, the rule copy, the target file.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the rules' and dashboards' generators are imported, never parsed back

import requests  # noqa: E402
import yaml  # noqa: E402
from demo_changes import (  # noqa: E402  (scripts/ is on sys.path when run as a script)
    DEMO_LABEL,
    FOR_DIVISOR,
    RULES_FILE,
    SOURCES,
    TARGETS_FILE,
    DemoError,
    Prometheus,
    compressed_for,
    load_compressed_rules,
    remove_owned,
    sources_targets,
    unload_compressed_rules,
    write_owned,
)
from demo_panels import by_uid, engine_panels, layers_query, panels_showing  # noqa: E402
from demo_watch import Alertmanager, Exporter, Watch  # noqa: E402
from stack_env import grafana_credentials  # noqa: E402

from llm_exporter.mock.scenarios import SCENARIOS  # noqa: E402
from prometheus import generator  # noqa: E402
from prometheus.generator import config as cfg  # noqa: E402


@dataclass(frozen=True)
class Step:
    """A scenario step: it ends once each alert of `shows` has fired and was notified or held back
    (and MIN_WATCH_S has passed), else after `limit_s`."""

    limit_s: float
    shows: tuple[str, ...]


# The default tour. Each step's alerts fired within its limit at compose's 15-second intervals and
# Alertmanager timers (the runs the README's demo paragraph reports); `shows` is part of the
# scenario's row of the README table (tests/test_demo.py).
STEPS = {
    "error_burst": Step(150, ("LLMErrorRatioHigh",)),
    "latency_spike": Step(140, ("LLMTimeToFirstTokenP95High", "LLMLatencyP95High")),
    "budget_overrun": Step(210, ("LLMExpensiveRequest", "LLMDailyBudgetNearlySpent", "LLMDailyBudgetExceeded")),
}
SHIPPED_ALERTMANAGER = REPO / "alertmanager" / "alertmanager.yml"
OTHER_LIMIT_S = 150  # a scenario named with --scenarios outside the default tour
QUICK_S = 60  # ... shows the alerts of its row whose copy waits at most this long
SOURCES_LIMIT_S = 45  # the vLLM/LiteLLM step: its jobs were added at the start, so data is usually there
SETUP_AND_CLEANUP_S = 30
MIN_WATCH_S = 45
POLL_S = 5


def step_for(name: str, limit: float | None) -> Step:
    """The default tour's step, or one that shows the scenario's alerts that fire soon in the copy."""
    if name in STEPS:
        step = STEPS[name]
    else:
        quick = tuple(a for a in SCENARIOS[name].alerts if a != cfg.BURN_SLOW.name and _copy_wait(a) <= QUICK_S)
        step = Step(OTHER_LIMIT_S, quick)
    return Step(limit, step.shows) if limit else step


def _copy_wait(alert: str) -> float:
    shipped = generator.alert(alert).for_
    return cfg.seconds(compressed_for(shipped)) if shipped else 0


def say(text: str = "") -> None:
    print(text, flush=True)


@dataclass
class Stack:
    prometheus: Prometheus
    alertmanager: Alertmanager
    exporter: Exporter
    grafana: str
    config_dir: Path  # the directory compose mounts at /etc/prometheus


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def introduce(stack: Stack, steps: dict[str, Step], sources: bool, copies: int) -> None:
    """What the demo will do, how long it takes at most, and what is compressed and how."""
    config = yaml.safe_load(stack.prometheus.get("/api/v1/status/config")["yaml"])
    scrape, evaluate = config["global"]["scrape_interval"], config["global"]["evaluation_interval"]
    total = sum(s.limit_s for s in steps.values()) + (SOURCES_LIMIT_S if sources else 0) + SETUP_AND_CLEANUP_S
    scenarios = f"{len(steps)} fault scenario{'s' if len(steps) > 1 else ''}"
    say(f"This demo takes at most {minutes(total)}: {scenarios} ("
        + ", ".join(f"{name} {step.limit_s:.0f} s" for name, step in steps.items()) + ")"
        + (f", a vLLM fleet behind LiteLLM {SOURCES_LIMIT_S} s" if sources else "")
        + ", setup and clean-up. A step ends sooner once the alerts it shows have fired and were notified "
        "or held back.")
    say(f"Time-compressed, for this demo only: Prometheus now also evaluates a copy of the {copies} alert rules "
        f"about the LLM traffic that wait (`for:`), labelled {DEMO_LABEL}=\"time-compressed\", each waiting "
        f"1/{FOR_DIVISOR} as long ({', '.join(f'{d} -> {compressed_for(d)}' for d in ('10m', '5m', '2m'))}). "
        f"Their expressions, windows and thresholds are the shipped ones, and Prometheus still scrapes every "
        f"{scrape} and evaluates every {evaluate}: a condition takes as long to become true as in production, "
        "only the wait after it is shorter (so a condition that lasts longer than the copy's wait but less than "
        f"the shipped one fires in the copy only). {routing(stack.alertmanager)} The shipped rules run beside "
        f"the copy; the copy ({RULES_FILE} under {stack.config_dir}) is removed at the end, and on Ctrl-C.")
    if "budget_overrun" in steps:
        say("budget_overrun's simulated spend stays in the research department's last-24-hour spend for a day: "
            "the shipped daily-budget alerts can fire on this stack until it leaves that window.")


def routing(alertmanager: Alertmanager) -> str:
    """Whether Alertmanager routes, inhibits and times notifications as the shipped file says."""
    running, shipped = alertmanager.config(), yaml.safe_load(SHIPPED_ALERTMANAGER.read_text())
    if _routing_shape(running) == _routing_shape(shipped):
        return f"Alertmanager runs the routes, inhibitions and timers of {SHIPPED_ALERTMANAGER.relative_to(REPO)}."
    return (f"Alertmanager's routes, inhibitions or timers differ from {SHIPPED_ALERTMANAGER.relative_to(REPO)}: "
            "notifications come as its own configuration says.")


def _routing_shape(config: dict) -> tuple:
    """Routes, timers and inhibitions, as Alertmanager compares them (it writes its loaded
    configuration back with matchers sorted and `continue: false` spelled out)."""
    def route(node: dict) -> tuple:
        timers = tuple(node.get(key) for key in ("group_by", "group_wait", "group_interval", "repeat_interval"))
        return (node.get("receiver"), tuple(sorted(node.get("matchers", []))), bool(node.get("continue")), timers,
                tuple(route(child) for child in node.get("routes", [])))
    keys = ("source_matchers", "target_matchers", "equal")
    inhibitions = tuple(tuple(tuple(sorted(rule.get(key, []))) for key in keys)
                        for rule in config.get("inhibit_rules", []))
    return route(config.get("route", {})), inhibitions


def check_grafana(url: str) -> None:
    try:
        auth: tuple[str, str] | None = grafana_credentials()
    except RuntimeError as exc:  # no .env password and no running compose stack to read it from
        auth = None
        say(f"Grafana's admin password is not known ({exc}); dashboards are looked up without logging in.")
    try:
        response = requests.get(f"{url}/api/search", params={"type": "dash-db"}, auth=auth, timeout=10)
        response.raise_for_status()
        served = {item.get("uid") for item in response.json()}
    except requests.RequestException as exc:
        say(f"Grafana does not answer at {url} ({exc.__class__.__name__}): the links below are where it would be.")
        return
    missing = sorted(set(by_uid()) - served)
    say(f"Grafana at {url} serves {len(by_uid()) - len(missing)} of the {len(by_uid())} dashboards"
        + (f" (missing: {', '.join(missing)})." if missing else "."))


def run_scenario(stack: Stack, name: str, step: Step, min_watch: float) -> None:
    scenario = SCENARIOS[name]
    say(f"\n=== {name}: {scenario.description}")
    say(f"    Its row of the README's scenario table (tests/test_scenario_alerts.py): {', '.join(scenario.alerts)}. "
        f"This step shows {', '.join(step.shows) or 'what fires'}, for at most {step.limit_s:.0f} s.")
    watch = Watch(stack.prometheus, stack.alertmanager, stack.exporter, say)
    stack.exporter.switch(name)
    while watch.elapsed() < step.limit_s:
        watch.poll()
        if step.shows and watch.settled(step.shows) and watch.elapsed() >= min_watch:
            break
        time.sleep(POLL_S)
    summarize(stack, watch, name)


def summarize(stack: Stack, watch: Watch, scenario: str) -> None:
    """Per alert name: how many of the copy's and the shipped rule's alerts fired, where they went,
    where Grafana shows them."""
    raises = SCENARIOS[scenario].alerts
    for name in dict.fromkeys(t.name for t in watch.tracked.values()):
        entries = [t for t in watch.tracked.values() if t.name == name]
        counts = []
        for kind, group in (("copy", [t for t in entries if DEMO_LABEL in t.labels]),
                            ("shipped rule", [t for t in entries if DEMO_LABEL not in t.labels])):
            fired = [t.firing_at for t in group if t.firing_at is not None]
            if group:
                counts.append(f"the {kind} fired for {len(fired)} of {len(group)}"
                              + (f", the first after {min(fired):.0f} s" if fired else ""))
        note = "" if name in raises else (f" - not in {scenario}'s row: left over from an earlier step, or a "
                                          "condition shorter than the shipped `for:`")
        say(f"  {name}: {'; '.join(counts)}{note}")
        notified = sorted({r for t in entries for r in t.receivers})
        if notified:
            say(f"    notified to: {', '.join(notified)}")
        for reason in sorted({t.held for t in entries if t.held}):
            say(f"    held back: {reason}")
        try:
            alert = generator.alert(name)
        except KeyError:
            continue
        say(f"    Grafana: '{by_uid()[alert.dashboard].title}' {stack.grafana}/d/{alert.dashboard} - panels: "
            f"{', '.join(panels_showing(alert)) or '(none)'}")
        say(f"    runbook: {alert.runbook_url}")
    later = [name for name in raises if name not in {t.name for t in watch.tracked.values()}]
    if later:
        say(f"  Not within this step: {', '.join(later)} (longer windows or `for:`; the README's table says when).")


def show_sources(stack: Stack) -> None:
    """The vLLM and LiteLLM jobs, through the overview's layers panel and the engine panels."""
    say(f"\n=== a vLLM fleet behind a LiteLLM gateway: Prometheus has scraped the mock exporter's "
        f"{' and '.join(SOURCES)} pages as jobs of those names since the start ({TARGETS_FILE})")
    dashboard, query = layers_query()
    started = time.monotonic()
    rows: list[dict] = []
    while time.monotonic() - started < SOURCES_LIMIT_S:
        rows = stack.prometheus.query(query)
        if {r["metric"].get("source") for r in rows} >= set(SOURCES):
            break
        time.sleep(POLL_S)
    else:
        say(f"  no recorded series from {' and '.join(SOURCES)} after {SOURCES_LIMIT_S} s: check "
            f"{stack.prometheus.url}/targets")
        return
    say(f"  '{dashboard.title}' > 'Calls by source and layer' ({stack.grafana}/d/{dashboard.uid}), now:")
    for row in sorted(rows, key=lambda r: r["metric"].get("source", "")):
        say(f"    {row['metric'].get('source')} ({row['metric'].get('layer')}): {float(row['value'][1]):.2f} calls/s")
    counted = stack.prometheus.query("group by (source) (app_model:llm_requests:rate5m)")
    say("  Every other total counts each model once, at its outermost layer: here "
        f"{', '.join(sorted(r['metric'].get('source', '?') for r in counted))} (the Source selector's choices).")
    for panel_dashboard, title, expr in engine_panels():
        found = stack.prometheus.query(expr)
        say(f"  '{panel_dashboard.title}' > '{title}' ({stack.grafana}/d/{panel_dashboard.uid}): "
            + (f"{len(found)} series, from vLLM alone (only model servers feed it)" if found else "no data yet"))


def clean_up(stack: Stack, scenario: str, started: float) -> None:
    """Put back what the demo changed, then say only what the APIs confirm."""
    say("\n=== Putting the stack back")
    try:
        stack.exporter.switch(scenario)
        say(f"  Mock scenario: {stack.exporter.scenario()} (the exporter reports it active).")
    except requests.RequestException as exc:
        say(f"  Could not switch the mock back to {scenario!r} ({exc.__class__.__name__}): "
            f"curl -XPOST {stack.exporter.url}/mock/scenario -d '{{\"scenario\":\"{scenario}\"}}'")
    if remove_owned(stack.config_dir / TARGETS_FILE):
        say(f"  Removed {TARGETS_FILE}: Prometheus drops the {' and '.join(SOURCES)} jobs at its next read of "
            "the directory (`refresh_interval` of the llm-services job).")
    try:
        gone = unload_compressed_rules(stack.prometheus, stack.config_dir)
        say("  Prometheus no longer evaluates the time-compressed copies (its rules API lists none)." if gone else
            "  Prometheus still lists the time-compressed copies after a reload: check its /rules page.")
    except (DemoError, requests.RequestException) as exc:
        say(f"  Removed {RULES_FILE}, but Prometheus did not reload ({exc}): its copies stay until it does.")
    closing(stack)
    say(f"\nThe demo took {minutes(time.monotonic() - started)}.")


def closing(stack: Stack) -> None:
    """What is still on, as Alertmanager and Prometheus report it right now."""
    try:
        held = [a for a in stack.alertmanager.alerts() if DEMO_LABEL in a["labels"]]
        alerts = stack.prometheus.alerts()
    except requests.RequestException as exc:
        say(f"  Could not read the alerts still on ({exc.__class__.__name__}).")
        return
    if held:
        say(f"  Alertmanager still holds {len(held)} alerts of the copies; no rule sends them now, so it resolves "
            f"them at their end time, the last at {max(a['endsAt'] for a in held)}.")
    if alerts:
        say("  Still on in Prometheus (shipped rules, until their condition no longer holds):")
    counts: dict[tuple[str, str], int] = {}
    for alert in alerts:
        key = (alert["labels"].get("alertname", "?"), alert["state"])
        counts[key] = counts.get(key, 0) + 1
    for (name, state), count in sorted(counts.items()):
        try:
            rule = generator.alert(name)
            why = f"fires when {rule.fires_when}" + (f" for {rule.for_}" if state == "pending" and rule.for_ else "")
        except KeyError:
            why = "not one of the shipped rules"
        say(f"    {name}: {count} {state} - {why}")
    if not alerts and not held:
        say("  No alert is pending or firing.")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=list(STEPS), choices=[s for s in SCENARIOS if s != "normal"])
    parser.add_argument("--limit", type=float, default=None,
                        help="seconds to watch each scenario at most (default: per scenario, 140-210)")
    parser.add_argument("--min-watch", type=float, default=MIN_WATCH_S,
                        help=f"seconds to watch each scenario at least, for its slower alerts (default {MIN_WATCH_S})")
    parser.add_argument("--no-sources", action="store_true", help="skip the vLLM/LiteLLM step")
    parser.add_argument("--prometheus-dir", type=Path, default=REPO / "prometheus",
                        help="the directory compose mounts at /etc/prometheus (default: this checkout's)")
    return parser.parse_args()


def stack_from_env(config_dir: Path) -> Stack:
    return Stack(Prometheus(os.environ.get("PROMETHEUS_URL", "http://127.0.0.1:9090")),
                 Alertmanager(os.environ.get("ALERTMANAGER_URL", "http://127.0.0.1:9093")),
                 Exporter(os.environ.get("EXPORTER_URL", "http://127.0.0.1:9101")),
                 os.environ.get("GRAFANA_URL", "http://127.0.0.1:3000"), config_dir)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    args = parse_args()
    stack = stack_from_env(args.prometheus_dir)
    steps = {name: step_for(name, args.limit) for name in args.scenarios}
    try:
        scenario = stack.exporter.scenario()
        receivers = stack.alertmanager.receivers()
        exporter_address = stack.prometheus.scrape_address("llm-exporter")
    except requests.RequestException as exc:
        say(f"demo: the stack does not answer as a mock stack ({exc}). Start it with `docker compose up -d`; "
            "the production stack has no mock fleet to switch.")
        return 1
    except DemoError as exc:
        say(f"demo: {exc}")
        return 1
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)
    code = 0
    try:
        copies = load_compressed_rules(stack.prometheus, stack.config_dir)
        if not args.no_sources:
            write_owned(stack.config_dir / TARGETS_FILE, sources_targets(exporter_address))
        introduce(stack, steps, not args.no_sources, copies)
        say("Alertmanager's receivers: " + "; ".join(f"{name}: {where}" for name, where in receivers.items()))
        check_grafana(stack.grafana)
        for name, step in steps.items():
            run_scenario(stack, name, step, args.min_watch)
        if not args.no_sources:
            show_sources(stack)
    except KeyboardInterrupt:
        say("\nInterrupted.")
        code = 130
    except (DemoError, requests.RequestException) as exc:
        say(f"\ndemo: {exc}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave the copies behind
        clean_up(stack, scenario, started)
    return code


if __name__ == "__main__":
    sys.exit(main())

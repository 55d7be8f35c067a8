"""Command line and LLM_EXPORTER_* environment, merged into one validated Settings object.

Flags win over the environment, the environment over defaults; anything invalid stops start-up
with argparse's usual "error:" line naming the flag or variable.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .labels import DEFAULT_BOUNDS
from .mock.scenarios import SCENARIOS
from .recorder import DEFAULT_MAX_LABEL_SETS

MODES = ("mock", "real", "proxy", "config")
ALERT_WEBHOOK_MODES = ("mock", "real", "config")  # the proxy serves only the OpenAI-compatible API
ENVIRONMENTS = ("development", "production")
ENV_PREFIX = "LLM_EXPORTER_"
DOCS_CHOICES = ("auto", "on", "off")


@dataclass(frozen=True)
class Settings:
    mode: str = "mock"
    host: str = "127.0.0.1"
    port: int = 9101
    scenario: str = "normal"
    mock_rps: float = 5.0
    mock_gpus: int = 4
    seed: int = 42
    pricing_file: Path | None = None  # None: the packaged default (config.default_config_file)
    budgets_file: Path | None = None
    objectives_file: Path | None = None  # none: no llm_objective_* series (the rules' built-in defaults apply)
    env: str = "production"
    upstream_url: str | None = None
    # proxy mode (and the instrument library's defaults): labels when a request names none
    default_app_id: str = "unknown"
    default_department: str = "unknown"
    provider: str | None = None  # proxy provider label; derived from the upstream host when unset
    upstream_timeout: float = 300.0  # seconds without a byte from the upstream before a call times out
    label_bounds: tuple[tuple[str, int], ...] = ()  # overrides of labels.DEFAULT_BOUNDS
    max_label_sets: int = DEFAULT_MAX_LABEL_SETS
    max_request_bytes: int = 16 * 1024 * 1024  # proxy mode: larger request bodies get a 413
    body_timeout: float = 30.0  # seconds for a whole request body to arrive; then 408
    max_body_bytes_in_flight: int = 64 * 1024 * 1024  # request bodies held at once; past it 503
    webhook_token_file: Path | None = None  # the bearer token /alertmanager/webhook requires
    docs: str = "auto"  # /docs and /openapi.json: auto = on in mock mode only
    # seconds that calls in flight (a long stream through the proxy, say) may take to finish after
    # SIGTERM; as long as the upstream read timeout, so a stream that is still producing is not cut
    shutdown_timeout: float = 300.0

    @property
    def docs_enabled(self) -> bool:
        return self.docs == "on" or (self.docs == "auto" and self.mode == "mock")


def validate_upstream(url: str) -> str:
    """The base URL without a trailing slash; ValueError (saying why) unless it is an absolute
    http(s) URL with a host and without query, fragment or credentials. The one check of the
    upstream URL: the settings parser calls it too."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} must be an absolute http(s) URL, e.g. https://api.openai.com/v1")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{url!r} must not carry a query, a fragment or credentials")
    return url.rstrip("/")


def _label_bounds(text: str) -> tuple[tuple[str, int], ...]:
    """`app_id=200,model=100` -> (("app_id", 200), ("model", 100)); only bounded labels, bounds >= 1."""
    bounds = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name not in DEFAULT_BOUNDS or not value.isdigit() or int(value) < 1:
            raise ValueError(text)
        bounds.append((name, int(value)))
    return tuple(bounds)


_label_bounds.__name__ = f"list of LABEL=N (labels: {', '.join(DEFAULT_BOUNDS)}; N >= 1)"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


_positive_int.__name__ = "positive integer"


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise ValueError(text)
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError(text)
    return value


def _optional_path(text: str) -> Path | None:
    return Path(text) if text.strip() else None


_optional_path.__name__ = "path"


def _positive_float(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise ValueError(text)
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


_non_negative_float.__name__ = "non-negative number"
_non_negative_int.__name__ = "non-negative integer"
_positive_float.__name__ = "positive number"
_port.__name__ = "port (1-65535)"


MODE_HELP = {
    "mock": "a simulated LLM fleet and GPUs with switchable fault scenarios (POST /mock/scenario)",
    "real": "GPU telemetry from NVIDIA's driver (NVML); records no LLM calls itself: those come from "
            "instrumented services and the proxy",
    "proxy": "an OpenAI-compatible metering proxy in front of --upstream-url, recording every call through it",
    "config": "only the pricing, budgets and objectives files as series (what the rules read) and the alert "
              "webhook; records no calls (a production stack's calls come from your services and the proxy)",
}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default (the environment's value when LLM_EXPORTER_<FLAG> is set), except
    where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, ()):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    modes = "; ".join(f"{name}: {text}" for name, text in MODE_HELP.items())
    parser = argparse.ArgumentParser(
        prog="llm-exporter", formatter_class=_HelpFormatter,
        description="Prometheus exporter for LLM traffic. Every flag also reads LLM_EXPORTER_<FLAG> "
                    "(e.g. LLM_EXPORTER_MOCK_RPS); a flag wins over its variable.",
    )
    defaults = Settings()
    parser.add_argument("--mode", choices=MODES, default=defaults.mode, help=modes)
    parser.add_argument("--host", default=defaults.host, help="address to listen on (in a container: 0.0.0.0)")
    parser.add_argument("--port", type=_port, default=defaults.port, help="port to listen on")
    parser.add_argument("--scenario", choices=list(SCENARIOS), default=defaults.scenario,
                        help="mock mode: scenario at start; switch at runtime with POST /mock/scenario")
    parser.add_argument("--mock-rps", type=_non_negative_float, default=defaults.mock_rps,
                        help="mock mode: calls per second before the daily traffic shape")
    parser.add_argument("--mock-gpus", type=_non_negative_int, default=defaults.mock_gpus,
                        help="mock mode: simulated GPUs")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="mock mode: simulator seed")
    parser.add_argument("--pricing-file", type=Path, default=defaults.pricing_file,
                        help="model prices (docs/pricing.md); unset: the pricing.yaml shipped in the package")
    parser.add_argument("--budgets-file", type=Path, default=defaults.budgets_file,
                        help="department budgets; unset: the budgets.yaml shipped in the package")
    parser.add_argument("--objectives-file", type=Path, default=defaults.objectives_file,
                        help="latency, error and availability objectives per model and app, exposed as "
                             "llm_objective_* (without one the alerts use their built-in defaults)")
    parser.add_argument("--label-bounds", type=_label_bounds, default=defaults.label_bounds,
                        help="distinct values kept per label before 'other', e.g. app_id=200,model=100 "
                             f"(default: {','.join(f'{k}={v}' for k, v in DEFAULT_BOUNDS.items())})")
    parser.add_argument("--max-label-sets", type=_positive_int, default=defaults.max_label_sets,
                        help="distinct (provider, model, app_id, department) label sets before 'other'")
    parser.add_argument("--max-request-bytes", type=_positive_int, default=defaults.max_request_bytes,
                        help="proxy mode: largest request body accepted (bytes); larger ones get a 413")
    parser.add_argument("--body-timeout", type=_positive_float, default=defaults.body_timeout,
                        help="seconds a request body may take to arrive; a slower one gets 408")
    parser.add_argument("--max-body-bytes-in-flight", type=_positive_int, default=defaults.max_body_bytes_in_flight,
                        help="request body bytes held at once by requests in progress; past it, 503")
    parser.add_argument("--webhook-token-file", type=_optional_path, default=defaults.webhook_token_file,
                        help="file holding the bearer token POST /alertmanager/webhook requires (none: no token)")
    parser.add_argument("--docs", choices=DOCS_CHOICES, default=defaults.docs,
                        help="serve /docs and /openapi.json (auto: in mock mode only)")
    parser.add_argument("--env", choices=ENVIRONMENTS, default=defaults.env,
                        help="development logs at debug level, production at info (LLM_EXPORTER_LOG_LEVEL "
                             "overrides both)")
    parser.add_argument("--upstream-url", default=defaults.upstream_url,
                        help="proxy mode (required): base URL of the OpenAI-compatible upstream, "
                             "e.g. https://api.openai.com/v1")
    parser.add_argument("--default-app-id", default=defaults.default_app_id,
                        help="proxy mode: app_id for requests without an X-LLM-App-Id header")
    parser.add_argument("--default-department", default=defaults.default_department,
                        help="proxy mode: department for requests without an X-LLM-Department header")
    parser.add_argument("--provider", default=defaults.provider,
                        help="proxy mode: provider label (default: derived from the upstream host, e.g. openai)")
    parser.add_argument("--upstream-timeout", type=_positive_float, default=defaults.upstream_timeout,
                        help="proxy mode: seconds to wait for the upstream (per read) before the call times out")
    parser.add_argument("--shutdown-timeout", type=_non_negative_float, default=defaults.shutdown_timeout,
                        help="seconds calls in flight (long streams) may take to finish after SIGTERM "
                             "before they are cut; give containers a longer stop grace period")
    return parser


def parse_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Parse flags with LLM_EXPORTER_* variables as defaults; exits with a usage error when invalid."""
    environ = os.environ if environ is None else environ
    parser = build_parser()
    env_defaults = {}
    for action in parser._actions:  # argparse has no public iterator over its actions
        if not action.option_strings or action.dest == "help":
            continue
        variable = ENV_PREFIX + action.dest.upper()
        if variable in environ:
            raw = environ[variable]
            try:
                value = action.type(raw) if action.type else raw
            except (TypeError, ValueError):
                parser.error(f"environment variable {variable}={raw!r} is not a valid {action.type.__name__}")
            if action.choices is not None and value not in action.choices:
                parser.error(f"environment variable {variable}={raw!r} must be one of: {', '.join(action.choices)}")
            env_defaults[action.dest] = value
    parser.set_defaults(**env_defaults)
    args = parser.parse_args(argv)
    if args.max_body_bytes_in_flight < args.max_request_bytes:
        parser.error("--max-body-bytes-in-flight must be at least --max-request-bytes")
    if args.mode == "proxy" and not args.upstream_url:
        parser.error("proxy mode needs --upstream-url (or LLM_EXPORTER_UPSTREAM_URL)")
    if args.upstream_url:
        try:
            validate_upstream(args.upstream_url)
        except ValueError as exc:
            parser.error(f"--upstream-url (LLM_EXPORTER_UPSTREAM_URL): {exc}")
    return Settings(**vars(args))

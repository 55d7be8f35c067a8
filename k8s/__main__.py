"""`python -m k8s [--out DIR] [options]`: render the Kubernetes bundle (`make k8s` writes build/k8s).

Then `kubectl apply -k build/k8s` (docs/kubernetes.md).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from .render import bundle, write
from .settings import BundleSettings
from .sources import SourceError

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "build" / "k8s"
_DEFAULTS = {f.name: f.default for f in fields(BundleSettings) if isinstance(f.default, (str, int, type(None)))}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m k8s", description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory to write the bundle to")
    parser.add_argument("--namespace", default=_DEFAULTS["namespace"])
    parser.add_argument("--release", default=_DEFAULTS["release"],
                        help="the kube-prometheus-stack release name (its rule and monitor selectors' label)")
    parser.add_argument("--image", default=None, help="exporter image (default: the one docker-compose.yml builds)")
    parser.add_argument("--loki-url", default=_DEFAULTS["loki_url"])
    parser.add_argument("--tempo-url", default=_DEFAULTS["tempo_url"])
    parser.add_argument("--tempo-otlp-http-url", default=_DEFAULTS["tempo_otlp_http_url"])
    parser.add_argument("--proxy-upstream-url", default=None,
                        help="the proxy's upstream (default: docker-compose.yml's fallback)")
    parser.add_argument("--proxy-replicas", type=int, default=_DEFAULTS["proxy_replicas"])
    parser.add_argument("--mock-replicas", type=int, default=_DEFAULTS["mock_replicas"])
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k != "out"}
    try:
        settings = BundleSettings(**options)
        written = write(bundle(settings), args.out)
    except (ValueError, SourceError, FileExistsError) as exc:
        parser.error(str(exc))
    for path in written:
        print(f"wrote {path}")
    print(f"apply with: kubectl apply --server-side -k {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

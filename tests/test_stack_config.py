"""Static checks of the compose stack and the Loki / Tempo / Grafana configuration.

No container engine runs in CI, so Loki, Tempo and Grafana cannot be started there.
These tests parse the files (PyYAML, no network) and assert what the documentation of the
pinned versions requires; docs/stack.md lists the sources. They fail on the mistakes
that public stacks of this kind made: unpinned images, config files that are never
mounted, receivers bound to localhost, legacy Tempo overrides, data source uids that
dashboards cannot find, unescaped `$` in Grafana provisioning, healthchecks that cannot
run in distroless images.

STACK_ROOT (environment) points the tests at another checkout, e.g. a mutated copy.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from prometheus.generator.config import SLO_PERIOD, seconds

# The longest window a rule reads (the SLO period), plus five days: Prometheus deletes whole blocks
# (up to a tenth of the retention long) once they are entirely older than it.
RETENTION_MIN_DAYS = seconds(SLO_PERIOD) // 86400 + 5

ROOT = Path(os.environ.get("STACK_ROOT", Path(__file__).resolve().parents[1]))
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
LOKI_FILE = ROOT / "loki" / "loki.yaml"
TEMPO_FILE = ROOT / "tempo" / "tempo.yaml"
DATASOURCES_FILE = ROOT / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
PROVIDER_FILE = ROOT / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml"
STACK_DOC = ROOT / "docs" / "stack.md"

# Which images have a shell and an HTTP client, i.e. can run an exec healthcheck.
# Keep in sync with docs/stack.md ("Healthchecks").
#   repository                  -> tool the healthcheck may use, or None (distroless)
IMAGE_HEALTHCHECK_TOOL: dict[str, str | None] = {
    "llm-observability/exporter": "python",  # python:3.x-slim base (exporter/Dockerfile)
    "prom/prometheus": "wget",  # busybox base; only the "-distroless" tags lack it
    "prom/alertmanager": "wget",  # busybox base; only the "-distroless" tags lack it
    "grafana/grafana": "wget",  # Alpine base (busybox wget)
    "grafana/loki": None,  # distroless since Loki 3.6
    "grafana/tempo": None,  # distroless
    "victoriametrics/victoria-metrics": None,  # no healthcheck: nothing depends on it (docs/stack.md)
}

# The pins, one place. docs/stack.md must name each of them.
EXPECTED_IMAGES = {
    "exporter": "llm-observability/exporter:0.1.0",
    "gpu-exporter": "llm-observability/exporter:0.1.0",
    "proxy": "llm-observability/exporter:0.1.0",
    "prometheus": "prom/prometheus:v3.14.0",
    "alertmanager": "prom/alertmanager:v0.34.0",
    "loki": "grafana/loki:3.7.6",
    "tempo": "grafana/tempo:3.0.3",
    "grafana": "grafana/grafana:13.2.0",
    "victoriametrics": "victoriametrics/victoria-metrics:v1.150.0",
}

# Container data directories that must live on a named volume (image UIDs: Prometheus and
# Alertmanager nobody, Loki and Tempo 10001, Grafana 472; bind mounts break ownership).
DATA_DIRS = {
    "prometheus": "/prometheus",
    "alertmanager": "/alertmanager",
    "loki": "/loki",
    "tempo": "/var/tempo",
    "grafana": "/var/lib/grafana",
    "victoriametrics": "/var/tmp",
}

DATASOURCE_UIDS = {"prometheus", "loki", "tempo", "alertmanager"}


# --------------------------------------------------------------------------- helpers


def load_yaml(path: Path) -> Any:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


_VAR = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose-style interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $$."""
    env = env or {}

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("name") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        val = env.get(name)
        if op == ":-":
            return val if val else arg
        if op == "-":
            return arg if val is None else val
        if op in (":?", "?"):
            if (op == ":?" and not val) or val is None:
                raise KeyError(f"{name}: {arg}")
            return val
        return val or ""

    return _VAR.sub(repl, value)


def compose_vars(text: str) -> set[str]:
    return {m.group("name") or m.group("bare") for m in _VAR.finditer(text) if m.group(0) != "$$"}


def walk_strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk_strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_strings(v, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def walk_key(node: Any, key: str, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{path}.{k}" if path else str(k)
            if k == key:
                yield p, v
            yield from walk_key(v, key, p)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_key(v, key, f"{path}[{i}]")


def split_image(image: str) -> tuple[str, str | None]:
    """'repo/name:tag' -> ('repo/name', 'tag'); digests are kept out of the tag."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = ref.rsplit(":", 1)
        return repo, tag
    return ref, None


def parse_volume(entry: Any) -> tuple[str, str, str, bool]:
    """Returns (kind, source, target, read_only); kind is 'bind' or 'volume'."""
    if isinstance(entry, dict):
        kind = entry.get("type", "volume")
        return kind, str(entry.get("source", "")), str(entry["target"]), bool(entry.get("read_only", False))
    parts = str(entry).split(":")
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) > 2 else ""
    kind = "bind" if source.startswith((".", "/", "~")) else "volume"
    return kind, source, target, "ro" in mode.split(",")


def container_ports(service: dict[str, Any]) -> dict[int, int]:
    """container port -> published host port (defaults interpolated)."""
    out = {}
    for p in service.get("ports", []):
        spec = interpolate(str(p)).split("/")[0]
        parts = spec.rsplit(":", 2)
        out[int(parts[-1])] = int(parts[-2]) if len(parts) > 1 else int(parts[-1])
    return out


def command_list(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command", [])
    return cmd.split() if isinstance(cmd, str) else [str(c) for c in cmd]


def flag_value(cmd: list[str], flag: str) -> str | None:
    for c in cmd:
        if c.startswith(flag + "="):
            return c.split("=", 1)[1]
    return None


def mount_for(service: dict[str, Any], container_path: str) -> tuple[str, str, str, bool] | None:
    """The volume entry whose target contains container_path (longest match)."""
    best = None
    for v in service.get("volumes", []):
        kind, src, tgt, ro = parse_volume(v)
        inside = container_path == tgt or container_path.startswith(tgt.rstrip("/") + "/")
        if inside and (best is None or len(tgt) > len(best[2])):
            best = (kind, src, tgt, ro)
    return best


def host_path(service: dict[str, Any], container_path: str) -> Path | None:
    m = mount_for(service, container_path)
    if m is None or m[0] != "bind":
        return None
    _kind, src, tgt, _ro = m
    return (ROOT / src).resolve() / os.path.relpath(container_path, tgt)


def parse_duration_hours(value: str) -> float:
    units = {"ms": 1 / 3_600_000, "s": 1 / 3600, "m": 1 / 60, "h": 1, "d": 24, "w": 168, "y": 8760}
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", value):
        assert m.start() == pos, f"bad duration {value!r}"
        total += float(m.group(1)) * units[m.group(2)]
        pos = m.end()
    assert pos == len(value) and pos > 0, f"bad duration {value!r}"
    return total


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def loki() -> dict[str, Any]:
    return load_yaml(LOKI_FILE)


@pytest.fixture(scope="module")
def tempo() -> dict[str, Any]:
    return load_yaml(TEMPO_FILE)


@pytest.fixture(scope="module")
def datasources() -> dict[str, Any]:
    return load_yaml(DATASOURCES_FILE)


@pytest.fixture(scope="module")
def ds_by_uid(datasources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["uid"]: d for d in datasources["datasources"]}


# --------------------------------------------------------------------------- compose


def test_compose_services_and_profiles(services: dict[str, dict[str, Any]]) -> None:
    assert set(EXPECTED_IMAGES) <= set(services), f"missing services: {set(EXPECTED_IMAGES) - set(services)}"
    assert services["gpu-exporter"].get("profiles") == ["gpu"]
    assert services["proxy"].get("profiles") == ["proxy"]
    assert services["victoriametrics"].get("profiles") == ["victoriametrics"]
    for name in ("exporter", "prometheus", "alertmanager", "loki", "tempo", "grafana"):
        assert not services[name].get("profiles"), f"{name} must start with a plain `docker compose up`"


@pytest.mark.parametrize("service", sorted(EXPECTED_IMAGES))
def test_image_pinned_to_exact_version(services: dict[str, dict[str, Any]], service: str) -> None:
    image = services[service].get("image")
    assert image, f"{service}: no image"
    assert "$" not in image, f"{service}: image must be pinned literally, not via a variable: {image}"
    _repo, tag = split_image(image)
    assert tag, f"{service}: image {image} has no tag"
    assert tag != "latest" and not tag.startswith("latest"), f"{service}: {image} uses latest"
    assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{service}: {image} is not an exact x.y.z version"
    assert image == EXPECTED_IMAGES[service], f"{service}: {image} != documented pin {EXPECTED_IMAGES[service]}"


def test_exporter_services_build_the_same_image(services: dict[str, dict[str, Any]]) -> None:
    for name in ("exporter", "gpu-exporter", "proxy"):
        build = services[name].get("build")
        context = build if isinstance(build, str) else (build or {}).get("context")
        assert context and (ROOT / context).resolve() == (ROOT / "exporter").resolve(), f"{name}: build context"
    dockerfile = ROOT / "exporter" / "Dockerfile"
    assert dockerfile.is_file(), "exporter/Dockerfile is missing: `docker compose up` cannot build the exporter"
    stages = re.findall(r"^\s*FROM\s+(\S+)", dockerfile.read_text(encoding="utf-8"), flags=re.MULTILINE | re.I)
    assert stages and "python" in stages[-1], (
        f"final stage {stages[-1:]} is not a Python image; the exporter healthchecks run `python`"
    )


def test_every_bind_mount_source_exists(services: dict[str, dict[str, Any]]) -> None:
    missing = []
    for name, svc in services.items():
        for v in svc.get("volumes", []):
            kind, src, tgt, _ = parse_volume(v)
            if kind == "bind" and not (ROOT / src).exists():
                missing.append(f"{name}: {src} -> {tgt}")
    assert not missing, "bind-mount sources missing from the repo:\n" + "\n".join(missing)


def test_every_named_volume_is_declared(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set((compose.get("volumes") or {}).keys())
    used = set()
    for name, svc in services.items():
        for v in svc.get("volumes", []):
            kind, src, tgt, _ = parse_volume(v)
            if kind == "volume":
                assert src, f"{name}: anonymous volume at {tgt}; use a named volume"
                used.add(src)
    assert used <= declared, f"named volumes used but not declared: {used - declared}"
    assert declared <= used, f"declared volumes never mounted: {declared - used}"


@pytest.mark.parametrize("service,path", sorted(DATA_DIRS.items()))
def test_data_dirs_on_named_volumes(services: dict[str, dict[str, Any]], service: str, path: str) -> None:
    m = mount_for(services[service], path)
    assert m is not None and m[0] == "volume" and m[2] == path, f"{service}: {path} must be a named volume"
    assert not m[3], f"{service}: data volume {path} must be writable"


def test_config_bind_mounts_are_read_only(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for v in svc.get("volumes", []):
            kind, src, _tgt, ro = parse_volume(v)
            if kind == "bind":
                assert ro, f"{name}: bind mount {src} should be read-only (:ro)"


def test_compose_dollar_signs_are_variables_or_escaped(compose_text: str) -> None:
    for lineno, line in enumerate(compose_text.splitlines(), 1):
        code = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        stripped = _VAR.sub("", code)
        assert "$" not in stripped, f"docker-compose.yml:{lineno}: stray `$` (write $$ for a literal): {line}"


def test_env_example_documents_every_variable(compose_text: str) -> None:
    used = compose_vars(compose_text)
    documented = set()
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\s*#?\s*([A-Z][A-Z0-9_]*)=", line)
        if m:
            documented.add(m.group(1))
    assert used, "no variables found in docker-compose.yml?"
    assert used <= documented, f".env.example does not document: {sorted(used - documented)}"


def test_compose_interpolates_with_env_example(compose_text: str) -> None:
    env = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\s*([A-Z][A-Z0-9_]*)=(.*)$", line)
        if m:
            env[m.group(1)] = m.group(2)
    for _path, s in walk_strings(yaml.safe_load(compose_text)):
        interpolate(s, env)  # raises on a required variable that .env.example leaves empty


def test_exporter_environment_and_mounts(services: dict[str, dict[str, Any]]) -> None:
    modes = {"exporter": "mock", "gpu-exporter": "real", "proxy": "proxy"}
    host_ports = {"exporter": 9101, "proxy": 9102, "gpu-exporter": 9103}
    for name, mode in modes.items():
        svc = services[name]
        env = {k: interpolate(str(v)) for k, v in svc["environment"].items()}
        assert env["LLM_EXPORTER_MODE"] == mode
        assert env["OTEL_SERVICE_NAME"] == "llm-exporter"
        assert env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == "http://tempo:4318/v1/traces"
        assert env["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"] == "http://loki:3100/otlp/v1/logs"
        for var, fname in (
            ("LLM_EXPORTER_PRICING_FILE", "pricing.yaml"),
            ("LLM_EXPORTER_BUDGETS_FILE", "budgets.yaml"),
        ):
            assert env[var] == f"/etc/llm-exporter/{fname}"
            hp = host_path(svc, env[var])
            assert hp is not None and hp.is_file(), f"{name}: {env[var]} is not backed by a file in the repo"
        assert container_ports(svc) == {9101: host_ports[name]}, f"{name}: ports"
    assert interpolate(services["proxy"]["environment"]["LLM_EXPORTER_UPSTREAM_URL"]) == "https://api.openai.com/v1"
    assert "LLM_PROXY_UPSTREAM_URL" in services["proxy"]["environment"]["LLM_EXPORTER_UPSTREAM_URL"]


def test_gpu_exporter_reserves_nvidia_devices(services: dict[str, dict[str, Any]]) -> None:
    devices = services["gpu-exporter"]["deploy"]["resources"]["reservations"]["devices"]
    assert any(
        d.get("driver") == "nvidia" and d.get("count") == "all" and "gpu" in d.get("capabilities", []) for d in devices
    ), devices


def test_prometheus_command(services: dict[str, dict[str, Any]]) -> None:
    svc = services["prometheus"]
    cmd = [interpolate(c) for c in command_list(svc)]
    cfg = flag_value(cmd, "--config.file")
    assert cfg == "/etc/prometheus/prometheus.yml"
    hp = host_path(svc, cfg)
    assert hp is not None and hp.is_file(), "prometheus.yml is not mounted from the repo"
    assert flag_value(cmd, "--storage.tsdb.path") == DATA_DIRS["prometheus"]
    retention = flag_value(cmd, "--storage.tsdb.retention.time")
    assert retention.endswith("d") and int(retention[:-1]) >= RETENTION_MIN_DAYS, \
        f"the SLO and error-budget rules read {SLO_PERIOD}: keep {RETENTION_MIN_DAYS} days (docs/production.md)"
    assert "--enable-feature=exemplar-storage" in cmd or any(
        c.startswith("--enable-feature=") and "exemplar-storage" in c.split("=", 1)[1].split(",") for c in cmd
    )
    assert "--web.enable-remote-write-receiver" in cmd, "Tempo's metrics-generator remote-writes to Prometheus"
    assert "--web.enable-lifecycle" in cmd
    assert container_ports(svc).get(9090) == 9090


def test_alertmanager_command(services: dict[str, dict[str, Any]]) -> None:
    svc = services["alertmanager"]
    cmd = command_list(svc)
    assert "--cluster.listen-address=" in cmd, "single-node Alertmanager needs an empty --cluster.listen-address"
    cfg = flag_value(cmd, "--config.file")
    assert cfg == "/etc/alertmanager/alertmanager.yml"
    hp = host_path(svc, cfg)
    assert hp is not None and hp.is_file(), "alertmanager.yml is not mounted from the repo"
    assert flag_value(cmd, "--storage.path") == DATA_DIRS["alertmanager"]
    assert container_ports(svc).get(9093) == 9093


@pytest.mark.parametrize("service,config", [("loki", LOKI_FILE), ("tempo", TEMPO_FILE)])
def test_loki_and_tempo_load_the_repo_config(services: dict[str, dict[str, Any]], service: str, config: Path) -> None:
    svc = services[service]
    cfg = flag_value(command_list(svc), "-config.file")
    assert cfg, f"{service}: no -config.file"
    assert host_path(svc, cfg) == config.resolve(), f"{service}: -config.file={cfg} is not {config.relative_to(ROOT)}"


def test_grafana_service(services: dict[str, dict[str, Any]]) -> None:
    svc = services["grafana"]
    env = svc["environment"]
    # no default password: the image's run.sh reads it from the file `secrets` writes (and
    # refuses to start when both GF_SECURITY_ADMIN_PASSWORD and its __FILE form are set)
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    password_file = env["GF_SECURITY_ADMIN_PASSWORD__FILE"]
    mount = mount_for(svc, password_file)
    assert mount and mount[0] == "volume" and mount[1] == "llm-secrets" and mount[3], mount
    assert interpolate(str(env["GF_AUTH_ANONYMOUS_ENABLED"])) == "false", "anonymous access must be opt-in"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer", "anonymous users must be read-only"
    assert "GF_INSTALL_PLUGINS" not in env, "GF_INSTALL_PLUGINS is deprecated (GF_PLUGINS_PREINSTALL)"
    prov = mount_for(svc, "/etc/grafana/provisioning")
    assert prov and prov[0] == "bind" and prov[2] == "/etc/grafana/provisioning" and prov[3]
    assert (ROOT / prov[1]).resolve() == (ROOT / "grafana" / "provisioning").resolve()
    assert container_ports(svc).get(3000) == 3000


def test_healthchecks_only_where_the_image_can_run_them(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        repo, _ = split_image(svc["image"])
        assert repo in IMAGE_HEALTHCHECK_TOOL, f"{name}: add {repo} to IMAGE_HEALTHCHECK_TOOL (shell or distroless?)"
        tool = IMAGE_HEALTHCHECK_TOOL[repo]
        hc = svc.get("healthcheck")
        if svc.get("restart") == "no":  # a one-shot job: dependants wait for it to complete
            assert not hc, f"{name}: a one-shot service needs no healthcheck"
            continue
        if tool is None:
            assert not hc or hc.get("disable"), f"{name}: {repo} is distroless; an exec healthcheck cannot run"
            continue
        assert hc and not hc.get("disable"), f"{name}: {repo} has {tool}; add a healthcheck"
        test = hc["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), f"{name}: healthcheck test form"
        argv = test[1:] if test[0] == "CMD" else test[1].split()
        assert argv[0] == tool, f"{name}: healthcheck uses {argv[0]!r}, the image provides {tool!r}"


def test_depends_on_conditions_are_satisfiable(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert not services[dep].get("profiles") or services[dep].get("profiles") == svc.get("profiles"), (
                f"{name} depends on {dep}, which only runs under a profile"
            )
            if spec.get("condition") == "service_healthy":
                assert services[dep].get("healthcheck"), f"{name} waits for {dep} to be healthy; it has no healthcheck"
    grafana_deps = services["grafana"]["depends_on"]
    assert {"prometheus", "loki", "tempo", "alertmanager"} <= set(grafana_deps)


# --------------------------------------------------------------------------- Loki


def test_loki_single_node_filesystem(loki: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    assert loki["auth_enabled"] is False
    assert loki["server"]["http_listen_port"] == 3100
    assert container_ports(services["loki"]).get(3100) == 3100
    common = loki["common"]
    assert common["replication_factor"] == 1
    assert common["ring"]["kvstore"]["store"] == "inmemory"
    data = DATA_DIRS["loki"]
    assert common["path_prefix"] == data
    fs = common["storage"]["filesystem"]
    for key in ("chunks_directory", "rules_directory"):
        assert fs[key].startswith(data + "/"), f"common.storage.filesystem.{key} must be on the {data} volume"


def test_loki_schema_tsdb_v13(loki: dict[str, Any]) -> None:
    configs = loki["schema_config"]["configs"]
    assert configs, "schema_config.configs is empty"
    today = dt.date.today()
    for c in configs:
        assert dt.date.fromisoformat(str(c["from"])) <= today, "schema `from` must be a past date"
        assert c["index"]["period"] == "24h", "retention requires a 24h index period"
        assert c["index"]["prefix"]
    current = max(configs, key=lambda c: str(c["from"]))
    assert current["store"] == "tsdb", "structured metadata (OTLP) requires tsdb"
    assert current["schema"] == "v13", "structured metadata (OTLP) requires schema v13"
    assert current["object_store"] == "filesystem"


def test_loki_retention_via_compactor(loki: dict[str, Any]) -> None:
    comp = loki["compactor"]
    assert comp["retention_enabled"] is True, "without it the compactor deletes nothing"
    assert comp["delete_request_store"] == "filesystem", "retention_enabled requires delete_request_store"
    assert comp["working_directory"].startswith(DATA_DIRS["loki"] + "/")
    assert "shared_store" not in comp, "compactor.shared_store was removed in Loki 3.0"
    hours = parse_duration_hours(loki["limits_config"]["retention_period"])
    assert hours >= 24, "Loki's minimum retention_period is 24h"


def test_loki_accepts_otlp_structured_metadata(loki: dict[str, Any]) -> None:
    assert loki.get("limits_config", {}).get("allow_structured_metadata", True) is True
    for removed in ("table_manager", "ingester_client"):
        assert removed not in loki, f"{removed} is a 2.x-era block"
    assert "boltdb_shipper" not in (loki.get("storage_config") or {}), "use tsdb, not boltdb-shipper"


# --------------------------------------------------------------------------- Tempo


def test_tempo_receivers_listen_on_all_interfaces(tempo: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    receivers = tempo["distributor"]["receivers"]
    assert set(receivers) == {"otlp"}, "only OTLP is used (OpenCensus was removed in Tempo 3.0)"
    protocols = receivers["otlp"]["protocols"]
    published = container_ports(services["tempo"])
    for proto, port in (("grpc", 4317), ("http", 4318)):
        endpoint = (protocols.get(proto) or {}).get("endpoint")
        assert endpoint == f"0.0.0.0:{port}", f"otlp {proto} must bind 0.0.0.0:{port} (default is localhost)"
        assert published.get(port) == port
    assert tempo["server"]["http_listen_port"] == 3200
    assert published.get(3200) == 3200
    assert tempo["stream_over_http_enabled"] is True


def test_tempo_has_no_blocks_removed_in_3_0(tempo: dict[str, Any]) -> None:
    for removed in ("ingester", "ingester_client", "compactor", "metrics_generator_client"):
        assert removed not in tempo, f"`{removed}` was removed in Tempo 3.0; the config would not load"
    assert "local_blocks" not in (tempo.get("metrics_generator", {}).get("processor") or {})
    assert tempo.get("target", "all") == "all", "monolithic mode (no Kafka) is target all"
    assert "ingest" not in tempo, "monolithic mode needs no Kafka ingest block"


def test_tempo_metrics_generator_remote_writes_to_prometheus(tempo: dict[str, Any]) -> None:
    storage = tempo["metrics_generator"]["storage"]
    assert storage["path"].startswith(DATA_DIRS["tempo"] + "/")
    targets = storage["remote_write"]
    assert any(
        t["url"] == "http://prometheus:9090/api/v1/write" and t.get("send_exemplars") is True for t in targets
    ), targets


def test_tempo_overrides_are_not_legacy(tempo: dict[str, Any]) -> None:
    overrides = tempo["overrides"]
    allowed = {"defaults", "per_tenant_override_config", "per_tenant_override_period", "user_configurable_overrides"}
    assert set(overrides) <= allowed, f"legacy (flat) overrides keys: {set(overrides) - allowed}"
    assert not overrides.get("enable_legacy_overrides")
    processors = overrides["defaults"]["metrics_generator"]["processors"]
    assert {"service-graphs", "span-metrics"} <= set(processors)
    assert "local-blocks" not in processors, "the local-blocks processor was removed in Tempo 3.0"


def test_tempo_storage_on_volume(tempo: dict[str, Any]) -> None:
    trace = tempo["storage"]["trace"]
    assert trace["backend"] == "local"
    for key in ("wal", "local"):
        assert trace[key]["path"].startswith(DATA_DIRS["tempo"] + "/"), f"storage.trace.{key}.path off the volume"


# --------------------------------------------------------------------------- Grafana


def test_datasource_uids_fixed_and_unique(datasources: dict[str, Any]) -> None:
    assert datasources["apiVersion"] == 1
    uids = [d.get("uid") for d in datasources["datasources"]]
    assert all(uids), "every data source needs a fixed uid"
    assert len(uids) == len(set(uids)), f"duplicate uids: {uids}"
    assert set(uids) == DATASOURCE_UIDS
    names = [d["name"] for d in datasources["datasources"]]
    assert len(names) == len(set(names))
    defaults = [d["uid"] for d in datasources["datasources"] if d.get("isDefault")]
    assert defaults == ["prometheus"]


def test_datasource_types_and_urls(ds_by_uid: dict[str, dict[str, Any]], services: dict[str, dict[str, Any]]) -> None:
    expected = {
        "prometheus": ("prometheus", "http://prometheus:9090"),
        "loki": ("loki", "http://loki:3100"),
        "tempo": ("tempo", "http://tempo:3200"),
        "alertmanager": ("alertmanager", "http://alertmanager:9093"),
    }
    for uid, (typ, url) in expected.items():
        assert ds_by_uid[uid]["type"] == typ
        assert ds_by_uid[uid]["url"] == url
        host, _port = url.split("//")[1].split(":")
        assert host in services, f"{uid}: {host} is not a compose service"
    assert ds_by_uid["alertmanager"]["jsonData"]["implementation"] == "prometheus"


def test_every_datasource_uid_reference_resolves(datasources: dict[str, Any]) -> None:
    refs = list(walk_key(datasources, "datasourceUid"))
    assert refs, "no cross-links between data sources?"
    for path, uid in refs:
        assert uid in DATASOURCE_UIDS, f"{path} -> {uid!r} is not a provisioned uid"


def test_exemplar_destinations(ds_by_uid: dict[str, dict[str, Any]]) -> None:
    dests = {d["name"]: d["datasourceUid"] for d in ds_by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]}
    assert dests.get("trace_id") == "tempo", "the exporter's exemplar label is trace_id"
    assert dests.get("traceID") == "tempo", "Tempo's metrics-generator exemplar label is traceID"


def test_loki_derived_field_links_to_tempo(ds_by_uid: dict[str, dict[str, Any]]) -> None:
    fields = ds_by_uid["loki"]["jsonData"]["derivedFields"]
    f = next(f for f in fields if f.get("datasourceUid") == "tempo")
    assert f["matcherType"] == "label", "trace_id is structured metadata, not text in the line"
    assert f["matcherRegex"] == "trace_id"
    assert "regex" not in f, "the key is matcherRegex; `regex` is silently ignored"
    assert f["url"] == "$${__value.raw}"


def test_tempo_correlations(ds_by_uid: dict[str, dict[str, Any]]) -> None:
    jd = ds_by_uid["tempo"]["jsonData"]
    t2l = jd["tracesToLogsV2"]
    assert t2l["datasourceUid"] == "loki"
    assert {"key": "service.name", "value": "service_name"} in t2l["tags"]
    assert t2l["filterByTraceID"] is True
    if t2l.get("customQuery"):
        assert "$${__trace.traceId}" in t2l["query"] and "$${__tags}" in t2l["query"]
    assert jd["tracesToMetrics"]["datasourceUid"] == "prometheus"
    for q in jd["tracesToMetrics"].get("queries", []):
        assert "$$__tags" in q["query"]
    assert jd["serviceMap"]["datasourceUid"] == "prometheus"
    assert jd["nodeGraph"]["enabled"] is True


def test_grafana_variables_are_escaped(datasources: dict[str, Any]) -> None:
    """Grafana expands $VAR / ${VAR} in provisioning files: a literal `$` must be `$$`."""
    for path, s in walk_strings(datasources):
        assert "$" not in s.replace("$$", ""), f"{path}: unescaped `$` in {s!r} (write $$)"
    # and the escaped ones really are Grafana variables, not typos such as $$$
    for path, s in walk_strings(datasources):
        assert "$$$" not in s, f"{path}: {s!r}"


def test_dashboard_provider(services: dict[str, dict[str, Any]]) -> None:
    doc = load_yaml(PROVIDER_FILE)
    assert doc["apiVersion"] == 1
    providers = doc["providers"]
    assert len(providers) == 1
    p = providers[0]
    assert p["type"] == "file"
    assert p["folder"] == "LLM Observability"
    path = p["options"]["path"]
    m = mount_for(services["grafana"], path)
    assert m and m[0] == "bind" and m[2] == path and m[3], f"{path} is not a read-only bind mount"
    assert (ROOT / m[1]).resolve() == (ROOT / "grafana" / "dashboards").resolve()


def test_provisioning_files_are_under_the_mounted_dir(services: dict[str, dict[str, Any]]) -> None:
    for f in (DATASOURCES_FILE, PROVIDER_FILE):
        container = "/etc/grafana/provisioning/" + f.relative_to(ROOT / "grafana" / "provisioning").as_posix()
        assert host_path(services["grafana"], container) == f.resolve()


# --------------------------------------------------------------------------- docs


def test_stack_doc_names_every_pin() -> None:
    text = STACK_DOC.read_text(encoding="utf-8")
    for image in sorted(set(EXPECTED_IMAGES.values())):
        assert image in text, f"docs/stack.md does not mention {image}"
    for repo in IMAGE_HEALTHCHECK_TOOL:
        assert repo in text, f"docs/stack.md does not cover {repo}"

"""The Kubernetes bundle (`make k8s`): it packages exactly the shipped rules, dashboards, datasources
and exporter configuration, every object validates offline against the Kubernetes schemas
(kubernetes-validate, strict: unknown fields are errors) and the prometheus-operator CRD schemas
(@kubernetes-models/prometheus-operator, run with node), and the workloads are locked down.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import requests
import yaml

from grafana import generator as dashboards_generator
from k8s import chart_values, render, sources, workloads
from k8s import grafana as k8s_grafana
from k8s.__main__ import main as k8s_main
from k8s.settings import BundleSettings
from prometheus import generator as rules_generator
from tests.support.processes import Running

REPO = Path(__file__).resolve().parents[1]
CRD_VALIDATOR = REPO / "k8s" / "crds" / "validate.mjs"
SETTINGS = BundleSettings()
BUNDLE = render.bundle(SETTINGS)
OBJECTS = list(BUNDLE.objects())
OPERATOR_GROUP = "monitoring.coreos.com"
# kube-prometheus-stack requires Kubernetes >= 1.25 (its Chart.yaml kubeVersion); validate against
# an older supported release and the newest one kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
GRAFANA_BUILTIN = "-- Grafana --"  # the annotations datasource every Grafana has
CLIENT_SIDE_APPLY_LIMIT = 262_144  # bytes: kubectl's last-applied-configuration annotation


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [o for o in OBJECTS if o["kind"] == kind]


def pod_templates() -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in OBJECTS:
        if obj["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
            yield obj["metadata"]["name"], obj["spec"]["template"]


def is_operator_object(obj: dict[str, Any]) -> bool:
    return obj["apiVersion"].split("/")[0] == OPERATOR_GROUP


def crd_validate(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: run `make deps`")
    if not (CRD_VALIDATOR.parent / "node_modules").exists():
        pytest.fail("k8s/crds/node_modules is missing: run `make deps` (scripts/install-node-deps.sh)")
    result = subprocess.run([node, str(CRD_VALIDATOR)], input=json.dumps(objects), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# -- the same sources as compose ---------------------------------------------------------------


def test_prometheus_rules_are_the_shipped_rule_files() -> None:
    rules = of_kind("PrometheusRule")
    assert [r["metadata"]["name"] + ".yml" for r in rules] == [f.name for f in rules_generator.rule_files()]
    for rule, rule_file in zip(rules, rules_generator.rule_files(), strict=True):
        committed = yaml.safe_load((sources.RULES_DIR / rule_file.name).read_text())
        assert rule["spec"]["groups"] == committed["groups"], rule_file.name
    rendered = [r for obj in rules for g in obj["spec"]["groups"] for r in g["rules"]]
    assert [r.get("record") or r.get("alert") for r in rendered] == \
        [r.name for g in rules_generator.groups() for r in g.rules]


def test_dashboard_config_maps_are_the_generated_dashboards() -> None:
    rendered = dashboards_generator.rendered()
    maps = of_kind("ConfigMap")
    dashboards = {name: text for cm in maps for name, text in cm["data"].items() if name.endswith(".json")}
    assert dashboards == rendered
    for name, text in dashboards.items():
        assert text == (dashboards_generator.OUTPUT_DIR / name).read_text(), name


def test_dashboards_carry_the_sidecar_label_and_folder() -> None:
    label, value = SETTINGS.dashboard_label
    folder = yaml.safe_load(sources.DASHBOARD_PROVIDER_FILE.read_text())["providers"][0]["folder"]
    maps = [cm for cm in of_kind("ConfigMap") if any(k.endswith(".json") for k in cm["data"])]
    assert len(maps) == len(dashboards_generator.dashboards())
    for cm in maps:
        assert cm["metadata"]["labels"][label] == value
        assert cm["metadata"]["annotations"][k8s_grafana.FOLDER_ANNOTATION] == folder


def _datasource_uids(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("datasource"), dict) and "uid" in node["datasource"]:
            yield node["datasource"]["uid"]
        if "datasourceUid" in node:
            yield node["datasourceUid"]
        for value in node.values():
            yield from _datasource_uids(value)
    elif isinstance(node, list):
        for value in node:
            yield from _datasource_uids(value)


def test_datasources_complete_the_charts_own() -> None:
    """The chart provides `prometheus` and `alertmanager`; the bundle adds the rest of the shipped
    datasources, and together they resolve every uid a dashboard or datasource refers to."""
    label, value = SETTINGS.datasource_label
    cm = next(cm for cm in of_kind("ConfigMap") if k8s_grafana.DATASOURCES_KEY in cm["data"])
    assert cm["metadata"]["labels"][label] == value
    bundled = yaml.safe_load(cm["data"][k8s_grafana.DATASOURCES_KEY])["datasources"]
    shipped = yaml.safe_load(sources.DATASOURCES_FILE.read_text())["datasources"]
    assert {d["uid"] for d in bundled} | k8s_grafana.CHART_DATASOURCE_UIDS == {d["uid"] for d in shipped}
    assert not {d["uid"] for d in bundled} & k8s_grafana.CHART_DATASOURCE_UIDS
    available = {d["uid"] for d in bundled} | k8s_grafana.CHART_DATASOURCE_UIDS
    dashboards = [json.loads(text) for text in dashboards_generator.rendered().values()]
    referenced = set(_datasource_uids(dashboards)) | set(_datasource_uids(bundled))
    assert referenced - {GRAFANA_BUILTIN} <= available, referenced - available
    originals = {d["uid"]: d for d in shipped}
    for datasource in bundled:
        assert {k: v for k, v in datasource.items() if k != "url"} == \
            {k: v for k, v in originals[datasource["uid"]].items() if k != "url"}


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def test_no_compose_host_name_is_left_in_the_bundle() -> None:
    hosts = "|".join(re.escape(h) for h in sources.compose_service_names())
    compose_url = re.compile(rf"https?://({hosts})[:/]")
    leftovers = [s for s in _strings(OBJECTS) if compose_url.search(s)]
    assert not leftovers, leftovers


def _env(template: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in template["spec"]["containers"][0]["env"]}


def test_exporter_environment_and_config_come_from_compose() -> None:
    config = next(cm for cm in of_kind("ConfigMap") if cm["metadata"]["name"] == workloads.CONFIG_MAP)
    assert config["data"] == {p.name: p.read_text() for p in sorted(sources.EXPORTER_CONFIG_DIR.glob("*.yaml"))}
    templates = dict(pod_templates())
    for workload in workloads.WORKLOADS:
        service = sources.exporter_service(workload.compose_service)
        env = _env(templates[workload.name])
        for key, value in service.environment.items():
            expected = workloads.rewrite_url(value, SETTINGS) if value.startswith("http") else value
            assert env[key] == expected, (workload.name, key)
        mount = templates[workload.name]["spec"]["containers"][0]["volumeMounts"][0]
        assert mount["mountPath"] == service.config_mount and mount["readOnly"] is True
        for path_variable in ("LLM_EXPORTER_PRICING_FILE", "LLM_EXPORTER_BUDGETS_FILE", "LLM_EXPORTER_OBJECTIVES_FILE"):
            directory, name = env[path_variable].rsplit("/", 1)
            assert directory == service.config_mount and name in config["data"], path_variable


def test_compose_defaults_are_taken() -> None:
    assert sources.compose_default("${LLM_EXPORTER_SCENARIO:-normal}") == "normal"
    assert sources.compose_default("${UNSET}") == ""
    assert sources.compose_default("a-${X-b}-c") == "a-b-c"


def test_chart_values_match_what_compose_runs(tmp_path: Path) -> None:
    values = BUNDLE.chart_values
    command = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["prometheus"]["command"]
    spec = values["prometheus"]["prometheusSpec"]
    assert [f"--enable-feature={f}" for f in spec["enableFeatures"]] == [c for c in command if "enable-feature" in c]
    assert spec["enableRemoteWriteReceiver"] == ("--web.enable-remote-write-receiver" in command)
    assert spec["enableOTLPReceiver"] == ("--web.enable-otlp-receiver" in command)
    config = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    assert spec["otlp"]["promoteResourceAttributes"] == config["otlp"]["promote_resource_attributes"]
    assert spec["tsdb"]["outOfOrderTimeWindow"] == config["storage"]["tsdb"]["out_of_order_time_window"]
    assert set(config) <= set(chart_values.PROMETHEUS_YML_KEYS)
    shipped = {d["uid"]: d for d in yaml.safe_load(sources.DATASOURCES_FILE.read_text())["datasources"]}
    sidecar = values["grafana"]["sidecar"]
    assert sidecar["datasources"]["uid"] == "prometheus"
    assert sidecar["datasources"]["name"] == shipped["prometheus"]["name"]
    assert sidecar["datasources"]["extraJsonData"]["exemplarTraceIdDestinations"] == \
        shipped["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert sidecar["datasources"]["alertmanager"]["name"] == shipped["alertmanager"]["name"]
    assert (sidecar["dashboards"]["label"], sidecar["dashboards"]["labelValue"]) == SETTINGS.dashboard_label
    assert sidecar["dashboards"]["folderAnnotation"] == k8s_grafana.FOLDER_ANNOTATION
    assert set(values["defaultRules"]["disabled"]) <= {a.name for a in rules_generator.alerts()}
    render.write(BUNDLE, tmp_path)
    assert yaml.safe_load((tmp_path / chart_values.FILE_NAME).read_text()) == values
    kustomization = yaml.safe_load((tmp_path / render.KUSTOMIZATION).read_text())
    assert chart_values.FILE_NAME not in kustomization["resources"]


# -- schemas -----------------------------------------------------------------------------------


def test_chart_prometheus_spec_validates_against_the_prometheus_crd() -> None:
    prometheus = {"apiVersion": f"{OPERATOR_GROUP}/v1", "kind": "Prometheus", "metadata": {"name": "chart"},
                  "spec": BUNDLE.chart_values["prometheus"]["prometheusSpec"]}
    (result,) = crd_validate([prometheus])
    assert result["status"] == "valid", result


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_objects_validate_against_the_kubernetes_schemas(version: str) -> None:
    core = [o for o in OBJECTS if not is_operator_object(o)]
    assert core
    for obj in core:
        kubernetes_validate.validate(obj, version, strict=True)


def test_kubernetes_validation_notices_a_wrong_field() -> None:
    deployment = json.loads(json.dumps(of_kind("Deployment")[0]))
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True  # wrong case
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_operator_objects_validate_against_the_crd_schemas() -> None:
    operator = [o for o in OBJECTS if is_operator_object(o)]
    assert {o["kind"] for o in operator} >= {"ServiceMonitor", "PrometheusRule"}
    results = crd_validate(operator)
    problems = [r for r in results if r["status"] != "valid"]
    assert not problems, problems


def test_crd_validation_notices_broken_objects() -> None:
    monitor = json.loads(json.dumps(of_kind("ServiceMonitor")[0]))
    monitor["spec"]["endpoints"][0]["interval"] = "15 seconds"
    rule = json.loads(json.dumps(of_kind("PrometheusRule")[0]))
    del rule["spec"]["groups"][0]["rules"][0]["expr"]
    results = crd_validate([monitor, rule])
    assert [r["status"] for r in results] == ["invalid", "invalid"], results


def test_every_object_is_checked_by_one_of_the_validators() -> None:
    """No kind slips through: core kinds have a Kubernetes schema, operator kinds a CRD schema."""
    operator_results = crd_validate([o for o in OBJECTS if is_operator_object(o)])
    assert all(r["status"] == "valid" for r in operator_results)
    assert [r["status"] for r in crd_validate([of_kind("Service")[0]])] == ["unknown"]


def test_objects_fit_kubectl_apply() -> None:
    for obj in OBJECTS:
        size = len(json.dumps(obj))
        assert size < CLIENT_SIDE_APPLY_LIMIT, f"{obj['kind']} {obj['metadata']['name']}: {size} bytes"


# -- wiring ------------------------------------------------------------------------------------


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_service_monitors_reach_every_workload() -> None:
    services, templates = of_kind("Service"), dict(pod_templates())
    monitors = of_kind("ServiceMonitor")
    assert {m["metadata"]["name"] for m in monitors} == set(templates)
    for monitor in monitors:
        assert monitor["metadata"]["labels"]["release"] == SETTINGS.release
        selector = monitor["spec"]["selector"]["matchLabels"]
        selected = [s for s in services if _matches(selector, s["metadata"]["labels"])]
        assert len(selected) == 1, monitor["metadata"]["name"]
        service = selected[0]
        assert service["metadata"]["name"] == monitor["metadata"]["name"]  # Prometheus' job label
        port_names = {p["name"] for p in service["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names
        backends = [n for n, t in templates.items() if _matches(service["spec"]["selector"], t["metadata"]["labels"])]
        assert backends == [service["metadata"]["name"]]
        container_ports = {p["name"] for p in templates[backends[0]]["spec"]["containers"][0]["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports
    prometheus = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())["global"]
    assert {e["interval"] for m in monitors for e in m["spec"]["endpoints"]} == {prometheus["scrape_interval"]}


def test_service_monitors_set_the_target_files_labels() -> None:
    """The proxy is scraped as compose's target file scrapes it: `layer: gateway` on its series."""
    monitors = {m["metadata"]["name"]: m for m in of_kind("ServiceMonitor")}
    proxy_example = yaml.safe_load((REPO / "prometheus" / "targets" / "proxy.yml.example").read_text())[0]["labels"]
    assert proxy_example["job"] == workloads.PROXY.name and proxy_example["layer"] == "gateway"
    for workload in workloads.WORKLOADS:
        expected = dict(sources.target_labels(workload.target_file)) if workload.target_file else {}
        expected.pop("job", None)
        (endpoint,) = monitors[workload.name]["spec"]["endpoints"]
        set_labels = {r["targetLabel"]: r["replacement"] for r in endpoint.get("relabelings", [])}
        assert set_labels == expected, workload.name


def test_prometheus_rules_carry_the_release_label() -> None:
    assert all(r["metadata"]["labels"]["release"] == SETTINGS.release for r in of_kind("PrometheusRule"))


def test_gpu_exporter_runs_on_gpu_nodes_without_taking_a_gpu() -> None:
    daemonsets = of_kind("DaemonSet")
    assert [d["metadata"]["name"] for d in daemonsets] == [workloads.GPU.name]
    spec = daemonsets[0]["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == SETTINGS.gpu_node_selector
    assert any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
    assert _env(daemonsets[0]["spec"]["template"])["LLM_EXPORTER_MODE"] == "real"
    assert "nvidia.com/gpu" not in json.dumps(spec["containers"][0]["resources"])


def test_proxy_runs_several_replicas_with_a_disruption_budget() -> None:
    proxy = next(d for d in of_kind("Deployment") if d["metadata"]["name"] == workloads.PROXY.name)
    assert proxy["spec"]["replicas"] >= 2
    budget = of_kind("PodDisruptionBudget")[0]
    assert budget["spec"]["selector"]["matchLabels"] == proxy["spec"]["selector"]["matchLabels"]
    assert budget["spec"]["minAvailable"] < proxy["spec"]["replicas"]


# -- locked-down workloads ---------------------------------------------------------------------


def _dockerfile_uid() -> int:
    match = re.search(r"useradd [^\n]*--uid (\d+)", (REPO / "exporter" / "Dockerfile").read_text())
    assert match, "exporter/Dockerfile creates no user with --uid"
    return int(match.group(1))


@pytest.mark.parametrize("name", [name for name, _ in pod_templates()])
def test_pods_are_non_root_read_only_and_bounded(name: str) -> None:
    spec = dict(pod_templates())[name]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == _dockerfile_uid()
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}, (container["name"], kind)
        assert container["readinessProbe"]["httpGet"]["port"] in {p["name"] for p in container["ports"]}
        assert container["livenessProbe"]["httpGet"]["port"] in {p["name"] for p in container["ports"]}


def test_probe_paths_answer_on_the_real_exporter(mock_exporter: Running) -> None:
    paths = {c[probe]["httpGet"]["path"] for _, t in pod_templates() for c in t["spec"]["containers"]
             for probe in ("readinessProbe", "livenessProbe")}
    for path in sorted(paths):
        assert requests.get(mock_exporter.url + path, timeout=5).status_code == 200, path


# -- rendering and the command line ------------------------------------------------------------


def test_written_bundle_is_a_kustomization_of_its_files(tmp_path: Path) -> None:
    written = render.write(BUNDLE, tmp_path / "k8s")
    kustomization = yaml.safe_load((tmp_path / "k8s" / render.KUSTOMIZATION).read_text())
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == \
        sorted(p.name for p in written if p.name not in (render.KUSTOMIZATION, chart_values.FILE_NAME))
    reloaded = [o for name in kustomization["resources"]
                for o in yaml.safe_load_all((tmp_path / "k8s" / name).read_text()) if o]
    assert reloaded == OBJECTS


def test_kubectl_kustomize_builds_the_bundle(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed here; the kustomization's shape is checked by "
                    "test_written_bundle_is_a_kustomization_of_its_files")
    render.write(BUNDLE, tmp_path)
    result = subprocess.run([kubectl, "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    built = [o for o in yaml.safe_load_all(result.stdout) if o]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in built) == \
        sorted((o["kind"], o["metadata"]["name"]) for o in OBJECTS)


def test_rewrite_refuses_a_compose_host_without_a_cluster_address() -> None:
    with pytest.raises(ValueError, match="prometheus"):
        workloads.rewrite_url("http://prometheus:9090", SETTINGS)
    assert workloads.rewrite_url("http://tempo:4318/v1/traces", SETTINGS) == \
        SETTINGS.tempo_otlp_http_url + "/v1/traces"


def test_cli_writes_the_bundle_with_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bundle"
    assert k8s_main(["--out", str(out), "--namespace", "llm", "--release", "prom", "--proxy-replicas", "3"]) == 0
    resources = yaml.safe_load((out / render.KUSTOMIZATION).read_text())["resources"]
    objects = [o for name in resources for o in yaml.safe_load_all((out / name).read_text()) if o]
    namespaced = [o for o in objects if o["kind"] != "Namespace"]
    assert {o["metadata"]["namespace"] for o in namespaced} == {"llm"}
    assert {o["metadata"]["labels"]["release"] for o in objects if o["kind"] in ("ServiceMonitor", "PrometheusRule")} \
        == {"prom"}
    assert "kubectl apply" in capsys.readouterr().out
    assert k8s_main(["--out", str(out)]) == 0  # re-rendering replaces its own bundle


@pytest.mark.parametrize("args, message", [
    (["--namespace", "LLM_Obs"], "not a DNS label"),
    (["--loki-url", "loki:3100"], "http(s) URL"),
    (["--proxy-replicas", "0"], "replicas"),
])
def test_cli_rejects_bad_settings(args: list[str], message: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        k8s_main(["--out", str(tmp_path / "out"), *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_never_overwrites_a_foreign_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.yaml").write_text("mine: true\n")
    with pytest.raises(SystemExit):
        k8s_main(["--out", str(tmp_path)])
    assert "holds no bundle" in capsys.readouterr().err
    assert (tmp_path / "notes.yaml").read_text() == "mine: true\n"

"""The Kubernetes bundle: `python -m k8s` (`make k8s`) renders, for a cluster running
kube-prometheus-stack (prometheus-operator), everything the compose stack ships, from the same files:

    sources.py     reads what compose mounts: rule files, dashboards, datasources, the exporter's
                   environment and config files (nothing here is a second copy of any of them)
    settings.py    what differs per cluster: namespace, release label, image, Loki/Tempo addresses
    workloads.py   the mock exporter, the proxy and the GPU exporter (Deployments, a DaemonSet,
                   Services, ConfigMap): probes, resources, non-root, read-only root filesystem
    monitoring.py  ServiceMonitors and PrometheusRules for the operator
    grafana.py     dashboard and datasource ConfigMaps for the Grafana sidecar
    render.py      the files of the bundle and its kustomization.yaml (`kubectl apply -k`)

docs/kubernetes.md explains how to apply it and what the chart's values must say.
"""

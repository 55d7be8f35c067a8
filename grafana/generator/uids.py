"""Dashboard uids: the stable part of every dashboard URL (alerts' dashboard_url, links, docs)."""

OVERVIEW = "llm-overview"
LATENCY = "llm-latency"
COST = "llm-cost"
ERRORS = "llm-errors"
GPU = "llm-gpu"
SLO = "llm-slo"
LOGS_TRACES = "llm-logs-traces"

ALL = (OVERVIEW, LATENCY, COST, ERRORS, GPU, SLO, LOGS_TRACES)

# Short names, as the README and the alert tables call the dashboards.
TITLES = {OVERVIEW: "Overview", LATENCY: "Latency", COST: "Cost", ERRORS: "Errors and quality", GPU: "GPU",
          SLO: "SLO", LOGS_TRACES: "Logs and traces"}

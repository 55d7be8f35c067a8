"""GPU: are the self-hosted GPUs and their model servers busy, healthy and within their limits?"""

from __future__ import annotations

from llm_exporter import contract
from prometheus.generator import recording

from . import common as c
from .builder import RATIO, Dashboard, PromQuery, gauge, stat, thresholds, timeseries

G = 'gpu=~"$gpu", source=~"$source"'
LEGEND = "GPU {{gpu}} ({{instance}})"
UTILIZATION, MEMORY_USED, MEMORY_TOTAL, POWER, TEMPERATURE = (
    f"{recording.GPU_SIGNALS[signal]}{{{G}}}"
    for signal in ("utilization", "memory_used", "memory_total", "power", "temperature"))
ENGINES = 'source=~".*"'  # engine gauges carry no GPU label: every engine's, whatever the GPU selection


def _engine(signal: str) -> str:
    return f"{recording.ENGINE_GAUGES[signal][0]}{{{ENGINES}}}"


def build() -> Dashboard:
    util = c.lower(c.GPU_UTILIZATION_MIN, "orange")
    panels = [
        stat("GPU telemetry", PromQuery("min(llm_gpu_up)"), unit="none", decimals=0, bounds=RATIO, w=4, graph=False,
             color_mode="background", thresholds=thresholds("red", (1, "green")),
             mappings=[{"type": "value", "options": {"0": {"text": "unreadable", "index": 0},
                                                     "1": {"text": "readable", "index": 1}}}],
             description="1 when every exporter of this project could read its GPUs (NVML or the mock fleet); "
                         "dcgm-exporter has no such series."),
        stat("GPUs", PromQuery(f"count({UTILIZATION})"), unit="none", decimals=0, w=4, graph=False),
        gauge("Mean utilisation", PromQuery(f"avg({UTILIZATION})"), unit="percentunit",
              decimals=0, min=0, max=1, w=4, h=5, thresholds=util,
              description=f"LLMGPUUnderutilized fires per GPU below {c.GPU_UTILIZATION_MIN:.0%} for 10 minutes."),
        gauge("Memory in use", PromQuery(f"sum({MEMORY_USED}) / sum({MEMORY_TOTAL})"),
              unit="percentunit", decimals=0, min=0, max=1, w=4, h=5,
              thresholds=thresholds("green", (0.85, "orange"), (0.95, "red"))),
        stat("Power draw", PromQuery(f"sum({POWER})"), unit="watt", decimals=0, w=4),
        stat("Hottest GPU", PromQuery(f"max({TEMPERATURE})"), unit="celsius", decimals=0, w=4,
             thresholds=thresholds("green", (80, "orange"), (90, "red")),
             description="No alert on temperature: 80/90 °C are the usual throttling region of data-centre GPUs."),

        timeseries("Utilisation per GPU", PromQuery(UTILIZATION, legend=LEGEND),
                   unit="percentunit", decimals=0, min=0, max=1, w=12, thresholds=util, threshold_style="line",
                   description=f"Line: the LLMGPUUnderutilized threshold ({c.GPU_UTILIZATION_MIN:.0%}). From "
                               "dcgm-exporter, the graphics engine's active ratio where the GPU reports it, else "
                               "its utilisation percentage."),
        timeseries("Memory used per GPU", PromQuery(MEMORY_USED, legend=LEGEND),
                   PromQuery(f"max({MEMORY_TOTAL})", legend="installed (largest GPU)"),
                   unit="bytes", decimals=1, w=12),
        timeseries("Power per GPU", PromQuery(POWER, legend=LEGEND), unit="watt", decimals=0, w=12),
        timeseries("Temperature per GPU", PromQuery(TEMPERATURE, legend=LEGEND),
                   unit="celsius", decimals=0, w=12, thresholds=thresholds("green", (80, "orange"), (90, "red")),
                   threshold_style="line"),
        timeseries("Self-hosted traffic", PromQuery(
            f"sum by (model) ({recording.requests_rate('5m', 'source_app_model')}{{layer=\"engine\"}})\n"
            f"  or sum by (model) ({recording.requests_rate('5m', 'model')}\n"
            f"    and on (model) {contract.SELF_HOSTED_PRICE.name})",
            legend="{{model}}"), unit="reqps", decimals=2, w=8, h=7,
            description="Calls the model servers on these GPUs answer: what the engines (vLLM, SGLang, TGI, "
                        "NIM) count, else the calls to models priced by the GPU hour in pricing.yaml."),
        timeseries("Running and queued calls (engines)",
                   PromQuery(f"sum by (model) ({_engine('running')})", legend="running {{model}}"),
                   PromQuery(f"sum by (model) ({_engine('waiting')})", legend="queued {{model}}"),
                   unit="none", decimals=0, w=8, h=7,
                   description="Requests each engine is running and holding in its queue: a growing queue is "
                               "latency to come."),
        timeseries("KV-cache usage (engines)", PromQuery(f"max by (model) ({_engine('kv_cache')})", legend="{{model}}"),
                   unit="percentunit", decimals=0, min=0, max=1, bounds=RATIO, w=8, h=7,
                   description="Share of the KV cache in use (vLLM, SGLang, NIM): near 100% the engine pre-empts "
                               "or queues requests."),
    ]
    return Dashboard(
        c.GPU, "LLM GPU",
        "Utilisation, memory, power and temperature per GPU (this project's NVML exporter or NVIDIA's "
        "dcgm-exporter), and the load of the model servers running on them.",
        panels, [c.GPU_SOURCE_VAR, c.GPU_VAR], tags=["gpu"],
    )

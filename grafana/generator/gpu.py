"""GPU: are the self-hosted GPUs busy, healthy and within their memory, power and thermal limits?"""

from __future__ import annotations

from . import common as c
from .builder import RATIO, Dashboard, PromQuery, gauge, stat, thresholds, timeseries

G = 'gpu=~"$gpu"'
LEGEND = "GPU {{gpu}}"


def build() -> Dashboard:
    util = c.lower(c.GPU_UTILIZATION_MIN, "orange")
    panels = [
        stat("GPU telemetry", PromQuery("min(llm_gpu_up)"), unit="none", decimals=0, bounds=RATIO, w=4, graph=False,
             color_mode="background", thresholds=thresholds("red", (1, "green")),
             mappings=[{"type": "value", "options": {"0": {"text": "unreadable", "index": 0},
                                                     "1": {"text": "readable", "index": 1}}}],
             description="1 when every exporter could read its GPUs (NVML or the mock fleet)."),
        stat("GPUs", PromQuery(f"count(llm_gpu_utilization_ratio{{{G}}})"), unit="none", decimals=0, w=4, graph=False),
        gauge("Mean utilisation", PromQuery(f"avg(llm_gpu_utilization_ratio{{{G}}})"), unit="percentunit",
              decimals=0, min=0, max=1, w=4, h=5, thresholds=util,
              description=f"LLMGPUUnderutilized fires per GPU below {c.GPU_UTILIZATION_MIN:.0%} for 10 minutes."),
        gauge("Memory in use", PromQuery(
            f"sum(llm_gpu_memory_used_bytes{{{G}}}) / sum(llm_gpu_memory_total_bytes{{{G}}})"),
            unit="percentunit", decimals=0, min=0, max=1, w=4, h=5,
            thresholds=thresholds("green", (0.85, "orange"), (0.95, "red"))),
        stat("Power draw", PromQuery(f"sum(llm_gpu_power_watts{{{G}}})"), unit="watt", decimals=0, w=4),
        stat("Hottest GPU", PromQuery(f"max(llm_gpu_temperature_celsius{{{G}}})"), unit="celsius", decimals=0, w=4,
             thresholds=thresholds("green", (80, "orange"), (90, "red")),
             description="No alert on temperature: 80/90 °C are the usual throttling region of data-centre GPUs."),

        timeseries("Utilisation per GPU", PromQuery(f"llm_gpu_utilization_ratio{{{G}}}", legend=LEGEND),
                   unit="percentunit", decimals=0, min=0, max=1, w=12, thresholds=util, threshold_style="line",
                   description=f"Line: the LLMGPUUnderutilized threshold ({c.GPU_UTILIZATION_MIN:.0%})."),
        timeseries("Memory used per GPU", PromQuery(f"llm_gpu_memory_used_bytes{{{G}}}", legend=LEGEND),
                   PromQuery(f"max(llm_gpu_memory_total_bytes{{{G}}})", legend="installed (largest GPU)"),
                   unit="bytes", decimals=1, w=12),
        timeseries("Power per GPU", PromQuery(f"llm_gpu_power_watts{{{G}}}", legend=LEGEND),
                   unit="watt", decimals=0, w=12),
        timeseries("Temperature per GPU", PromQuery(f"llm_gpu_temperature_celsius{{{G}}}", legend=LEGEND),
                   unit="celsius", decimals=0, w=12, thresholds=thresholds("green", (80, "orange"), (90, "red")),
                   threshold_style="line"),
        timeseries("Self-hosted traffic", PromQuery(
            'sum by (model) (model:llm_requests:rate5m{provider="vllm"})', legend="{{model}}"),
            unit="reqps", decimals=2, w=24, h=6,
            description="Calls to the self-hosted models the GPUs serve (provider vllm)."),
    ]
    return Dashboard(
        c.GPU, "LLM GPU",
        "Utilisation, memory, power and temperature per GPU of the self-hosted models.",
        panels, [c.GPU_VAR], tags=["gpu"],
    )

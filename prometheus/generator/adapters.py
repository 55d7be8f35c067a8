"""Adapters: what each source exposes, read as the stack's own signals.

The dashboards and the alerts read one set of recorded series. Each adapter says, for every signal
its source has, which of the source's own series carries it (a name recorded, with its citation,
in llm_exporter.sources) and how the source's labels become the stack's: `model`, `provider`,
`app_id`, `department`. The recording rules (recording.py) take the union over every adapter and
label each series with `source` (the adapter's name) and `layer`:

    client   the calling application: this project's library or mock fleet, OpenTelemetry
             GenAI instrumentations (openai-v2, OpenLIT, OpenLLMetry)
    gateway  a proxy in front of the models: LiteLLM, this project's metering proxy
    engine   the model server: vLLM, SGLang, TGI, NVIDIA NIM

A target may carry its own `layer` label (the metering proxy's target file sets `gateway`); the
adapter's layer is the default. A call can be seen by several layers (an app, through LiteLLM, to
vLLM). Totals count it once:
for each model, the outermost layer that reports it (client, then gateway, then engine); the
per-layer views keep every layer (see `PREFERRED_LAYERS`). A signal an adapter leaves out is one
its source does not have: its panels show "no data from this source", never an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llm_exporter import contract

CLIENT, GATEWAY, ENGINE = "client", "gateway", "engine"
PREFERRED_LAYERS = (CLIENT, GATEWAY, ENGINE)  # outermost first: totals count a model's calls at the first present
CONTRACT = "llm"  # the source name of this project's own llm_* series


@dataclass(frozen=True)
class Labels:
    """Where the stack's labels come from. Each value is a source label name, several of them
    (the first that is set wins), or "=value" for a constant. Labels left empty are absent."""

    model: tuple[str, ...] = ("model",)
    provider: tuple[str, ...] = ("provider",)
    app_id: tuple[str, ...] = ("app_id",)
    department: tuple[str, ...] = ("department",)
    unset: str = ""  # a value the source writes for "no value" (LiteLLM: "None"), read as absent

    def items(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return (("model", self.model), ("provider", self.provider), ("app_id", self.app_id),
                ("department", self.department))


@dataclass(frozen=True)
class Series:
    """A source series carrying one signal. `names` are the family name and its older spellings
    (deprecated names, read while old releases run); `suffix` picks a histogram's `_sum` or
    `_count`; `matchers` narrow it (failed calls only, input tokens only)."""

    names: tuple[str, ...]
    matchers: str = ""
    suffix: str = ""

    @classmethod
    def of(cls, *names: str, matchers: str = "", suffix: str = "") -> Series:
        return cls(names, matchers, suffix)

    def selectors(self, suffix: str = "") -> tuple[str, ...]:
        """One selector per spelling; `suffix` (a histogram's `_bucket`) is added to the series' own."""
        ending = self.suffix + suffix
        return tuple(f"{name}{ending}{{{self.matchers}}}" if self.matchers else f"{name}{ending}"
                     for name in self.names)


@dataclass(frozen=True)
class Adapter:
    """One source, its layer, its labels and the series of each signal it has (None: it has not)."""

    name: str
    layer: str
    labels: Labels
    requests: Series | None = None  # counter: calls finished, every outcome
    errors: Series | None = None  # counter: failed calls
    duration: Series | None = None  # histogram: end-to-end latency of a call
    ttft: Series | None = None  # histogram: time to first token
    tpot: Series | None = None  # histogram: mean time per output token of a call
    input_tokens: Series | None = None  # counter
    output_tokens: Series | None = None  # counter
    cost: Series | None = None  # counter, USD (else: tokens × the pricing file's prices)
    cost_everywhere: bool = True  # the cost series exists wherever calls do (else tokens price the rest)
    running: Series | None = None  # gauge: calls in flight
    waiting: Series | None = None  # gauge: calls queued before running (engines)
    kv_cache: Series | None = None  # gauge: KV-cache usage, ratio 0-1 (engines)
    notes: tuple[str, ...] = field(default=())

    def histogram(self, spec: contract.MetricSpec) -> Series | None:
        """The series of the contract histogram `spec` (duration, TTFT, TPOT)."""
        return {contract.DURATION.name: self.duration, contract.TTFT.name: self.ttft,
                contract.TPOT.name: self.tpot}[spec.name]


# -- the adapters ---------------------------------------------------------------------------------

CONTRACT_ADAPTER = Adapter(
    CONTRACT, CLIENT, Labels(),
    requests=Series.of(contract.REQUESTS.exposed_name),
    errors=Series.of(contract.REQUESTS.exposed_name, matchers='status="error"'),
    duration=Series.of(contract.DURATION.name), ttft=Series.of(contract.TTFT.name), tpot=Series.of(contract.TPOT.name),
    input_tokens=Series.of(contract.TOKENS.exposed_name, matchers='direction="input"'),
    output_tokens=Series.of(contract.TOKENS.exposed_name, matchers='direction="output"'),
    cost=Series.of(contract.COST.exposed_name),
    running=Series.of(contract.ACTIVE.name),
    notes=("The layer is `client`, or the target's own `layer` label: the metering proxy's target file "
           "(prometheus/targets/proxy.yml.example) sets `gateway`.",),
)

VLLM = Adapter(
    "vllm", ENGINE, Labels(model=("model_name",), provider=("=vllm",), app_id=(), department=()),
    requests=Series.of("vllm:request_success_total"),
    errors=Series.of("vllm:request_success_total", matchers='finished_reason=~"error|abort"'),
    duration=Series.of("vllm:e2e_request_latency_seconds"),
    ttft=Series.of("vllm:time_to_first_token_seconds"),
    tpot=Series.of("vllm:request_time_per_output_token_seconds"),
    input_tokens=Series.of("vllm:prompt_tokens_total"),
    output_tokens=Series.of("vllm:generation_tokens_total"),
    running=Series.of("vllm:num_requests_running"), waiting=Series.of("vllm:num_requests_waiting"),
    kv_cache=Series.of("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    notes=("Every finished request is in vllm:request_success_total; finished_reason error (engine "
           "failure) and abort (the caller went away) count as failed.",
           "vllm:time_per_output_token_seconds (before v0.13) is per token, not per call: not mapped to "
           "time per output token.",),
)

SGLANG = Adapter(
    "sglang", ENGINE, Labels(model=("model_name",), provider=("=sglang",), app_id=(), department=()),
    requests=Series.of("sglang:num_requests_total"),
    errors=Series.of("sglang:num_aborted_requests_total"),
    duration=Series.of("sglang:e2e_request_latency_seconds"),
    ttft=Series.of("sglang:time_to_first_token_seconds"),
    tpot=Series.of("sglang:request_time_per_output_token_seconds"),
    input_tokens=Series.of("sglang:prompt_tokens_total"),
    output_tokens=Series.of("sglang:generation_tokens_total"),
    running=Series.of("sglang:num_running_reqs"), waiting=Series.of("sglang:num_queue_reqs"),
    kv_cache=Series.of("sglang:token_usage"),
    notes=("sglang:num_requests_total counts aborted requests too; sglang:num_aborted_requests_total "
           "are the failed ones.",),
)

TGI = Adapter(
    "tgi", ENGINE, Labels(model=("model", "=unknown"), provider=("=tgi",), app_id=(), department=()),
    requests=Series.of("tgi_request_count"),
    errors=Series.of("tgi_request_failure"),
    duration=Series.of("tgi_request_duration"),
    input_tokens=Series.of("tgi_request_input_length", suffix="_sum"),
    output_tokens=Series.of("tgi_request_generated_tokens", suffix="_sum"),
    running=Series.of("tgi_batch_current_size"), waiting=Series.of("tgi_queue_size"),
    notes=("TGI exposes no model label: set `model` in its target file (prometheus/targets/tgi.yml.example).",
           "No time-to-first-token metric. tgi_request_mean_time_per_token_duration includes the wait for "
           "the first token, so it is not mapped to time per output token.",),
)

NIM = Adapter(
    "nim", ENGINE, Labels(model=("model_name",), provider=("=nim",), app_id=(), department=()),
    requests=Series.of("request_finish_total", matchers='model_name!=""'),
    errors=Series.of("request_failure_total", matchers='model_name!=""'),
    duration=Series.of("e2e_request_latency_seconds", matchers='model_name!=""'),
    ttft=Series.of("time_to_first_token_seconds", matchers='model_name!=""'),
    tpot=Series.of("time_per_output_token_seconds", matchers='model_name!=""'),
    input_tokens=Series.of("prompt_tokens_total", matchers='model_name!=""'),
    output_tokens=Series.of("generation_tokens_total", matchers='model_name!=""'),
    running=Series.of("num_requests_running", matchers='model_name!=""'),
    waiting=Series.of("num_requests_waiting", matchers='model_name!=""'),
    kv_cache=Series.of("gpu_cache_usage_perc", matchers='model_name!=""'),
    notes=("NIM 1.x names (unprefixed, read only where they carry model_name); NIM 2.x passes its "
           "engine's vllm: or sglang: names through, which those adapters read.",),
)

LITELLM = Adapter(
    "litellm", GATEWAY,
    Labels(model=("requested_model", "model_group", "model"), provider=("api_provider",),
           app_id=("api_key_alias", "hashed_api_key"), department=("team_alias", "team"), unset="None"),
    requests=Series.of("litellm_proxy_total_requests_metric_total"),
    errors=Series.of("litellm_proxy_failed_requests_metric_total"),
    duration=Series.of("litellm_request_total_latency_metric"),
    ttft=Series.of("litellm_llm_api_time_to_first_token_metric"),
    input_tokens=Series.of("litellm_input_tokens_metric_total"),
    output_tokens=Series.of("litellm_output_tokens_metric_total"),
    cost=Series.of("litellm_spend_metric_total"),
    notes=("A virtual key is an app (api_key_alias, else its hashed key), a team a department "
           "(team_alias, else team). Spend is LiteLLM's own, at LiteLLM's prices.",),
)

# OpenTelemetry GenAI, through the SDK's Prometheus exporter or Prometheus' own OTLP receiver:
# both give these names for the conventions' instruments (llm_exporter.sources.otel_genai).
_GEN_AI = Labels(model=("gen_ai_request_model", "gen_ai_response_model"),
                 provider=("gen_ai_provider_name", "gen_ai_system"), app_id=("service_name", "job"), department=())
OTEL = Adapter(
    "otel", CLIENT, _GEN_AI,
    requests=Series.of("gen_ai_client_operation_duration_seconds", suffix="_count"),
    errors=Series.of("gen_ai_client_operation_duration_seconds", suffix="_count", matchers='error_type!=""'),
    duration=Series.of("gen_ai_client_operation_duration_seconds"),
    ttft=Series.of("gen_ai_client_operation_time_to_first_chunk_seconds", "gen_ai_server_time_to_first_token_seconds"),
    tpot=Series.of("gen_ai_server_time_per_output_token_seconds"),
    input_tokens=Series.of("gen_ai_client_token_usage", suffix="_sum", matchers='gen_ai_token_type="input"'),
    output_tokens=Series.of("gen_ai_client_token_usage", suffix="_sum", matchers='gen_ai_token_type="output"'),
    cost=Series.of("gen_ai_usage_cost_USD", suffix="_sum"), cost_everywhere=False,
    notes=("The app is the service (service_name where the emitter sets it, as OpenLIT does; else the "
           "job: the OTLP receiver makes it service.name).",
           "Time to first token and time per output token where the emitter records them (OpenLIT: the "
           "conventions' time_to_first_chunk, else its gen_ai.server.* pair measured by the client); "
           "openai-v2 2.4b0 records neither.",
           "Cost only from OpenLIT's gen_ai.usage.cost; otherwise tokens × the pricing file's prices.",),
)

ADAPTERS = (CONTRACT_ADAPTER, OTEL, LITELLM, VLLM, SGLANG, TGI, NIM)


# -- GPUs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GPUAdapter:
    """GPU telemetry: each signal as a PromQL expression in the stack's units (ratio 0-1, bytes, W,
    °C) over the source's own series, and the source labels that name the GPU."""

    name: str
    utilization: str
    memory_used: str
    memory_total: str
    power: str
    temperature: str
    uuid: str = "uuid"
    gpu_name: str = "gpu_name"
    notes: tuple[str, ...] = ()

    def signals(self) -> dict[str, str]:
        return {"utilization": self.utilization, "memory_used": self.memory_used, "memory_total": self.memory_total,
                "power": self.power, "temperature": self.temperature}


CONTRACT_GPUS = GPUAdapter(
    CONTRACT, utilization=contract.GPU_UTILIZATION.name, memory_used=contract.GPU_MEMORY_USED.name,
    memory_total=contract.GPU_MEMORY_TOTAL.name, power=contract.GPU_POWER.name,
    temperature=contract.GPU_TEMPERATURE.name,
)

MIB = 1024 * 1024
DCGM = GPUAdapter(
    "dcgm",
    utilization="DCGM_FI_PROF_GR_ENGINE_ACTIVE or DCGM_FI_DEV_GPU_UTIL / 100",
    memory_used=f"DCGM_FI_DEV_FB_USED * {MIB}",
    memory_total=f"(DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) * {MIB}",
    power="DCGM_FI_DEV_POWER_USAGE",
    temperature="DCGM_FI_DEV_GPU_TEMP",
    uuid="UUID", gpu_name="modelName",
    notes=("Utilisation is DCGM_FI_PROF_GR_ENGINE_ACTIVE (graphics engine busy, 0-1) where the GPU has "
           "profiling metrics, else DCGM_FI_DEV_GPU_UTIL / 100.",
           "Memory is reported in MiB; installed memory is used + free."),
)

GPU_ADAPTERS = (CONTRACT_GPUS, DCGM)

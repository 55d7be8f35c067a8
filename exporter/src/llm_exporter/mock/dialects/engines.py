"""The inference engines' dialects: the mock's self-hosted calls as vLLM, SGLang, TGI and NIM show them.

Each engine page shows every self-hosted call that reached the engine, as if that engine served
the model (a real deployment runs one of them). What reaches it: successes, and the failures that
happen inside an engine (server_error, timeout: see calls.ENGINE_FINISH). The mock knows the time to
first token and the per-token time only for streamed calls, so only those feed TTFT and inter-token
histograms; the engines themselves would record them for every call.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...sources import Source, nim, sglang, tgi, vllm
from ..fleet import ENGINE
from .calls import STOPPED, SeenCall
from .store import Store, le_python, le_rust

Active = Mapping[tuple[str, str], int]  # calls in flight by (provider, model), from the recorder
# The simulated KV cache holds this many calls' contexts: usage is the share of it that calls in
# flight fill (a real engine's usage depends on context lengths and its block size).
KV_CACHE_CALLS = 64


class Engine:
    """Shared by the engine dialects: the layer they serve, the models they have seen, and the rule
    that a call the engine never saw (calls.ENGINE_FINISH) is not recorded."""

    layer = ENGINE
    source: Source
    le = staticmethod(le_python)  # how the source prints bucket edges (le_rust for TGI)

    def __init__(self) -> None:
        self.store = Store(self.source, self.le)
        self.models: set[str] = set()

    def observe(self, call: SeenCall) -> None:
        finish = call.engine_finish()
        if finish is not None:
            self.models.add(call.model)
            self.record(call, finish)

    def record(self, call: SeenCall, finish: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def running(self, active: Active) -> dict[str, int]:
        """Calls in flight per model this engine has served."""
        counts = dict.fromkeys(self.models, 0)
        for (_, model), n in active.items():
            if model in counts:
                counts[model] += n
        return counts

    @staticmethod
    def kv_cache_usage(running: int) -> float:
        """The share of the simulated KV cache that `running` calls fill, 0..1."""
        return min(1.0, running / KV_CACHE_CALLS)


class Vllm(Engine):
    """vLLM v0.33.0: request_success_total counts every finished request by finished_reason."""

    source = vllm.SOURCE
    FINISH_REASONS = ("stop", "length", "abort", "error", "repetition")

    def record(self, call: SeenCall, finish: str) -> None:
        s, labels = self.store, {"model_name": call.model, "engine": "0"}
        s.inc("vllm:request_success_total", {**labels, "finished_reason": finish})
        s.inc("vllm:prompt_tokens_total", labels, call.input_tokens)
        s.inc("vllm:generation_tokens_total", labels, call.output_tokens)
        s.observe("vllm:request_prompt_tokens", labels, call.input_tokens)
        s.observe("vllm:request_generation_tokens", labels, call.output_tokens)
        s.observe("vllm:e2e_request_latency_seconds", labels, call.duration_s)
        if call.ttft_s is not None:
            s.observe("vllm:time_to_first_token_seconds", labels, call.ttft_s)
        if call.tpot_s is not None:
            s.observe("vllm:inter_token_latency_seconds", labels, call.tpot_s, call.output_tokens - 1)
            s.observe("vllm:request_time_per_output_token_seconds", labels, call.tpot_s)

    def refresh(self, active: Active) -> None:
        for model, n in self.running(active).items():
            labels = {"model_name": model, "engine": "0"}
            for reason in self.FINISH_REASONS:  # vLLM creates every finish reason's series up front
                self.store.inc("vllm:request_success_total", {**labels, "finished_reason": reason}, 0)
            self.store.set("vllm:num_requests_running", labels, n)
            self.store.set("vllm:num_requests_waiting", labels, 0)
            self.store.set("vllm:kv_cache_usage_perc", labels, self.kv_cache_usage(n))


class Nim(Engine):
    """NIM for LLMs 1.x names: success (stop, length) and failure (anything else) counters."""

    source = nim.SOURCE

    def record(self, call: SeenCall, finish: str) -> None:
        s, labels = self.store, {"model_name": call.model}
        s.inc("request_success_total" if finish in STOPPED else "request_failure_total", labels)
        s.inc("request_finish_total", {**labels, "finished_reason": finish})
        s.inc("prompt_tokens_total", labels, call.input_tokens)
        s.inc("generation_tokens_total", labels, call.output_tokens)
        s.observe("e2e_request_latency_seconds", labels, call.duration_s)
        if call.ttft_s is not None:
            s.observe("time_to_first_token_seconds", labels, call.ttft_s)
        if call.tpot_s is not None:
            s.observe("time_per_output_token_seconds", labels, call.tpot_s, call.output_tokens - 1)

    def refresh(self, active: Active) -> None:
        for model, n in self.running(active).items():
            self.store.set("num_requests_running", {"model_name": model}, n)
            self.store.set("num_requests_waiting", {"model_name": model}, 0)
            self.store.set("gpu_cache_usage_perc", {"model_name": model}, self.kv_cache_usage(n))


class Sglang(Engine):
    """SGLang v0.5.23: aborted requests count in num_requests_total and in num_aborted_requests_total."""

    source = sglang.SOURCE

    def record(self, call: SeenCall, finish: str) -> None:
        s = self.store
        labels = {"model_name": call.model, "engine_type": "unified"}
        streamed = {**labels, "is_streaming": "true" if call.streaming else "false"}
        s.inc("sglang:num_requests_total", streamed)
        if finish not in STOPPED:
            s.inc("sglang:num_aborted_requests_total", labels)
        s.inc("sglang:prompt_tokens_total", streamed, call.input_tokens)
        s.inc("sglang:generation_tokens_total", streamed, call.output_tokens)
        s.observe("sglang:e2e_request_latency_seconds", streamed, call.duration_s)
        if call.ttft_s is not None:
            s.observe("sglang:time_to_first_token_seconds", streamed, call.ttft_s)
        if call.tpot_s is not None:
            s.observe("sglang:inter_token_latency_seconds", labels, call.tpot_s, call.output_tokens - 1)
            s.observe("sglang:request_time_per_output_token_seconds", streamed, call.tpot_s)

    def refresh(self, active: Active) -> None:
        for model, n in self.running(active).items():
            labels = {"model_name": model, "engine_type": "unified", "tp_rank": "0", "pp_rank": "0",
                      "moe_ep_rank": "0"}
            self.store.set("sglang:num_running_reqs", labels, n)
            self.store.set("sglang:num_queue_reqs", labels, 0)
            self.store.set("sglang:token_usage", labels, self.kv_cache_usage(n))


TGI_ERR = {"error": "generation", "abort": "dropped"}  # backends/v3/src/backend.rs:545, :439 @ v3.3.7


class Tgi(Engine):
    """TGI v3.3.7: no model label, bare counter names, failures by `err`."""

    source = tgi.SOURCE

    le = staticmethod(le_rust)

    def record(self, call: SeenCall, finish: str) -> None:
        s = self.store
        s.inc("tgi_request_count", {})
        s.observe("tgi_request_input_length", {}, call.input_tokens)
        if finish not in STOPPED:
            s.inc("tgi_request_failure", {"err": TGI_ERR[finish]})
            return
        s.inc("tgi_request_success", {})
        s.observe("tgi_request_duration", {}, call.duration_s)
        s.observe("tgi_request_inference_duration", {}, call.duration_s)
        s.observe("tgi_request_mean_time_per_token_duration", {}, call.duration_s / max(call.output_tokens, 1))
        s.observe("tgi_request_generated_tokens", {}, call.output_tokens)

    def refresh(self, active: Active) -> None:
        self.store.set("tgi_queue_size", {}, 0)
        self.store.set("tgi_batch_current_size", {}, sum(self.running(active).values()))

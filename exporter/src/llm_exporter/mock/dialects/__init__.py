"""The mock fleet in other projects' words: one page per source, GET /sources/<name>/metrics.

The exporter's own page (/metrics) speaks the llm_* contract. A dialect renders the same simulated
calls the way another project would expose them, with the names, types, labels, units and buckets
recorded in llm_exporter.sources, so adapter rules and dashboards can be built and tested against
what vLLM, SGLang, TGI, NIM, LiteLLM, the OpenTelemetry SDK and dcgm-exporter really emit.

The fleet has layers (mock/fleet.py `serving_layers`): every call passes through the gateway
(LiteLLM; the OpenTelemetry-instrumented client sees it too), and calls to a self-hosted model are
then served by an engine (vLLM, SGLang, TGI, NIM: each page shows them as if that engine served the
model). So the LiteLLM page and the vLLM page count the same self-hosted requests: the
"gateway in front of an engine" setup. dcgm-exporter reads the mock GPUs when scraped.

State is bounded like the contract's: labels are the recorder's sanitised ones, and past the
recorder's --max-label-sets distinct (provider, model, app_id, department) sets, calls are kept
under the all-"other" set. The listener runs on the one recording path (Recorder.record).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from ...config import Budgets
from ...recorder import GPUSource, RecordedCall, Recorder
from ...sources import Source
from ..fleet import serving_layers
from .calls import LabelSets, SeenCall
from .engines import Active, Nim, Sglang, Tgi, Vllm
from .gateway import LiteLLM, Otel
from .gpus import Dcgm
from .store import Store

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


class Dialect(Protocol):
    source: Source
    layer: str
    store: Store

    def observe(self, call: SeenCall) -> None: ...

    def refresh(self, active: Active) -> None: ...


class UnknownDialectError(KeyError):
    def __init__(self, name: str, valid: list[str]) -> None:
        super().__init__(name)
        self.message = f"no dialect {name!r}; valid: {', '.join(valid)}"


class Dialects:
    """Every dialect's state, fed by a Recorder listener and rendered on request."""

    def __init__(self, recorder: Recorder, budgets: Budgets, gpus: GPUSource | None,
                 clock: Callable[[], float] = time.time) -> None:
        self._recorder = recorder
        self._lock = threading.Lock()
        self._label_sets = LabelSets(recorder.max_label_sets)
        dialects: list[Dialect] = [Vllm(), Sglang(), Tgi(), Nim(), LiteLLM(budgets, clock), Otel(), Dcgm(gpus)]
        self.by_name: dict[str, Dialect] = {d.source.name: d for d in dialects}
        recorder.listeners.append(self.observe)

    def observe(self, recorded: RecordedCall) -> None:
        layers = serving_layers(recorded.call.model)
        with self._lock:
            labels = self._label_sets.bound((recorded.provider, recorded.model, recorded.app_id, recorded.department))
            call = SeenCall.of(recorded, labels)
            for dialect in self.by_name.values():
                if dialect.layer in layers:
                    dialect.observe(call)

    def render(self, name: str) -> bytes:
        """The named dialect's page (text format 0.0.4); UnknownDialectError for an unknown name."""
        dialect = self.by_name.get(name)
        if dialect is None:
            raise UnknownDialectError(name, sorted(self.by_name))
        active = self._recorder.active_requests()
        with self._lock:
            dialect.refresh(active)
            return dialect.store.render()

    def index(self) -> dict[str, dict[str, str]]:
        """What each page imitates: project, pinned version, and the path the real thing serves."""
        return {name: {"path": f"/sources/{name}/metrics", "project": d.source.project, "version": d.source.version,
                       "layer": d.layer, "real_metrics_path": d.source.metrics_path}
                for name, d in self.by_name.items()}

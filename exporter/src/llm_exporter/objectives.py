"""The objectives file: what "good" means per model and per app, exposed as `llm_objective_*`.

    default:                       # every pair without a more specific objective
      latency_p95_seconds: 10
    models:
      claude-opus-4:               # every app's calls to this model
        latency_p95_seconds: 40
    apps:
      research-agent:              # this app's calls to every model
        latency_p95_seconds: 60
        models:
          claude-opus-4:           # this app's calls to this model: the most specific level
            latency_p95_seconds: 90

Each level sets any of the five objectives (keys below); the Prometheus rules give every
(app, model) pair the most specific value that exists, then their built-in defaults. The series
carry `app_id` and `model`, empty on the broader levels, so one gauge family per objective holds
every level. A bad file stops start-up naming the file, the key and the problem.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric
from pydantic import BaseModel, ConfigDict, Field

from . import contract
from .config import ConfigError, _validate
from .labels import sanitise

_SECONDS = {"gt": 0, "allow_inf_nan": False}
_RATIO = {"gt": 0, "lt": 1, "allow_inf_nan": False}


class ObjectiveValues(BaseModel):
    """The objectives one level sets; a key left out falls through to the next broader level."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_p95_seconds: float | None = Field(None, **_SECONDS, description="P95 end-to-end latency")
    ttft_p95_seconds: float | None = Field(None, **_SECONDS, description="P95 time to first token")
    tpot_p95_seconds: float | None = Field(None, **_SECONDS, description="P95 time per output token")
    error_ratio: float | None = Field(None, **_RATIO, description="largest share of failed calls over 5 minutes")
    availability_ratio: float | None = Field(None, **_RATIO, description="availability SLO target over 30 days")

    def values(self) -> dict[str, float]:
        return {key: value for key, value in self.model_dump().items() if value is not None and key != "models"}


class AppObjectives(ObjectiveValues):
    models: dict[str, ObjectiveValues] = Field(default_factory=dict)


class ObjectivesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default: ObjectiveValues = Field(default_factory=ObjectiveValues)
    models: dict[str, ObjectiveValues] = Field(default_factory=dict)
    apps: dict[str, AppObjectives] = Field(default_factory=dict)


@dataclass(frozen=True)
class Objective:
    """One value of one level: `app_id` and `model` are "" where the level does not name them."""

    key: str
    app_id: str
    model: str
    value: float


def _levels(parsed: ObjectivesFile) -> Iterator[tuple[str, str, str, ObjectiveValues]]:
    """(where in the file, app_id, model, values) for every level the file sets."""
    yield "default", "", "", parsed.default
    for model, values in parsed.models.items():
        yield f"models.{model}", "", model, values
    for app, app_values in parsed.apps.items():
        yield f"apps.{app}", app, "", app_values
        for model, values in app_values.models.items():
            yield f"apps.{app}.models.{model}", app, model, values


def load_objectives(path: Path | str) -> tuple[Objective, ...]:
    """Every objective the file sets, validated; raises ConfigError naming the file and key."""
    parsed: ObjectivesFile = _validate(ObjectivesFile, Path(path))
    objectives = []
    for where, app_id, model, values in _levels(parsed):
        for name in (app_id, model):
            if name and sanitise(name) != name:
                raise ConfigError(path, where, f"{name!r} is not a label value as recorded (it would be recorded "
                                               f"as {sanitise(name)!r}): use the recorded name")
        if not values.values() and where != "default" and not getattr(values, "models", None):
            raise ConfigError(path, where, "sets no objective (keys: " + ", ".join(KEYS) + ")")
        objectives += [Objective(key, app_id, model, value) for key, value in values.values().items()]
    return tuple(objectives)


SPECS = {spec.name.removeprefix(contract.OBJECTIVE_PREFIX): spec for spec in contract.OBJECTIVE_METRICS}
KEYS = tuple(SPECS)


class ObjectivesCollector:
    """Exposes the loaded objectives (register with a prometheus_client CollectorRegistry)."""

    def __init__(self, objectives: tuple[Objective, ...]) -> None:
        self.objectives = objectives

    def describe(self) -> tuple[()]:
        return ()

    def collect(self) -> Iterator[Metric]:
        for key, spec in SPECS.items():
            family = GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)
            for objective in self.objectives:
                if objective.key == key:
                    family.add_metric([objective.app_id, objective.model], objective.value)
            yield family

"""Pricing and budget files: loaded once at start-up, validated, and rejected loudly.

A wrong price silently skews every cost panel, so a bad file stops start-up with a message that
names the file, the key and the problem instead of falling back to defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
MAX_RESOLVED_MODELS = 4096


class ConfigError(Exception):
    """A configuration file is missing or invalid; the message is meant for the operator."""

    def __init__(self, path: Path | str, key: str, problem: str) -> None:
        self.path, self.key, self.problem = str(path), key, problem
        super().__init__(f"{path}: {key}: {problem}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelPrice(_Strict):
    input: float = Field(ge=0, allow_inf_nan=False, description="USD per 1M input tokens")
    output: float = Field(ge=0, allow_inf_nan=False, description="USD per 1M output tokens")


class PricingFile(_Strict):
    currency: str = Field(pattern="^USD$")
    as_of: str
    models: dict[str, ModelPrice] = Field(min_length=1)


class DepartmentBudget(_Strict):
    daily: float = Field(gt=0, allow_inf_nan=False)
    monthly: float = Field(gt=0, allow_inf_nan=False)


class BudgetsFile(_Strict):
    currency: str = Field(pattern="^USD$")
    departments: dict[str, DepartmentBudget] = Field(min_length=1)


@dataclass(frozen=True)
class Pricing:
    """Per-model prices. `cost()` returns None for an unknown model: unpriced is not free."""

    prices: dict[str, ModelPrice]
    # model name -> price (or None): the prefix search runs once per name, not once per call
    _resolved: dict[str, ModelPrice | None] = field(default_factory=dict, repr=False, compare=False)

    def price_for(self, model: str) -> ModelPrice | None:
        """Exact name first, then the longest priced prefix followed by '-' (dated snapshots such as
        gpt-4o-2024-08-06 price as gpt-4o)."""
        if model in self.prices:
            return self.prices[model]
        if model in self._resolved:
            return self._resolved[model]
        best = max((name for name in self.prices if model.startswith(name + "-")), key=len, default=None)
        price = self.prices[best] if best else None
        if len(self._resolved) < MAX_RESOLVED_MODELS:  # callers choose model names: stay bounded
            self._resolved[model] = price
        return price

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        price = self.price_for(model)
        if price is None:
            return None
        return (input_tokens * price.input + output_tokens * price.output) / 1_000_000


@dataclass(frozen=True)
class Budgets:
    departments: dict[str, DepartmentBudget]


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "(file)", "file not found") from None
    except OSError as exc:
        raise ConfigError(path, "(file)", f"cannot be read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(document)"
        raise ConfigError(path, where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None


def _validate(model: type[BaseModel], path: Path) -> Any:
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(path, "(document)", "expected a mapping at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(document)"
        raise ConfigError(path, key, first["msg"]) from None


def load_pricing(path: Path | str) -> Pricing:
    parsed: PricingFile = _validate(PricingFile, Path(path))
    return Pricing(prices=dict(parsed.models))


def load_budgets(path: Path | str) -> Budgets:
    parsed: BudgetsFile = _validate(BudgetsFile, Path(path))
    for name, budget in parsed.departments.items():
        if budget.monthly < budget.daily:
            raise ConfigError(path, f"departments.{name}.monthly", "monthly budget is smaller than the daily budget")
    return Budgets(departments=dict(parsed.departments))

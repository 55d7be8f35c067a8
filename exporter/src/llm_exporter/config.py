"""Pricing and budget files: loaded once at start-up, validated, and rejected loudly.

A wrong price silently skews every cost panel, so a bad file stops start-up with a message that
names the file, the key and the problem instead of falling back to defaults.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .pricing import MAX_RESOLVED_MODELS, ModelPrice, Pricing

__all__ = ["MAX_RESOLVED_MODELS", "Budgets", "ConfigError", "ModelPrice", "Pricing", "default_config_file",
           "load_budgets", "load_pricing"]

DEFAULTS_PACKAGE = "llm_exporter.defaults"  # exporter/config/, shipped in the wheel under this name
CURRENCY = "USD"


def default_config_file(name: str) -> Path:
    """The packaged default `pricing.yaml` or `budgets.yaml` (in a checkout: exporter/config/)."""
    return Path(str(resources.files(DEFAULTS_PACKAGE).joinpath(name)))


class ConfigError(Exception):
    """A configuration file is missing or invalid; the message is meant for the operator."""

    def __init__(self, path: Path | str, key: str, problem: str) -> None:
        self.path, self.key, self.problem = str(path), key, problem
        super().__init__(f"{path}: {key}: {problem}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _usd(value: str) -> str:
    if value != CURRENCY:
        raise ValueError(f"unknown currency {value!r}: amounts are in {CURRENCY}, the only currency supported")
    return value


class PriceSource(_Strict):
    url: str = Field(min_length=1)
    as_of: datetime.date


class PricingFile(_Strict):
    currency: str
    as_of: datetime.date
    sources: dict[str, PriceSource] = {}
    models: dict[str, ModelPrice] = Field(min_length=1)

    _currency = field_validator("currency")(_usd)


class DepartmentBudget(_Strict):
    daily: float = Field(gt=0, allow_inf_nan=False)
    monthly: float = Field(gt=0, allow_inf_nan=False)


class BudgetsFile(_Strict):
    currency: str
    departments: dict[str, DepartmentBudget] = Field(min_length=1)

    _currency = field_validator("currency")(_usd)


@dataclass(frozen=True)
class Budgets:
    departments: dict[str, DepartmentBudget]


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key repeated in one mapping is an error (PyYAML keeps
    the last value silently: a duplicated model would be priced by whichever entry came last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key]})", key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "(file)", "file not found") from None
    except OSError as exc:
        raise ConfigError(path, "(file)", f"cannot be read: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(document)"
        problem = getattr(exc, "problem", None) or exc
        kind = "" if str(problem).startswith("duplicate key") else "not valid YAML: "
        raise ConfigError(path, where, f"{kind}{problem}") from None


def _validate(model: type[BaseModel], path: Path) -> Any:
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(path, "(document)", "expected a mapping at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()  # an unknown field first: a misspelt one is also reported missing
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        key = ".".join(str(part) for part in first["loc"]) or "(document)"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(path, key, message) from None


def load_pricing(path: Path | str) -> Pricing:
    """The validated pricing file (docs/pricing.md); ConfigError naming the file and key otherwise."""
    path = Path(path)
    parsed: PricingFile = _validate(PricingFile, path)
    owner: dict[str, str] = {name: f"the model models.{name}" for name in parsed.models}
    for name, price in parsed.models.items():
        if price.source is not None and price.source not in parsed.sources:
            raise ConfigError(path, f"models.{name}.source",
                              f"{price.source!r} is not one of the file's sources: {', '.join(parsed.sources)}")
        for alias in price.aliases:
            if alias in owner:
                raise ConfigError(path, f"models.{name}.aliases",
                                  f"{alias!r} already names {owner[alias]}: an alias must name one model only")
            owner[alias] = f"an alias of models.{name}"
    return Pricing(dict(parsed.models))


def load_budgets(path: Path | str) -> Budgets:
    parsed: BudgetsFile = _validate(BudgetsFile, Path(path))
    for name, budget in parsed.departments.items():
        if budget.monthly < budget.daily:
            raise ConfigError(path, f"departments.{name}.monthly", "monthly budget is smaller than the daily budget")
    return Budgets(departments=dict(parsed.departments))

"""Model prices and the one rule that decides which price a model name gets.

A model name is priced by, in this order:

1. its exact name in the pricing file;
2. a declared alias (`aliases:` of a priced model);
3. a snapshot of a priced name or alias, in one of the providers' documented forms:

   | suffix                  | example                        | provider (documentation)                   |
   |-------------------------|--------------------------------|--------------------------------------------|
   | `-YYYY-MM-DD`           | `gpt-4o-2024-08-06`            | OpenAI model snapshots                     |
   | `-YYYYMMDD`             | `claude-3-5-sonnet-20241022`   | Anthropic model ids                        |
   | `@YYYYMMDD`             | `claude-sonnet-4@20250514`     | Anthropic models on Google Vertex AI       |
   | `-MMDD`                 | `gpt-4-0613`                   | OpenAI (older snapshots)                   |
   | `-YYMM`                 | `mistral-large-2411`           | Mistral model versions                     |
   | `-NNN`                  | `gemini-1.5-pro-002`           | Google stable Gemini versions              |
   | `-latest`               | `claude-3-5-haiku-latest`      | Anthropic, Google and Mistral aliases      |

Anything else is unpriced: `o3-pro` is not `o3`, `gpt-4o-mini-typo` is not `gpt-4o-mini`, and
`gpt-4o-realtime-preview` is not `gpt-4o`. An unpriced call is counted in
llm_unpriced_requests_total{model} and logged once; its cost is never taken as zero. A snapshot
billed differently from its base name (gpt-4o-2024-05-13) gets its own entry: exact names win.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from . import contract
from .tokens import TokenDetails

MAX_RESOLVED_MODELS = 4096
PER_MILLION = 1_000_000

_SNAPSHOT = re.compile(
    r"^(?P<base>.+?)(?:"
    r"-(?P<iso>\d{4}-\d{2}-\d{2})"  # OpenAI
    r"|[-@](?P<compact>\d{8})"  # Anthropic; Vertex AI's @ form
    r"|-(?P<four>\d{4})"  # OpenAI MMDD, Mistral YYMM
    r"|-(?P<three>\d{3})"  # Google stable versions
    r"|-latest"  # moving aliases
    r")$"
)


def _is_date(text: str) -> bool:
    """YYYY-MM-DD or YYYYMMDD naming a real day."""
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_month_day_or_year_month(digits: str) -> bool:
    """MMDD (OpenAI's older snapshots) or YYMM (Mistral's versions)."""
    first, last = int(digits[:2]), int(digits[2:])
    return (1 <= first <= 12 and 1 <= last <= 31) or 1 <= last <= 12


def snapshot_base(model: str) -> str | None:
    """The priced name a snapshot name stands for (`gpt-4o-2024-08-06` -> `gpt-4o`), or None when
    `model` does not end in one of the documented snapshot suffixes (see the module docstring)."""
    match = _SNAPSHOT.match(model)
    if match is None:
        return None
    date = match["iso"] or match["compact"]
    if date and not _is_date(date):
        return None
    if match["four"] and not _is_month_day_or_year_month(match["four"]):
        return None
    return match["base"]


class ModelPrice(BaseModel):
    """One model's prices in USD per 1M tokens (`input`, `output`, and optionally one per token
    class), its aliases, where the prices come from, and for self-hosted models the GPU-hour cost."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0, allow_inf_nan=False, description="USD per 1M input tokens")
    output: float = Field(ge=0, allow_inf_nan=False, description="USD per 1M output tokens")
    cached_input: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    cache_write_input: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    audio_input: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    reasoning_output: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    audio_output: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    aliases: tuple[str, ...] = ()
    source: str | None = None  # a key of the file's `sources:`
    gpu_hour_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False,
                                       description="self-hosted: USD per GPU per hour")
    gpus: int = Field(default=1, ge=1, description="self-hosted: GPUs serving the model")

    def cost(self, input_tokens: int, output_tokens: int, details: TokenDetails | None = None) -> float:
        """USD for one call. Each token class with a price of its own is billed at it, the rest of
        its direction at the direction's base price; a class never bills more tokens than its
        direction's total holds."""
        if details is None:
            return (input_tokens * self.input + output_tokens * self.output) / PER_MILLION
        remaining = {"input": input_tokens, "output": output_tokens}
        total = 0.0
        for name, count in details.items():
            price = getattr(self, name)
            if price is None:
                continue
            direction = contract.TOKEN_CLASSES[name]
            billed = min(count, remaining[direction])
            remaining[direction] -= billed
            total += billed * price
        total += remaining["input"] * self.input + remaining["output"] * self.output
        return total / PER_MILLION

    def per_token(self) -> list[tuple[str, float]]:
        """(direction, USD per token) for the base prices and each class priced on its own."""
        prices = [("input", self.input), ("output", self.output)]
        prices += [(name, getattr(self, name)) for name in contract.TOKEN_CLASSES if getattr(self, name) is not None]
        return [(direction, usd / PER_MILLION) for direction, usd in prices]

    @property
    def self_hosted_usd_per_hour(self) -> float | None:
        return None if self.gpu_hour_usd is None else self.gpu_hour_usd * self.gpus


@dataclass(frozen=True)
class Pricing:
    """Prices by model name. `price_for()` applies the matching rule of the module docstring;
    `cost()` returns None for an unpriced model: unpriced is not free."""

    prices: dict[str, ModelPrice]
    # alias -> the priced name it stands for, from each ModelPrice's `aliases` (load_pricing
    # refuses an alias that clashes with a name or another alias)
    aliases: dict[str, str] = field(init=False, repr=False, compare=False)
    # model name -> price (or None): the snapshot rule runs once per name, not once per call
    _resolved: dict[str, ModelPrice | None] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        aliases = {alias: name for name, price in self.prices.items() for alias in price.aliases}
        object.__setattr__(self, "aliases", aliases)

    def _named(self, name: str) -> ModelPrice | None:
        price = self.prices.get(name)
        if price is None and name in self.aliases:
            price = self.prices[self.aliases[name]]
        return price

    def price_for(self, model: str) -> ModelPrice | None:
        price = self.prices.get(model)
        if price is not None:
            return price
        if model in self._resolved:
            return self._resolved[model]
        price = self._named(model)
        if price is None:
            base = snapshot_base(model)
            price = self._named(base) if base else None
        if len(self._resolved) < MAX_RESOLVED_MODELS:  # callers choose model names: stay bounded
            self._resolved[model] = price
        return price

    def cost(self, model: str, input_tokens: int, output_tokens: int,
             details: TokenDetails | None = None) -> float | None:
        price = self.price_for(model)
        if price is None:
            return None
        return price.cost(input_tokens, output_tokens, details)

    def priced_names(self) -> list[tuple[str, ModelPrice]]:
        """Every name with a price of its own: the priced models, then their aliases."""
        return [*self.prices.items(), *((alias, self.prices[name]) for alias, name in self.aliases.items())]

"""What a model call costs: USD per million input and output tokens, per model. Pure.

The defaults are list prices at the time of writing and will drift; a team sets its
own in the config file, which wins::

    [prices."claude-sonnet-4-20250514"]
    input = 3.0     # USD per million input tokens
    output = 15.0   # USD per million output tokens

Models are matched by exact name (after an optional ``provider:`` prefix): guessing a
price from a similar name would put a wrong number on a gate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from promptdeck.errors import ValidationError

PROVIDER_PREFIXES = ("anthropic:", "openai:")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    input: float  # USD per million input tokens
    output: float  # USD per million output tokens


_DEFAULTS: dict[str, ModelPrice] = {
    "claude-3-haiku-20240307": ModelPrice(0.25, 1.25),
    "claude-3-5-haiku-20241022": ModelPrice(0.80, 4.0),
    "claude-3-5-sonnet-20241022": ModelPrice(3.0, 15.0),
    "claude-3-7-sonnet-20250219": ModelPrice(3.0, 15.0),
    "claude-sonnet-4-20250514": ModelPrice(3.0, 15.0),
    "claude-opus-4-20250514": ModelPrice(15.0, 75.0),
    "gpt-4o": ModelPrice(2.50, 10.0),
    "gpt-4o-mini": ModelPrice(0.15, 0.60),
    "gpt-4.1": ModelPrice(2.0, 8.0),
    "gpt-4.1-mini": ModelPrice(0.40, 1.60),
    "gpt-4.1-nano": ModelPrice(0.10, 0.40),
}


def bare_model(model: str) -> str:
    """The model name without an explicit ``provider:`` prefix."""
    for prefix in PROVIDER_PREFIXES:
        if model.startswith(prefix):
            return model[len(prefix) :]
    return model


@dataclass(frozen=True, slots=True)
class PriceTable:
    prices: Mapping[str, ModelPrice] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def default(cls) -> PriceTable:
        return cls(MappingProxyType(dict(_DEFAULTS)))

    def price(self, model: str) -> ModelPrice | None:
        return self.prices.get(bare_model(model))

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        """USD for one call, or None when the model has no price."""
        price = self.price(model)
        if price is None:
            return None
        return (input_tokens * price.input + output_tokens * price.output) / 1_000_000

    def with_overrides(self, overrides: Mapping[str, ModelPrice]) -> PriceTable:
        return PriceTable(MappingProxyType({**self.prices, **overrides}))

    @classmethod
    def from_config(cls, table: object, source: str = "config") -> PriceTable:
        """The defaults with the config file's ``[prices."model"]`` tables on top."""
        return cls.default().with_overrides(parse_prices(table, source))


def parse_prices(table: object, source: str = "config") -> dict[str, ModelPrice]:
    """``{model: {input: x, output: y}}`` validated; None (no table) is empty."""
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise ValidationError(f"{source}: 'prices' must be a table of models")
    prices: dict[str, ModelPrice] = {}
    for model, entry in table.items():
        where = f'{source}: [prices."{model}"]'
        if not isinstance(entry, Mapping):
            raise ValidationError(f"{where} must be a table with input and output")
        unknown = sorted(set(entry) - {"input", "output"})
        if unknown:
            raise ValidationError(f"{where}: unknown key '{unknown[0]}' (known: input, output)")
        values = []
        for key in ("input", "output"):
            value = entry.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValidationError(f"{where}: '{key}' must be a number (USD per million tokens)")
            if value < 0 or not math.isfinite(value):
                raise ValidationError(f"{where}: '{key}' must be zero or more, not {value}")
            values.append(float(value))
        prices[bare_model(str(model))] = ModelPrice(values[0], values[1])
    return prices

"""The immutable values the runtime serves: a Prompt, one feature's Served pair, the State.

Kept apart from runtime.py so that the snapshot format (runtime_snapshot.py) and the
client share them without importing each other.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

from promptdeck.records import ServingEntry, Version
from promptdeck.templates import find_variables, render

__all__ = ["Prompt", "Served", "Source", "State", "served_from"]

Source = Literal["store", "snapshot", "empty"]

_SCALARS = (str, int, float, bool, type(None))


def _freeze(value: Any) -> Any:
    """A read-only deep copy: mappings become MappingProxyType, lists become tuples."""
    if isinstance(value, _SCALARS):  # JSON scalars are immutable: no copy (hot path)
        return value
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return copy.deepcopy(value)


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Prompt:
    """One version of a feature's prompt, as served. Immutable.

    ``parameters`` is a read-only mapping (nested mappings read-only too, lists become
    tuples); :meth:`parameters_dict` gives a plain, mutable copy to pass to an API client.
    ``variables`` are the ``{{names}}`` the prompt uses, in order of first use.
    ``canary`` tells whether this is the canary version served to a share of users.
    ``version`` is 0 for a prompt built from ``get(..., default="...")``.
    ``uid`` is the version's unique id in the store (what outcomes are recorded
    against); "" for a default prompt, which is never recorded.

    To pass a full default (model and parameters included), build one yourself:
    ``Prompt("customer-support", 0, "claude-sonnet-4-20250514", {"max_tokens": 900},
    "You are ...")``.
    """

    feature: str
    version: int
    model: str
    parameters: Mapping[str, Any] = field(hash=False)
    system_prompt: str
    canary: bool = False
    uid: str = ""
    # Found on first use: loading 10,000 prompts should not scan 10,000 texts.
    _variables: tuple[str, ...] | None = field(
        init=False, default=None, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", _freeze(self.parameters))

    @property
    def variables(self) -> tuple[str, ...]:
        found = self._variables
        if found is None:
            found = find_variables(self.system_prompt)
            object.__setattr__(self, "_variables", found)
        return found

    def render(self, /, **values: object) -> str:
        """The system prompt with every ``{{variable}}`` filled in.

        A missing variable raises :class:`~promptdeck.errors.TemplateError` naming it:
        a prompt is never sent with a hole in it. Extra values are ignored.
        """
        return render(self.system_prompt, values)

    def parameters_dict(self) -> dict[str, Any]:
        """A plain, mutable deep copy of ``parameters`` (JSON-serialisable)."""
        result: dict[str, Any] = _thaw(self.parameters)
        return result


def _prompt(version: Version, *, canary: bool = False) -> Prompt:
    return Prompt(
        feature=version.feature,
        version=version.number,
        model=version.model,
        parameters=version.parameters,
        system_prompt=version.system_prompt,
        canary=canary,
        uid=version.uid,
    )


@dataclass(frozen=True, slots=True)
class Served:
    """What one feature serves: never mutated once built."""

    active: Prompt | None
    canary: Prompt | None
    percent: int
    revision: int


def served_from(entry: ServingEntry) -> Served:
    canary = entry.canary if entry.canary_percent > 0 else None
    return Served(
        active=_prompt(entry.active) if entry.active is not None else None,
        canary=_prompt(canary, canary=True) if canary is not None else None,
        percent=entry.canary_percent if canary is not None else 0,
        revision=entry.revision,
    )


@dataclass(frozen=True, slots=True)
class State:
    """Everything get() reads, swapped as a whole; ``entries`` is never mutated."""

    revision: int
    entries: Mapping[str, Served]
    source: Source
    at: datetime | None  # when this content was loaded from the store

"""The immutable values the runtime serves: a Prompt, one feature's Served pair, the State.

Kept apart from runtime.py so that the snapshot format (runtime_snapshot.py) and the
client share them without importing each other.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

from promptdeck.templates import find_variables, render

__all__ = ["Prompt", "RowDecoder", "Served", "Source", "State"]

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


@dataclass(frozen=True, slots=True)
class Served:
    """What one feature serves: never mutated once built."""

    active: Prompt | None
    canary: Prompt | None
    percent: int
    revision: int


# The slots' own setters: a Prompt built from the store's rows skips the frozen
# dataclass's __setattr__ and the copy of parameters already frozen (see _built).
_new = object.__new__
_slot_setters = tuple(
    Prompt.__dict__[name].__set__
    for name in ("feature", "version", "model", "parameters", "system_prompt", "canary", "uid")
)
_set_feature, _set_version, _set_model, _set_parameters, _set_text, _set_canary, _set_uid = (
    _slot_setters
)
_set_variables = Prompt.__dict__["_variables"].__set__


def _built(
    feature: str,
    version: int,
    model: str,
    parameters: Mapping[str, Any],
    system_prompt: str,
    canary: bool,
    uid: str,
) -> Prompt:
    """A Prompt from ``parameters`` already frozen by :func:`_freeze`, without copying
    them again: a third of the cost of ``Prompt(...)``, which counts at 10,000 features."""
    prompt: Prompt = _new(Prompt)
    _set_feature(prompt, feature)
    _set_version(prompt, version)
    _set_model(prompt, model)
    _set_parameters(prompt, parameters)
    _set_text(prompt, system_prompt)
    _set_canary(prompt, canary)
    _set_uid(prompt, uid)
    _set_variables(prompt, None)
    return prompt


def built_prompt(
    feature: str,
    version: int,
    model: str,
    parameters: dict[str, Any],
    system_prompt: str,
    canary: bool,
    uid: str,
) -> Prompt:
    """``Prompt(...)`` for the runtime's own decoders (checked values, a fresh dict of
    parameters): the same object, built in half the time."""
    return _built(feature, version, model, _freeze(parameters), system_prompt, canary, uid)


def _frozen_object(value: object, number: int) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"parameters of version {number} are not an object")
    frozen: Mapping[str, Any] = _freeze(value)
    return frozen


class RowDecoder:
    """Builds what one feature serves from a row of ``promptdeck.store.serving``.

    Parameters arrive as JSON text; most prompts of a store share a handful of
    parameter sets, so each distinct text is decoded and frozen once per decoder
    (frozen values are immutable: sharing them is safe). Use one decoder per read.
    """

    def __init__(self) -> None:
        self._parameters: dict[str, Mapping[str, Any]] = {}

    def parameters(self, text: object, number: int) -> Mapping[str, Any]:
        if not isinstance(text, str):  # a driver that decoded the JSON itself
            return _frozen_object(text, number)
        frozen = self._parameters.get(text)
        if frozen is None:
            # ValueError, RecursionError: the caller isolates the feature.
            frozen = _frozen_object(json.loads(text), number)
            self._parameters[text] = frozen
        return frozen

    def served(self, row: Sequence[Any]) -> Served:
        """``row`` as ``promptdeck.store.serving.serving_rows`` reads it: the store
        revision, feature, canary percent, deployment revision, then the active and the
        canary version as (uid, number, system_prompt, model, parameters)."""
        _, feature, percent, revision, uid, number, text, model, parameters = row[:9]
        active = None
        if uid is not None:
            frozen = self._parameters.get(parameters) if type(parameters) is str else None
            if frozen is None:
                frozen = self.parameters(parameters, number)
            active = _built(feature, number, model, frozen, text, False, uid)
        canary = None
        if row[9] is not None and percent:  # a 0 % canary serves nobody
            uid, number, text, model, parameters = row[9:14]
            frozen = self.parameters(parameters, number)
            canary = _built(feature, number, model, frozen, text, True, uid)
        return Served(active, canary, percent if canary is not None else 0, revision)


@dataclass(frozen=True, slots=True)
class State:
    """Everything get() reads, swapped as a whole; ``entries`` is never mutated."""

    revision: int
    entries: Mapping[str, Served]
    source: Source
    at: datetime | None  # when this content was loaded from the store

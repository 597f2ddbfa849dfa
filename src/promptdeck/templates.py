"""Template variables in prompt text: ``{{name}}``. Pure: no database, no UI."""

from __future__ import annotations

import re
from collections.abc import Mapping

from promptdeck.errors import TemplateError

# `{{ name }}` with optional inner spaces; names are identifiers.
VARIABLE_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def find_variables(text: str) -> tuple[str, ...]:
    """The variable names used in ``text``, in order of first use, without repeats."""
    return tuple(dict.fromkeys(match.group(1) for match in VARIABLE_RE.finditer(text)))


def variable_changes(old: str, new: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(added, removed) variable names going from ``old`` to ``new``."""
    before, after = find_variables(old), find_variables(new)
    added = tuple(name for name in after if name not in before)
    removed = tuple(name for name in before if name not in after)
    return added, removed


def render(text: str, values: Mapping[str, object]) -> str:
    """Fill every ``{{variable}}``; a missing one raises, never renders as empty."""
    missing = [name for name in find_variables(text) if name not in values]
    if missing:
        names = ", ".join(missing)
        raise TemplateError(f"missing template variable{'s' if len(missing) > 1 else ''}: {names}")
    return VARIABLE_RE.sub(lambda match: str(values[match.group(1)]), text)

"""The store's boundary checks: limits.py's, so every backend refuses the same values.

Kept as a module so ``promptdeck.store.validation`` names keep working; the limits
themselves live in limits.py (one set for the store, YAML import, the CLI and sync).
"""

from __future__ import annotations

from promptdeck.limits import (
    check_author,
    check_environment,
    check_model,
    check_name,
    check_parameters,
    check_percent,
    check_prompt,
    check_reason,
    check_timestamp,
    check_uid,
    check_user,
    check_version_number,
)

__all__ = [
    "check_author",
    "check_environment",
    "check_model",
    "check_name",
    "check_parameters",
    "check_percent",
    "check_prompt",
    "check_reason",
    "check_timestamp",
    "check_uid",
    "check_user",
    "check_version_number",
]

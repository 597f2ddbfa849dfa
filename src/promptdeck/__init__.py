"""promptdeck: versioned LLM prompts, a terminal app, sync and a runtime library.

The public API: ``Prompts`` (the runtime client applications call), ``PromptStore``
(the store every tool writes through) and the records they return.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promptdeck.errors import (
    AlreadyActiveError,
    ConflictError,
    NoChangeError,
    NotFoundError,
    PermissionDeniedError,
    PromptDeckError,
    StoreError,
    TemplateError,
    ValidationError,
)
from promptdeck.records import AuditEvent, Deployment, FeatureSummary, Version, VersionSummary

if TYPE_CHECKING:
    from promptdeck.runtime import Prompt, Prompts
    from promptdeck.store import PromptStore

__version__ = "0.1.0"

__all__ = [
    "AlreadyActiveError",
    "AuditEvent",
    "ConflictError",
    "Deployment",
    "FeatureSummary",
    "NoChangeError",
    "NotFoundError",
    "PermissionDeniedError",
    "Prompt",
    "PromptDeckError",
    "PromptStore",
    "Prompts",
    "StoreError",
    "TemplateError",
    "ValidationError",
    "Version",
    "VersionSummary",
]


def __getattr__(name: str) -> Any:
    # Imported on first use: `import promptdeck` stays cheap for applications.
    if name in ("Prompts", "Prompt"):
        from promptdeck import runtime

        return getattr(runtime, name)
    if name == "PromptStore":
        from promptdeck.store import PromptStore

        return PromptStore
    raise AttributeError(f"module 'promptdeck' has no attribute {name!r}")

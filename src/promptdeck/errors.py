"""Errors that promptdeck reports to its users.

Every error carries a message that reads well on one line: the CLI prints it as
``error: <message>`` and the terminal app shows it in a notification.
"""

from __future__ import annotations


class PromptDeckError(Exception):
    """Base class: anything refused or failed that a user should read."""


class NotFoundError(PromptDeckError):
    """An unknown feature, version, environment or file."""


class ValidationError(PromptDeckError):
    """Input that breaks a rule: an empty reason, a bad name, malformed YAML."""


class NoChangeError(ValidationError):
    """Saving content identical to the version it was edited from."""


class AlreadyActiveError(ValidationError):
    """Activating the version that is already active."""


class PermissionDeniedError(PromptDeckError):
    """The user's role does not allow the action."""


class ConflictError(PromptDeckError):
    """A newer version was saved since the one the edit started from."""

    def __init__(self, message: str, *, latest: int, latest_author: str) -> None:
        super().__init__(message)
        self.latest = latest
        self.latest_author = latest_author


class DeploymentMovedError(PromptDeckError):
    """The active version moved since the caller looked (another admin was faster)."""


class StoreError(PromptDeckError):
    """The database cannot be used: missing, locked, unreachable, newer schema."""


class TemplateError(PromptDeckError):
    """A template variable is missing when a prompt is rendered."""


class GateError(PromptDeckError):
    """A move into an environment that the environment's gate refuses (e.g. checks)."""

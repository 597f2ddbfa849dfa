"""Who may do what: one table of actions, the role each needs, and how to say it.

Pure: the store checks every write against this table; the CLI and the app can use the
same table to grey out or explain what a role may not do.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from promptdeck.records import ROLES, Role

RANK: dict[Role, int] = {role: rank for rank, role in enumerate(ROLES)}


class Action(StrEnum):
    CREATE_FEATURE = "create-feature"
    SAVE = "save"
    IMPORT = "import"
    IMPORT_DEPLOYMENTS = "import-deployments"
    ACTIVATE = "activate"
    ROLLBACK = "rollback"
    SET_CANARY = "canary"
    CLEAR_CANARY = "canary-off"
    PROMOTE = "promote"
    SET_ROLE = "set-role"
    PUSH_VERSIONS = "push-versions"
    PUSH_POINTERS = "push-pointers"
    PULL_VERSIONS = "pull-versions"
    PULL_POINTERS = "pull-pointers"
    RENUMBER = "renumber"
    REQUEST_REVIEW = "request-review"
    APPROVE = "approve"
    REJECT = "reject"
    CREATE_ENVIRONMENT = "create-environment"
    PROTECT_ENVIRONMENT = "protect-environment"


@dataclass(frozen=True, slots=True)
class Permission:
    needed: Role
    wording: str  # completes "to ... you must be an admin"


PERMISSIONS: dict[Action, Permission] = {
    Action.CREATE_FEATURE: Permission("editor", "create a feature"),
    Action.SAVE: Permission("editor", "save a version"),
    Action.IMPORT: Permission("editor", "import prompts"),
    Action.IMPORT_DEPLOYMENTS: Permission("admin", "import active versions"),
    Action.ACTIVATE: Permission("admin", "activate a version"),
    Action.ROLLBACK: Permission("admin", "roll back"),
    Action.SET_CANARY: Permission("admin", "set a canary"),
    Action.CLEAR_CANARY: Permission("admin", "stop a canary"),
    Action.PROMOTE: Permission("admin", "promote a canary"),
    Action.SET_ROLE: Permission("admin", "manage roles"),
    Action.PUSH_VERSIONS: Permission("editor", "push versions to the remote"),
    Action.PUSH_POINTERS: Permission(
        "admin",
        "move active versions or canaries of the remote by a push "
        "(push with --versions-only to send only the versions)",
    ),
    Action.PULL_VERSIONS: Permission("editor", "pull versions to the local store"),
    Action.PULL_POINTERS: Permission(
        "admin", "move active versions or canaries of the local store by a pull"
    ),
    Action.RENUMBER: Permission("editor", "renumber local versions"),
    Action.REQUEST_REVIEW: Permission("editor", "request a review"),
    Action.APPROVE: Permission("reviewer", "approve a version"),
    Action.REJECT: Permission("reviewer", "reject a version"),
    Action.CREATE_ENVIRONMENT: Permission("admin", "create an environment"),
    Action.PROTECT_ENVIRONMENT: Permission("admin", "protect or unprotect an environment"),
}


def allowed(role: Role, action: Action) -> bool:
    return RANK[role] >= RANK[PERMISSIONS[action].needed]


def refusal(user: str, role: Role, action: Action) -> str:
    """The one line a refused user reads, e.g. "bob is an editor; to roll back you must
    be an admin"."""
    needed = PERMISSIONS[action].needed
    return (
        f"{user} is {article(role)} {role}; "
        f"to {PERMISSIONS[action].wording} you must be {article(needed)} {needed}"
    )


def article(word: str) -> Literal["a", "an"]:
    return "an" if word[:1] in "aeiou" else "a"

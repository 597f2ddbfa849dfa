"""The promptdeck command line: everything the terminal app does, for scripts and CI.

One module per group of commands: ``versions`` (features, versions, show, new, save),
``deploy`` (activate, rollback, canary, promote), ``transfer`` (init, import, export),
``roles`` (role, history), ``diff``, ``sync``; ``app`` holds the root group and
``common`` what they share.
"""

from __future__ import annotations

from promptdeck.cli.app import main

__all__ = ["main"]

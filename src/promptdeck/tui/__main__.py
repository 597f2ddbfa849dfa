"""``python -m promptdeck.tui``: open the terminal app on the configured store."""

from __future__ import annotations

import os

from promptdeck.config import resolve_db, resolve_remote
from promptdeck.records import DEFAULT_ENVIRONMENT
from promptdeck.store import PromptStore
from promptdeck.tui.app import run_app


def main() -> None:
    with PromptStore(resolve_db()) as store:
        run_app(
            store,
            environment=os.environ.get("PROMPTDECK_ENV", DEFAULT_ENVIRONMENT),
            remote_url=resolve_remote(None),
        )


if __name__ == "__main__":
    main()

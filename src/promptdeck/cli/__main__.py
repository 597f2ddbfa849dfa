"""``python -m promptdeck.cli``: the same as the ``promptdeck`` command."""

from promptdeck.cli import main

main()

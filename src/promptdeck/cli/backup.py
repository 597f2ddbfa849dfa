"""The whole store in one file and back (``backup``, ``restore``); ``doctor``."""

from __future__ import annotations

from pathlib import Path

import click

from promptdeck.cli.common import CliState, fail


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def backup(state: CliState, file: Path) -> None:
    """Write everything in the store, history included, to FILE (owner-only)."""
    from promptdeck.files import write_private_file
    from promptdeck.store.backup import to_bytes

    data = state.store().backup()
    try:
        write_private_file(file, to_bytes(data))
    except OSError as exc:
        fail(f"cannot write {file}: {exc.strerror or exc}")
    rows = sum(len(t["rows"]) for t in data["tables"].values())
    click.echo(f"backed up {rows} row(s) to {file}")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def restore(state: CliState, file: Path) -> None:
    """Restore a backup FILE into an empty store (a new --db): all of it, or nothing."""
    from promptdeck.store.backup import parse

    try:
        raw = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    data = parse(raw, str(file))
    rows = state.store(create=True).restore(data, str(file))
    click.echo(f"restored {rows} row(s) from {file}")


@click.command()
@click.pass_obj
def doctor(state: CliState) -> None:
    """List stored values beyond promptdeck's limits (rows from before the limits),
    by feature and version; exit 1 if there are any. See README for the way forward."""
    findings = state.store().beyond_limits()
    if not findings:
        click.echo("every stored value is within promptdeck's limits")
        return
    for finding in findings:
        click.echo(str(finding))
    fail(
        f"{len(findings)} stored value(s) beyond promptdeck's limits; a store holding them "
        "cannot push to PostgreSQL (see README: rows beyond the limits)"
    )

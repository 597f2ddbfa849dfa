"""Files in and out of the store: ``init``, ``import``, ``export``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from promptdeck.cli.common import CliState, fail


@click.command()
@click.pass_obj
def init(state: CliState) -> None:
    """Create the store (or migrate an existing one) and say where it is.

    On PostgreSQL, also create the database group roles, GRANTs and append-only
    triggers, and make the login running it the store's first admin."""
    # "store ready" says where. On PostgreSQL the store opens with its roles installed.
    store = state.store(create=True, announce=False, initialize=True)
    prefix = store.governance.roles_prefix()
    if prefix is not None:
        click.echo(
            f"store ready: {store.display_url}; roles {prefix}_viewer/_editor/_reviewer/"
            f"_admin; {store.user} is admin"
        )
        return
    click.echo(f"store ready: {store.display_url}")


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_obj
def import_(state: CliState, paths: Sequence[Path]) -> None:
    """Import YAML prompt files or directories: all of them, or nothing."""
    from promptdeck import yamlio

    documents = yamlio.read_files(paths)
    store = state.store(create=True)
    result = store.import_documents(documents)
    if not result.changed:
        click.echo(
            "nothing to import: the store already has every version and suite in these files"
        )
        return
    click.echo(
        f"imported {len(result.versions_created)} version(s) "
        f"in {len({f for f, _ in result.versions_created} | set(result.features_created))} "
        f"feature(s); set {len(result.deployments_set)} active version(s)"
        + (f"; saved {len(result.suites_saved)} suite(s)" if result.suites_saved else "")
    )


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.argument("features", nargs=-1)
@click.pass_obj
def export(state: CliState, directory: Path, features: Sequence[str]) -> None:
    """Write one full-history YAML file per feature into DIRECTORY (all, or none)."""
    from promptdeck import yamlio
    from promptdeck.files import write_file_set

    store = state.store()
    names = list(features) or [f.name for f in store.features()]
    documents = [store.export_document(name) for name in names]
    files = (
        (f"{document.feature}.yaml", yamlio.dump_document(document).encode("utf-8"))
        for document in documents
    )
    try:
        written = write_file_set(directory, files)
    except OSError as exc:
        fail(f"cannot write to {directory}: {exc.strerror or exc}")
    click.echo(f"exported {len(written)} feature(s) to {directory}")

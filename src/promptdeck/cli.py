"""The promptdeck command line: everything the terminal app does, for scripts and CI.

Exit codes: 0 success, 1 refused or failed (one line on stderr), 2 usage.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from promptdeck import yamlio
from promptdeck.cli_common import (
    CliState,
    ErrorHandlingGroup,
    emit_json,
    environment_default,
    fail,
    table,
)
from promptdeck.cli_sync import sync
from promptdeck.config import resolve_remote
from promptdeck.display import visible
from promptdeck.errors import NotFoundError, ValidationError
from promptdeck.records import DEFAULT_ENVIRONMENT, AuditEvent, Deployment, Version

ENV_OPTION = click.option(
    "--env",
    "environment",
    callback=environment_default,
    help="Environment whose active version and canary to use (default: the global --env, "
    "else production).",
)
REASON_OPTION = click.option("--reason", "-m", required=True, help="Why (required, not empty).")


@click.group(cls=ErrorHandlingGroup, invoke_without_command=True)
@click.option("--db", metavar="PATH_OR_URL", help="Store: a SQLite path or SQLAlchemy URL.")
@click.option("--user", metavar="NAME", help="Who you are (default: PROMPTDECK_USER or login).")
@click.option(
    "--env",
    "environment",
    default=DEFAULT_ENVIRONMENT,
    show_default=True,
    help="Environment for the app and, unless they say otherwise, for commands.",
)
@click.option(
    "--remote",
    metavar="URL",
    help="Remote store for the app and `sync` (default: PROMPTDECK_REMOTE or the config file).",
)
@click.version_option(package_name="promptdeck")
@click.pass_context
def main(
    ctx: click.Context, db: str | None, user: str | None, environment: str, remote: str | None
) -> None:
    """Manage LLM prompts: versioned, reviewed, activated without a deploy.

    With no command, opens the terminal app on the configured store.
    """
    state = CliState(db=db, user=user, environment=environment, remote=remote)
    ctx.obj = state
    ctx.call_on_close(state.close)
    if ctx.invoked_subcommand is None:
        store = state.store(create=True)
        from promptdeck.tui.app import run_app  # the CLI alone never loads Textual

        run_app(store, environment=environment, remote_url=resolve_remote(remote))


@main.command()
@click.pass_obj
def init(state: CliState) -> None:
    """Create the store (or migrate an existing one) and say where it is."""
    store = state.store(create=True)
    click.echo(f"store ready: {store.display_url}")


@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_obj
def import_(state: CliState, paths: Sequence[Path]) -> None:
    """Import YAML prompt files or directories: all of them, or nothing."""
    documents = yamlio.read_files(paths)
    store = state.store(create=True)
    result = store.import_documents(documents)
    if not result.changed:
        click.echo("nothing to import: the store already has every version in these files")
        return
    click.echo(
        f"imported {len(result.versions_created)} version(s) "
        f"in {len({f for f, _ in result.versions_created} | set(result.features_created))} "
        f"feature(s); set {len(result.deployments_set)} active version(s)"
    )


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.argument("features", nargs=-1)
@click.pass_obj
def export(state: CliState, directory: Path, features: Sequence[str]) -> None:
    """Write one full-history YAML file per feature into DIRECTORY."""
    store = state.store()
    names = list(features) or [f.name for f in store.features()]
    documents = [store.export_document(name) for name in names]
    try:
        written = yamlio.write_documents(documents, directory)
    except OSError as exc:
        fail(f"cannot write to {directory}: {exc.strerror}")
    click.echo(f"exported {len(written)} feature(s) to {directory}")


@main.command()
@ENV_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def features(state: CliState, environment: str, as_json: bool) -> None:
    """List features with their active and latest versions."""
    rows = state.store().features(environment)
    if as_json:
        emit_json(
            [
                {
                    "feature": f.name,
                    "active": f.active,
                    "latest": f.latest,
                    "versions": f.versions,
                    "canary": {"version": f.canary, "percent": f.canary_percent}
                    if f.canary is not None
                    else None,
                }
                for f in rows
            ]
        )
        return
    if not rows:
        click.echo("no features yet: import some with `promptdeck import sample_prompts`")
        return
    click.echo(
        table(
            [
                (
                    f.name,
                    _number(f.active),
                    _number(f.latest),
                    str(f.versions),
                    f"v{f.canary} {f.canary_percent}%" if f.canary is not None else "",
                )
                for f in rows
            ],
            ("FEATURE", "ACTIVE", "LATEST", "VERSIONS", "CANARY"),
        )
    )


@main.command()
@click.argument("feature")
@ENV_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def versions(state: CliState, feature: str, environment: str, as_json: bool) -> None:
    """List a feature's versions, newest first."""
    store = state.store()
    rows = store.versions(feature)
    deployment = store.deployment(feature, environment)
    if as_json:
        emit_json(
            [
                {
                    "version": v.number,
                    "author": v.author,
                    "reason": v.reason,
                    "created_at": v.created_at,
                    "active": v.number == deployment.active,
                    "canary": v.number == deployment.canary,
                    "model": v.model,
                    "parent": v.parent,
                }
                for v in rows
            ]
        )
        return
    click.echo(
        table(
            [
                (
                    f"v{v.number}",
                    _state(v.number, deployment),
                    _one_line(v.author, 30),
                    _when(v.created_at),
                    _one_line(v.reason, 60),
                )
                for v in rows
            ],
            ("VERSION", "STATE", "AUTHOR", "CREATED", "REASON"),
        )
    )


@main.command()
@click.argument("feature")
@click.argument("version", default="active")
@ENV_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def show(state: CliState, feature: str, version: str, environment: str, as_json: bool) -> None:
    """Show one version: VERSION is a number, 'active' (default) or 'latest'."""
    found = state.store().version(feature, _version_ref(version), environment)
    if as_json:
        emit_json(_version_json(found))
        return
    click.echo(f"{found.feature} v{found.number}  {_visible(found.model)}")
    click.echo(f"parameters: {json.dumps(dict(found.parameters), ensure_ascii=True)}")
    click.echo(
        f"by {_visible(found.author)} at {_when(found.created_at)}: {_visible(found.reason)}"
    )
    if found.parent is not None:
        click.echo(f"edited from v{found.parent}")
    if found.variables:
        click.echo("variables: " + ", ".join(found.variables))
    click.echo("")
    # color=True: click must not strip ANSI escapes that are part of the prompt text.
    click.echo(_visible(found.system_prompt), color=True)


def _version_json(version: Version) -> dict[str, Any]:
    return {
        "feature": version.feature,
        "version": version.number,
        "model": version.model,
        "parameters": dict(version.parameters),
        "system_prompt": version.system_prompt,
        "author": version.author,
        "reason": version.reason,
        "created_at": version.created_at,
        "parent": version.parent,
        "id": version.uid,
        "variables": list(version.variables),
    }


def _read_text(file: str) -> str:
    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise NotFoundError(f"cannot read {file}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{file}: not UTF-8 text (byte {exc.start})") from None


def _parse_params(values: Sequence[str]) -> dict[str, Any] | None:
    if not values:
        return None
    parsed: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--param")
        try:
            parsed[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            parsed[key.strip()] = raw  # plain text values need no quotes
    return parsed


FILE_OPTION = click.option(
    "--file", "-f", "file", required=True, metavar="PATH|-", help="Prompt text ('-': stdin)."
)
PARAM_OPTION = click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set a parameter (JSON value or text); repeatable.",
)


@main.command()
@click.argument("feature")
@FILE_OPTION
@REASON_OPTION
@click.option("--model", required=True, help="Model name.")
@PARAM_OPTION
@click.pass_obj
def new(
    state: CliState, feature: str, file: str, reason: str, model: str, params: Sequence[str]
) -> None:
    """Create a feature with its first version."""
    version = state.store(create=True).create_feature(
        feature, _read_text(file), model=model, reason=reason, parameters=_parse_params(params)
    )
    click.echo(f"created {version.feature} v{version.number}")


@main.command()
@click.argument("feature")
@FILE_OPTION
@REASON_OPTION
@click.option("--model", help="Change the model (default: the base version's).")
@PARAM_OPTION
@click.option("--base", type=int, help="The version you edited (default: the latest).")
@click.option("--force", is_flag=True, help="Save on top even if a newer version exists.")
@click.pass_obj
def save(
    state: CliState,
    feature: str,
    file: str,
    reason: str,
    model: str | None,
    params: Sequence[str],
    base: int | None,
    force: bool,
) -> None:
    """Save a new version of FEATURE. Nothing is ever overwritten."""
    store = state.store()
    updates = _parse_params(params)
    parameters = None
    if updates is not None:
        start = store.version(feature, base if base is not None else "latest")
        parameters = {**start.parameters, **updates}
    version = store.save(
        feature,
        _read_text(file),
        reason=reason,
        model=model,
        parameters=parameters,
        base=base,
        force=force,
    )
    click.echo(f"saved {version.feature} v{version.number} (from v{version.parent})")


@main.command()
@click.argument("feature")
@click.argument("old", required=False)
@click.argument("new", required=False)
@click.option("--unified", "-u", is_flag=True, help="Unified (diff -u) instead of side by side.")
@click.option("--ignore-whitespace", "-w", is_flag=True, help="Ignore whitespace-only changes.")
@ENV_OPTION
@click.pass_obj
def diff(
    state: CliState,
    feature: str,
    old: str | None,
    new: str | None,
    unified: bool,
    ignore_whitespace: bool,
    environment: str,
) -> None:
    """Compare two versions: none given, active -> latest; one, active -> it; two, OLD -> NEW."""
    from promptdeck.cli_diff import print_diff

    store = state.store()
    if old is not None and new is None:
        old, new = "active", old
    left = store.version(feature, _version_ref(old or "active"), environment)
    right = store.version(feature, _version_ref(new or "latest"), environment)
    print_diff(left, right, unified=unified, ignore_whitespace=ignore_whitespace)


@main.command()
@click.argument("feature")
@click.argument("version", type=int)
@REASON_OPTION
@ENV_OPTION
@click.pass_obj
def activate(state: CliState, feature: str, version: int, reason: str, environment: str) -> None:
    """Make VERSION the active version of FEATURE."""
    deployment = state.store().activate(feature, version, reason=reason, environment=environment)
    _report_move("activated", deployment)


@main.command()
@click.argument("feature")
@REASON_OPTION
@ENV_OPTION
@click.pass_obj
def rollback(state: CliState, feature: str, reason: str, environment: str) -> None:
    """Return to the version that was active before the current one."""
    deployment = state.store().rollback(feature, reason=reason, environment=environment)
    _report_move("rolled back to", deployment)


@main.command()
@click.argument("feature")
@click.argument("version", type=int, required=False)
@click.option("--percent", type=click.IntRange(0, 100), help="Share of users, 0-100.")
@click.option("--off", is_flag=True, help="Stop the canary.")
@REASON_OPTION
@ENV_OPTION
@click.pass_obj
def canary(
    state: CliState,
    feature: str,
    version: int | None,
    percent: int | None,
    off: bool,
    reason: str,
    environment: str,
) -> None:
    """Serve VERSION to a share of users (chosen by user id), or stop with --off."""
    store = state.store()
    if off:
        if version is not None or percent is not None:
            raise click.UsageError("--off takes no VERSION or --percent")
        store.clear_canary(feature, reason=reason, environment=environment)
        click.echo(f"{feature}: canary stopped in {environment}")
        return
    if version is None or percent is None:
        raise click.UsageError("give VERSION and --percent, or --off")
    deployment = store.set_canary(feature, version, percent, reason=reason, environment=environment)
    click.echo(
        f"{feature}: v{deployment.canary} serves {deployment.canary_percent}% of users "
        f"in {environment} (active: v{deployment.active})"
    )


@main.command()
@click.argument("feature")
@REASON_OPTION
@ENV_OPTION
@click.pass_obj
def promote(state: CliState, feature: str, reason: str, environment: str) -> None:
    """Make the canary the active version."""
    deployment = state.store().promote(feature, reason=reason, environment=environment)
    _report_move("promoted the canary:", deployment)


@main.command()
@click.argument("feature", required=False)
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many events.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def history(state: CliState, feature: str | None, limit: int | None, as_json: bool) -> None:
    """The audit log, newest first: who did what, when, from which version to which, why."""
    events = state.store().history(feature, limit=limit)
    if as_json:
        emit_json([_event_json(e) for e in events])
        return
    click.echo(
        table(
            [
                (
                    _when(e.at),
                    _one_line(e.actor, 30),
                    e.action,
                    e.feature or "",
                    e.environment or "",
                    _number(e.from_version),
                    _number(e.to_version),
                    _one_line(e.reason, 60),
                )
                for e in events
            ],
            ("AT", "ACTOR", "ACTION", "FEATURE", "ENV", "FROM", "TO", "REASON"),
        )
    )


def _event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "at": event.at,
        "actor": event.actor,
        "action": event.action,
        "feature": event.feature,
        "environment": event.environment,
        "from": event.from_version,
        "to": event.to_version,
        "reason": event.reason,
        "details": dict(event.details),
    }


@main.command()
@click.argument("user", required=False)
@click.argument("role", required=False, type=click.Choice(["viewer", "editor", "admin"]))
@click.pass_obj
def role(state: CliState, user: str | None, role: str | None) -> None:
    """Give USER a ROLE (admin only); with no arguments, list the roles."""
    store = state.store()
    if user is None:
        roles = store.roles()
        if not roles:
            click.echo("no roles set: every user of this store may do everything")
        for name, value in roles.items():
            click.echo(f"{name}\t{value}")
        return
    if role is None:
        click.echo(f"{user}\t{store.role(user)}")
        return
    store.set_role(user, role)
    click.echo(f"{user} is now {'an' if role == 'admin' else 'a'} {role}")


def _report_move(verb: str, deployment: Deployment) -> None:
    click.echo(f"{deployment.feature}: {verb} v{deployment.active} in {deployment.environment}")


def _version_ref(value: str) -> int | str:
    text = value.strip().lstrip("vV") if value.strip()[:1] in "vV" else value.strip()
    if text.isdigit():
        return int(text)
    if text in ("active", "latest"):
        return text
    raise click.BadParameter(f"{value!r} is not a version number, 'active' or 'latest'")


def _state(number: int, deployment: Deployment) -> str:
    if number == deployment.active:
        return "active"
    if number == deployment.canary:
        return f"canary {deployment.canary_percent}%"
    if deployment.active is None or number > deployment.active:
        return "newer"
    return ""


def _number(value: int | None) -> str:
    return "-" if value is None else f"v{value}"


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


def _one_line(text: str, width: int) -> str:
    # Table cells are for people (scripts read --json): always shown, never obeyed.
    line = visible(text.strip().splitlines()[0] if text.strip() else "")
    return line if len(line) <= width else line[: width - 1] + "…"


def _visible(text: str) -> str:
    """On a terminal, show control characters (ANSI escapes) instead of obeying them;
    piped output stays exact for scripts."""
    return visible(text) if sys.stdout.isatty() else text


main.add_command(sync)

if __name__ == "__main__":  # pragma: no cover
    main()

"""Reading and writing versions: ``features``, ``versions``, ``show``, ``new``, ``save``."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from promptdeck.cli.common import (
    ENV_OPTION,
    JSON_OPTION,
    REASON_OPTION,
    CliState,
    VersionType,
    emit_json,
    feature_argument,
    number,
    one_line,
    shown,
    table,
    when,
)
from promptdeck.display import version_state
from promptdeck.errors import NotFoundError, ValidationError
from promptdeck.records import Deployment, Version

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


@click.command()
@ENV_OPTION
@JSON_OPTION
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
                    number(f.active),
                    number(f.latest),
                    str(f.versions),
                    f"v{f.canary} {f.canary_percent}%" if f.canary is not None else "",
                )
                for f in rows
            ],
            ("FEATURE", "ACTIVE", "LATEST", "VERSIONS", "CANARY"),
        )
    )


@click.command()
@feature_argument()
@ENV_OPTION
@JSON_OPTION
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
                    "state": _state(v.number, deployment),
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
                    one_line(v.author, 30),
                    when(v.created_at),
                    one_line(v.reason, 60),
                )
                for v in rows
            ],
            ("VERSION", "STATE", "AUTHOR", "CREATED", "REASON"),
        )
    )


def _state(version: int, deployment: Deployment) -> str:
    """The same word the app's versions table shows (display.version_state)."""
    return version_state(
        version,
        active=deployment.active,
        canary=deployment.canary,
        canary_percent=deployment.canary_percent,
        previous=deployment.previous,
    )


@click.command()
@feature_argument()
@click.argument("version", type=VersionType(names=True), default="active")
@ENV_OPTION
@JSON_OPTION
@click.pass_obj
def show(
    state: CliState, feature: str, version: int | str, environment: str, as_json: bool
) -> None:
    """Show one version: VERSION is a number (4 or v4), 'active' (default) or 'latest'."""
    store = state.store()
    if version == "active" and store.deployment(feature, environment).active is None:
        raise NotFoundError(
            f"{feature} has no active version in {environment}: "
            f"see its newest with `promptdeck show {feature} latest`"
        )
    found = store.version(feature, version, environment)
    if as_json:
        emit_json(_version_json(found))
        return
    click.echo(f"{found.feature} v{found.number}  {shown(found.model)}")
    click.echo(f"parameters: {json.dumps(dict(found.parameters), ensure_ascii=True)}")
    click.echo(f"by {shown(found.author)} at {when(found.created_at)}: {shown(found.reason)}")
    if found.parent is not None:
        click.echo(f"edited from v{found.parent}")
    if found.variables:
        click.echo("variables: " + ", ".join(found.variables))
    click.echo("")
    # color=True: click must not strip ANSI escapes that are part of the prompt text.
    click.echo(shown(found.system_prompt), color=True)


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


@click.command()
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


@click.command()
@feature_argument()
@FILE_OPTION
@REASON_OPTION
@click.option("--model", help="Change the model (default: the base version's).")
@PARAM_OPTION
@click.option(
    "--base", type=VersionType(), help="The version you edited, 4 or v4 (default: the latest)."
)
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

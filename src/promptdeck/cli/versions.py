"""Reading and writing versions: ``features``, ``versions``, ``show``, ``new``, ``save``."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from promptdeck.display import version_state, visible
from promptdeck.errors import ConflictError, NotFoundError, ValidationError
from promptdeck.records import Deployment, Version

if TYPE_CHECKING:
    from promptdeck.store import PromptStore

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
    from promptdeck.limits import check_parameter_name, parse_parameter_value

    parsed: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--param")
        # JSON when it parses, else the text itself; bounded in depth and digits.
        parsed[check_parameter_name(key.strip())] = parse_parameter_value(raw)
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
    text, parameters = _read_text(file), _parse_params(params)  # bad input: no store made
    version = state.store(create=True).create_feature(
        feature, text, model=model, reason=reason, parameters=parameters
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
@click.option(
    "--seen-latest",
    type=VersionType(),
    metavar="N",
    help="The newest version you had seen when you began editing: only versions saved "
    "after it stop the save (the app's rule). Default: the base.",
)
@click.option(
    "--merge",
    is_flag=True,
    help="If a version newer than --base exists, carry your edit onto the latest version "
    "(a three-way merge keeping both changes); lines you both changed are refused and "
    "written, marked, to --merged-out.",
)
@click.option(
    "--merged-out",
    metavar="PATH|-",
    help="With --merge: where the text with both sides marked goes when you both changed "
    "the same lines (default: FILE.merged beside FILE; '-' or stdin input: stdout).",
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
    seen_latest: int | None,
    merge: bool,
    merged_out: str | None,
    force: bool,
) -> None:
    """Save a new version of FEATURE. Nothing is ever overwritten.

    \b
    With --base N, a version saved after N (or after --seen-latest) stops the save:
      --merge   carries your edit onto the latest version, keeping both changes
      --force   saves on top anyway, without the newer versions' changes
    """
    if merge and force:
        raise click.UsageError("--merge and --force are two answers to the same question: give one")
    if merged_out is not None and not merge:
        raise click.UsageError("--merged-out goes with --merge")
    from promptdeck.merge import count_merge_marks  # merge3: only when saving

    store = state.store()
    updates = _parse_params(params)
    text = _read_text(file)
    marks = count_merge_marks(text)
    if marks:
        raise ValidationError(
            f"{'stdin' if file == '-' else file} still has {marks} place(s) marked by --merge "
            "(<<<<<<< yours ... >>>>>>> theirs): keep what you want and delete the marker "
            "lines, then save"
        )
    start = store.version(feature, base if base is not None else "latest")
    parameters = {**start.parameters, **updates} if updates is not None else None
    if merge:
        latest = store.version(feature, "latest")
        if latest.number != start.number:
            _save_merged(store, start, latest, text, reason, model, parameters, file, merged_out)
            return
    try:
        version = store.save(
            feature,
            text,
            reason=reason,
            model=model,
            parameters=parameters,
            # Always the version read: a save made meanwhile must conflict, not vanish.
            base=start.number if base is not None or updates is not None else None,
            force=force,
            seen_latest=seen_latest,
        )
    except ConflictError as exc:
        seen = max(start.number, seen_latest or 0)
        after = (
            f"v{seen}, the newest you had seen"
            if seen != start.number
            else f"v{start.number}, which your edit started from"
        )
        raise ConflictError(
            f"{exc.latest_author} saved v{exc.latest} of {feature} after {after}: "
            f"--merge carries your edit onto v{exc.latest} (both changes kept); --force saves "
            f"v{exc.latest + 1} from v{start.number} without {_span(start.number, exc.latest)}'s "
            "changes",
            latest=exc.latest,
            latest_author=exc.latest_author,
        ) from None
    click.echo(f"saved {version.feature} v{version.number} (from v{version.parent})")
    if version.parent is not None and version.number > version.parent + 1:
        # Not a conflict (forced, or the user had seen them), but say what is left out,
        # as the app's save dialog does.
        click.echo(
            f"note: v{version.number} is based on v{version.parent} and does not contain "
            f"{_span(version.parent, version.number - 1)}'s changes; to keep both, save "
            f"again with --base {version.parent} --merge",
            err=True,
        )


def _span(base: int, newest: int) -> str:
    """``v6`` or ``v6–v8``: the versions a save from ``base`` does not contain."""
    return f"v{newest}" if newest == base + 1 else f"v{base + 1}–v{newest}"


def _save_merged(
    store: PromptStore,
    base: Version,
    latest: Version,
    text: str,
    reason: str,
    model: str | None,
    parameters: dict[str, Any] | None,
    file: str,
    merged_out: str | None,
) -> None:
    """Carry the edit of ``base`` onto ``latest`` (merge.py's three-way merge) and save
    it; where both changed the same lines, write the marked text and refuse."""
    from promptdeck.merge import (
        END_MARKER,
        MIDDLE_MARKER,
        START_MARKER,
        conflict_labels,
        merge_parameters,
        merge_texts,
        merge_value,
    )

    author = visible(latest.author)
    mine_label, theirs_label = conflict_labels(base.number, latest.number, author)
    merged = merge_texts(
        base.system_prompt, text, latest.system_prompt, mine_label=mine_label,
        theirs_label=theirs_label,
    )  # fmt: skip
    mine_model = model if model is not None else base.model
    mine_parameters = parameters if parameters is not None else dict(base.parameters)
    merged_model, model_clash = merge_value(base.model, mine_model, latest.model)
    merged_parameters, clashes = merge_parameters(
        base.parameters, mine_parameters, latest.parameters
    )
    notes = []
    if model_clash:
        notes.append(f"you both changed the model: yours ({visible(mine_model)}) is kept")
    if clashes:
        notes.append(f"you both changed {', '.join(clashes)}: yours kept")
    if merged.conflicts:
        target = merged_out or ("-" if file == "-" else f"{file}.merged")
        _write_merged(target, merged.text)
        where = "on stdout" if target == "-" else f"in {target}"
        resolved = "FILE" if target == "-" else shlex.quote(target)
        extra = "".join(
            f" --param {shlex.quote(f'{key}={json.dumps(value, ensure_ascii=False)}')}"
            for key, value in merged_parameters.items()
            if latest.parameters.get(key) != value
        )
        if merged_model != latest.model:
            extra = f" --model {shlex.quote(merged_model)}{extra}"
        places = f"{merged.conflicts} place{'' if merged.conflicts == 1 else 's'}"
        raise ConflictError(
            f"not saved: you and {author} (v{latest.number}) both changed the same lines in "
            f"{places}; the text with both sides marked is {where}: "
            f"keep what you want, delete the {START_MARKER}/{MIDDLE_MARKER}/{END_MARKER} "
            f"lines, then run `promptdeck save {shlex.quote(base.feature)} --file {resolved} "
            f"--base {latest.number}{extra} -m REASON`",
            latest=latest.number,
            latest_author=latest.author,
        )
    version = store.save(
        base.feature,
        merged.text,
        reason=reason,
        model=merged_model,
        parameters=merged_parameters,
        base=latest.number,
    )
    extra = f" ({'; '.join(notes)})" if notes else ""
    click.echo(
        f"saved {version.feature} v{version.number} (from v{version.parent}): your edit of "
        f"v{base.number} carried onto v{latest.number} by {author}, both changes kept{extra}"
    )


def _write_merged(target: str, text: str) -> None:
    if target == "-":
        click.echo(text, nl=not text.endswith("\n"))
        return
    try:
        Path(target).write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise ValidationError(f"cannot write {target}: {exc.strerror}") from None

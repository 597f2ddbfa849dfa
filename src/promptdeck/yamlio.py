"""YAML prompt files: parse and write. Pure: knows no database and no UI.

Two shapes are read: the single-version file teams keep beside their code, and the
full-history file that ``promptdeck export`` writes. Every error names the file, the
line where known, and what is wrong, on one line.

Speed: PyYAML's C parser and emitter (libyaml) are used when PyYAML has them, the pure
ones otherwise. A file the C parser refuses is parsed again by the pure one, so errors
read exactly as they always did, whichever path is taken.

Hostile files: anchors and aliases (an alias bomb expands a few hundred bytes into
gigabytes) and merge keys are refused outright, since our own export never writes them;
nesting is bounded before anything recurses; files are bounded in size; every field
passes promptdeck.limits here, so a file is refused before the store writes anything.

At ~650 lines this module keeps reading, checking and writing the format together:
they change together whenever the format does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import yaml

from promptdeck import limits
from promptdeck.checks.suite import parse_suite, suite_to_data
from promptdeck.errors import NotFoundError, ValidationError
from promptdeck.limits import MAX_IMPORT_FILE_BYTES
from promptdeck.records import Deployment, FeatureDocument, VersionSpec, check_name

SINGLE_KEYS = {"feature", "version", "model", "system_prompt", "parameters"}
SINGLE_OPTIONAL = {"parameters", "author", "reason", "created_at", "id", "suite"}
FULL_KEYS = {"feature", "versions", "active", "previous", "canary", "suite"}
VERSION_KEYS = {
    "version", "id", "model", "parameters", "author", "reason", "created_at", "parent",
    "system_prompt",
}  # fmt: skip
VERSION_REQUIRED = {"version", "model", "system_prompt"}
YAML_SUFFIXES = (".yaml", ".yml")
# A document nests feature -> versions -> version -> parameters; parameters nest at most
# limits.MAX_PARAMETER_DEPTH levels, so anything deeper is refused before it is built.
MAX_YAML_DEPTH = limits.MAX_PARAMETER_DEPTH + 12
ALIAS_REFUSED = "YAML aliases (*name) are not allowed in promptdeck files; write the value out"
MERGE_REFUSED = "YAML merge keys (<<) are not allowed in promptdeck files; write the keys out"
NESTING_REFUSED = f"nested more than {MAX_YAML_DEPTH} levels deep"


class _LineMap(dict[str, Any]):
    """A mapping that remembers the line of each key, for error messages."""

    line: int = 0
    key_lines: dict[str, int]


class _FileError(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _where(mapping: Mapping[str, Any], key: str | None = None) -> int | None:
    if isinstance(mapping, _LineMap):
        if key is not None and key in mapping.key_lines:
            return mapping.key_lines[key]
        return mapping.line
    return None


def _construct_mapping(
    loader: yaml.SafeLoader | yaml.CSafeLoader, node: yaml.MappingNode
) -> _LineMap:
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *x` copies without bound
            raise _FileError(key_node.start_mark.line + 1, MERGE_REFUSED)
    loader.flatten_mapping(node)
    result = _LineMap()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise _FileError(line, f"keys must be text, not {key!r}")
        if key in result:
            raise _FileError(line, f"duplicate key {key!r}")
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _guarded(
    construct: Callable[[yaml.SafeLoader, yaml.ScalarNode], Any], what: str
) -> Callable[[yaml.SafeLoader, yaml.ScalarNode], Any]:
    """A scalar constructor whose ValueError (a 5,000-digit integer, month 13) names the line."""

    def guarded(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, OverflowError):
            value = str(node.value)
            shown = value if len(value) <= 40 else value[:20] + f"... ({len(value)} characters)"
            raise _FileError(node.start_mark.line + 1, f"{shown!r} is not a valid {what}") from None

    return guarded


class PythonLoader(yaml.SafeLoader):
    """PyYAML's pure-Python loader, with nesting bounded before its composer recurses."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise _FileError(event.start_mark.line + 1, NESTING_REFUSED)
            node: yaml.Node | None = super().compose_node(parent, index)
            return node
        finally:
            self._depth -= 1


# libyaml's parser (C), when PyYAML was built with it: 10-20 times faster. Its error
# messages differ from the pure-Python parser's, so a file it refuses is parsed again by
# the pure one, whose message (and verdict) is the one reported: the same on both paths.
if TYPE_CHECKING:  # yaml.CSafeLoader exists only when PyYAML was built with libyaml
    Loader: TypeAlias = type[yaml.SafeLoader] | type[yaml.CSafeLoader]
    Dumper: TypeAlias = type[yaml.SafeDumper] | type[yaml.CSafeDumper]
CLoader: Loader | None = None
if getattr(yaml, "__with_libyaml__", False):

    class _CLoader(yaml.CSafeLoader):
        pass

    CLoader = _CLoader

LOADER: Loader = CLoader or PythonLoader

for _loader in (PythonLoader, CLoader):
    if _loader is not None:
        _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
        _loader.add_constructor(
            "tag:yaml.org,2002:int", _guarded(yaml.SafeLoader.construct_yaml_int, "number")
        )
        _loader.add_constructor(
            "tag:yaml.org,2002:timestamp",
            _guarded(yaml.SafeLoader.construct_yaml_timestamp, "time"),
        )


def _check_nodes(root: yaml.Node) -> None:
    """Refuse aliases (a node reached twice) and deep nesting, before constructing.

    An alias bomb is a few hundred bytes of nested anchors that expand to gigabytes once
    copied; promptdeck's own export never writes anchors, so none is accepted.
    """
    seen = {id(root)}
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_YAML_DEPTH:
            raise _FileError(node.start_mark.line + 1, NESTING_REFUSED)
        if type(node.value) is not list:  # a scalar
            continue
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = node.value
        collections: list[tuple[yaml.Node, int]] = []
        for child in children:
            if id(child) in seen:
                raise _FileError(_alias_line(node, child), ALIAS_REFUSED)
            seen.add(id(child))
            if type(child.value) is list:
                collections.append((child, depth + 1))
            elif depth + 1 > MAX_YAML_DEPTH:
                raise _FileError(child.start_mark.line + 1, NESTING_REFUSED)
        stack.extend(reversed(collections))  # the first in the file is checked first


def _alias_line(parent: yaml.Node, alias: yaml.Node) -> int:
    """The line of the key holding an alias, else of the list holding it.

    The alias itself has no mark of its own: the node it names is the anchor's.
    """
    if isinstance(parent, yaml.MappingNode):
        for key, value in parent.value:
            if value is alias or key is alias:
                return int(key.start_mark.line) + 1
    return int(parent.start_mark.line) + 1


def _load(text: str, loader_class: Loader) -> Any:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_yaml(text: str, loader: Loader | None = None) -> Any:
    """The YAML text as plain data, with line maps; yaml.YAMLError or _FileError if bad."""
    loader = loader or LOADER
    try:
        return _load(text, loader)
    except (yaml.YAMLError, _FileError, UnicodeEncodeError):
        # libyaml cannot take a lone surrogate at all; the pure reader names its line
        if loader is PythonLoader:
            raise
    return _load(text, PythonLoader)  # today's message, or its verdict that all is well


def parse_text(
    text: str, source: str = "<text>", *, loader: Loader | None = None
) -> FeatureDocument:
    """One YAML file's text as a FeatureDocument; ValidationError on anything wrong."""
    if len(text) > MAX_IMPORT_FILE_BYTES:
        raise ValidationError(_file_too_big(source, len(text)))
    with _errors_named(text, source):
        return _parse_document(load_yaml(text, loader), source)
    raise AssertionError("unreachable")  # pragma: no cover - _errors_named always raises


def parse_suite_text(text: str, source: str = "<text>") -> dict[str, object]:
    """A suite file as canonical suite data: a bare suite (``cases:``...) or a feature
    file's ``suite:`` key. ValidationError names the file and line."""
    if len(text) > MAX_IMPORT_FILE_BYTES:
        raise ValidationError(_file_too_big(source, len(text)))
    with _errors_named(text, source):
        data = load_yaml(text)
        if isinstance(data, Mapping) and "suite" in data and "cases" not in data:
            return _parse_suite(data)
        line_of_top = _LineMap({"suite": data})
        line_of_top.line = 1
        line_of_top.key_lines = {"suite": 1}
        return _parse_suite(line_of_top)
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def _errors_named(text: str, source: str) -> Iterator[None]:
    """Every YAML or content error as one ValidationError naming ``source`` and the line."""
    try:
        yield
    except _FileError as exc:
        prefix = f"{source}:{exc.line}" if exc.line else source
        raise ValidationError(f"{prefix}: {exc.message}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ValidationError(f"{source}{line}: invalid YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:
        number = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else 1
        code = f"#x{exc.character:04x}" if isinstance(exc.character, int) else "a character"
        raise ValidationError(
            f"{source}:{number}: invalid YAML: unacceptable character {code}: {exc.reason}"
        ) from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise ValidationError(f"{source}: invalid YAML: {first}") from None


def _file_too_big(source: str, size: int) -> str:
    return (
        f"{source}: the file is {size / 1024 / 1024:.1f} MiB; promptdeck imports files of at "
        f"most {MAX_IMPORT_FILE_BYTES // 1024 // 1024} MiB"
    )


def _parse_document(data: Any, source: str) -> FeatureDocument:
    if not isinstance(data, Mapping):
        raise _FileError(1, "expected a mapping with 'feature' and 'system_prompt' or 'versions'")
    feature = _text(data, "feature")
    try:
        check_name(feature)
    except ValidationError as exc:
        raise _FileError(_where(data, "feature"), str(exc)) from None
    if "versions" in data:
        _unknown_keys(data, FULL_KEYS, "")
        document = _parse_full(data, feature, source)
    else:
        _unknown_keys(data, SINGLE_KEYS | SINGLE_OPTIONAL, "")
        spec = _parse_version(data, "")
        document = FeatureDocument(feature=feature, versions=(spec,), source=source, single=True)
    if "suite" in data:
        document = replace(document, suite=_parse_suite(data))
    return document


def _parse_suite(data: Mapping[str, Any]) -> dict[str, object]:
    """The ``suite:`` key as canonical suite data; an error names the line of the case
    it is about when it can (the ``suite:`` line otherwise)."""
    raw = data["suite"]
    try:
        return suite_to_data(parse_suite(raw))
    except ValidationError as exc:
        message = str(exc)
        line = _where(data, "suite")
        named = re.match(r"case '(.*?)'", message)
        cases = raw.get("cases") if isinstance(raw, Mapping) else None
        if named and isinstance(cases, list):
            for case in cases:
                if isinstance(case, Mapping) and case.get("name") == named.group(1):
                    line = _where(case) or line
                    break
        raise _FileError(line, f"suite: {message}") from None


def _parse_full(data: Mapping[str, Any], feature: str, source: str) -> FeatureDocument:
    raw_versions = data["versions"]
    if not isinstance(raw_versions, list) or not raw_versions:
        raise _FileError(_where(data, "versions"), "'versions' must be a non-empty list")
    specs: list[VersionSpec] = []
    numbers: set[int] = set()
    for index, item in enumerate(raw_versions):
        where = f"versions[{index}]."
        if not isinstance(item, Mapping):
            raise _FileError(_where(data, "versions"), f"versions[{index}] must be a mapping")
        _unknown_keys(item, VERSION_KEYS, where)
        spec = _parse_version(item, where)
        if spec.number in numbers:
            raise _FileError(_where(item, "version"), f"version {spec.number} appears twice")
        numbers.add(spec.number)
        specs.append(spec)
    for spec, item in zip(specs, raw_versions, strict=True):
        if spec.parent is not None and spec.parent not in numbers:
            raise _FileError(_where(item, "parent"), f"parent {spec.parent} is not in the file")
    deployments = _parse_deployments(data, numbers)
    return FeatureDocument(
        feature=feature, versions=tuple(specs), deployments=deployments, source=source
    )


def _parse_version(item: Mapping[str, Any], where: str) -> VersionSpec:
    for key in VERSION_REQUIRED:
        if key not in item:
            raise _FileError(_where(item), f"missing {where}{key}")
    parameters = item.get("parameters")
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, Mapping):
        raise _FileError(_where(item, "parameters"), f"{where}parameters must be a mapping")
    system_prompt = _text(item, "system_prompt", where, strip=False)
    if not system_prompt.strip():
        raise _FileError(_where(item, "system_prompt"), f"{where}system_prompt is empty")
    plain = _plain(parameters, _where(item, "parameters"), f"{where}parameters")
    uid = _optional_text(item, "id", where)
    author = _optional_text(item, "author", where)
    reason = _optional_text(item, "reason", where)
    return VersionSpec(
        number=_number(item, "version", where),
        system_prompt=_limited(item, "system_prompt", where, limits.check_prompt, system_prompt),
        model=_limited(item, "model", where, limits.check_model, _text(item, "model", where)),
        parameters=_limited(item, "parameters", where, limits.check_parameters, plain),
        uid=None if uid is None else _limited(item, "id", where, limits.check_uid, uid),
        author=None
        if author is None
        else _limited(item, "author", where, limits.check_author, author),
        reason=None
        if reason is None
        else _limited(item, "reason", where, limits.check_reason, reason),
        created_at=_optional_time(item, "created_at", where),
        parent=None if item.get("parent") is None else _number(item, "parent", where),
    )


def _limited(
    item: Mapping[str, Any], key: str, where: str, check: Callable[[Any], Any], value: Any
) -> Any:
    """A value through its check in promptdeck.limits; a refusal names the field and line."""
    try:
        return check(value)
    except ValidationError as exc:  # the message names the field; `where` names the version
        prefix = f"{where.rstrip('.')}: " if where else ""
        raise _FileError(_where(item, key), f"{prefix}{exc}") from None


def _number(item: Mapping[str, Any], key: str, where: str = "") -> int:
    """A version number, refused here if PostgreSQL's integer could not hold it."""
    value = _int(item, key, where)
    try:
        return limits.check_version_number(value, f"{where}{key}")
    except ValidationError as exc:
        raise _FileError(_where(item, key), str(exc)) from None


def _parse_deployments(data: Mapping[str, Any], numbers: set[int]) -> tuple[Deployment, ...]:
    active = _env_map(data, "active")
    previous = _env_map(data, "previous")
    canary = _env_map(data, "canary")
    feature = str(data["feature"])
    environments = sorted(set(active) | set(previous) | set(canary))
    result: list[Deployment] = []
    for env in environments:
        try:
            limits.check_environment(env)
        except ValidationError as exc:
            raise _FileError(_where(data, "active"), str(exc)) from None
        active_number = active.get(env)
        if active_number is not None and not _is_int(active_number):
            raise _FileError(_where(active, env), f"active.{env} must be a version number")
        stack = previous.get(env, [])
        if not isinstance(stack, list) or not all(_is_int(n) for n in stack):
            raise _FileError(_where(previous, env), f"previous.{env} must be a list of numbers")
        canary_number: int | None = None
        percent = 0
        if env in canary:
            entry = canary[env]
            if not isinstance(entry, Mapping) or set(entry) != {"version", "percent"}:
                raise _FileError(
                    _where(canary, env), f"canary.{env} must have 'version' and 'percent'"
                )
            canary_number = _int(entry, "version", f"canary.{env}.")
            percent = _int(entry, "percent", f"canary.{env}.")
            if not limits.MIN_PERCENT <= percent <= limits.MAX_PERCENT:
                raise _FileError(
                    _where(entry, "percent"),
                    f"canary.{env}.percent must be {limits.MIN_PERCENT}-{limits.MAX_PERCENT}",
                )
        if canary_number is not None and canary_number == active_number:
            raise _FileError(  # the store and the CLI refuse this too
                _where(canary, env),
                f"canary.{env}.version {canary_number} is the active version; "
                "a canary must be another version",
            )
        for number, key, mapping in [(active_number, env, active), (canary_number, env, canary)] + [
            (n, env, previous) for n in stack
        ]:
            if number is not None and number not in numbers:
                shown = number if number <= limits.MAX_VERSION else "out of range"
                raise _FileError(
                    _where(mapping, key), f"{env} refers to version {shown}, not in the file"
                )
        result.append(
            Deployment(
                feature=feature,
                environment=env,
                active=active_number,
                canary=canary_number,
                canary_percent=percent,
                previous=tuple(stack),
            )
        )
    return tuple(result)


def _env_map(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _FileError(_where(data, key), f"'{key}' must map environment names to values")
    return value


def _unknown_keys(item: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in item:
        if key not in allowed:
            raise _FileError(_where(item, key), f"unknown key {where}{key}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(item: Mapping[str, Any], key: str, where: str = "") -> int:
    if key not in item:
        raise _FileError(_where(item), f"missing {where}{key}")
    value = item[key]
    if not _is_int(value):
        raise _FileError(_where(item, key), f"{where}{key} must be a whole number, not {value!r}")
    return int(value)


def _text(item: Mapping[str, Any], key: str, where: str = "", *, strip: bool = True) -> str:
    if key not in item:
        raise _FileError(_where(item), f"missing {where}{key}")
    value = item[key]
    if not isinstance(value, str) or (strip and not value.strip()):
        raise _FileError(_where(item, key), f"{where}{key} must be non-empty text")
    return value.strip() if strip else value


def _optional_text(item: Mapping[str, Any], key: str, where: str) -> str | None:
    return None if item.get(key) is None else _text(item, key, where)


def _optional_time(item: Mapping[str, Any], key: str, where: str) -> datetime | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _FileError(
                _where(item, key), f"{where}{key} must be an ISO-8601 time, not {value!r}"
            ) from None
    else:
        raise _FileError(_where(item, key), f"{where}{key} must be an ISO-8601 time")
    try:
        return limits.check_timestamp(parsed, f"{where}{key}")
    except ValidationError as exc:
        raise _FileError(_where(item, key), str(exc)) from None


def _plain(value: Any, line: int | None, where: str) -> Any:
    """Loader mappings as plain dicts; anything JSON cannot hold is refused.

    Recursion is bounded: the loader refused anything nested deeper than MAX_YAML_DEPTH.
    """
    if isinstance(value, Mapping):
        return {str(k): _plain(v, _where(value, str(k)), f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, line, where) for v in value]
    if value is None or isinstance(value, str | int | float):
        return value
    raise _FileError(
        line,
        f"{where} must be text, a number, true/false, a list or a mapping "
        f"(quote it to keep it as text: {value!s})",
    )


# --- files ----------------------------------------------------------------------


def collect_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """YAML files named or found (recursively) in the directories named."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise NotFoundError(f"no such file or directory: {path}")
    if not files:
        raise NotFoundError("no YAML files found in " + ", ".join(str(p) for p in paths))
    return files


def read_files(paths: Iterable[str | os.PathLike[str]]) -> list[FeatureDocument]:
    """Parse every file, or raise for the first bad one (nothing is half-read)."""
    documents: list[FeatureDocument] = []
    for path in collect_files(paths):
        try:
            with path.open("rb") as handle:  # never read more than the limit into memory
                raw = handle.read(MAX_IMPORT_FILE_BYTES + 1)
            if len(raw) > MAX_IMPORT_FILE_BYTES:
                raise ValidationError(_file_too_big(str(path), path.stat().st_size))
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{path}: not UTF-8 text (byte {exc.start})") from None
        except OSError as exc:
            raise ValidationError(f"{path}: cannot read: {exc.strerror}") from None
        documents.append(parse_text(text, str(path)))
    return documents


# --- writing --------------------------------------------------------------------


class PythonDumper(yaml.SafeDumper):
    """PyYAML's pure-Python emitter; never writes anchors, which the loader refuses."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


CDumper: Dumper | None = None
if getattr(yaml, "__with_libyaml__", False):

    class _CDumper(yaml.CSafeDumper):
        """libyaml's emitter (C): a 10 MB prompt in well under a second, not 20 s."""

        def ignore_aliases(self, data: Any) -> bool:
            return True

    CDumper = _CDumper

DUMPER: Dumper = CDumper or PythonDumper


def _represent_str(dumper: yaml.SafeDumper | yaml.CSafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line text as a literal block, when YAML can represent it faithfully;
    # line breaks YAML would fold (CR, NEL, LS, PS) force an escaped, quoted scalar.
    if "\n" in value and _block_safe(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    if _FOLDED_BREAKS.search(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_FOLDED_BREAKS = re.compile(r"[\r\x85\u2028\u2029]")
# Literal blocks cannot hold CR or the breaks YAML folds, control characters other than
# tab, or spaces and tabs that end a line exactly; such text is quoted instead.
_BLOCK_UNSAFE = "".join(map(chr, [*range(0x09), *range(0x0B, 0x20)])) + "\x85\u2028\u2029"


def _block_safe(value: str) -> bool:
    # A few dozen substring searches (memchr), not a loop per character in Python: a
    # 10 MB prompt is checked in milliseconds.
    if value.startswith((" ", "\n")) or value.endswith((" ", "\t")):
        return False
    if " \n" in value or "\t\n" in value:
        return False
    return not any(char in value for char in _BLOCK_UNSAFE)


for _dumper in (PythonDumper, CDumper):
    if _dumper is not None:
        _dumper.add_representer(str, _represent_str)


def format_time(value: datetime) -> str:
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def document_to_data(document: FeatureDocument) -> dict[str, Any]:
    versions = [
        {
            "version": spec.number,
            "id": spec.uid,
            "model": spec.model,
            "parameters": dict(spec.parameters),
            "author": spec.author,
            "reason": spec.reason,
            "created_at": format_time(spec.created_at) if spec.created_at else None,
            "parent": spec.parent,
            "system_prompt": spec.system_prompt,
        }
        for spec in document.versions
    ]
    data: dict[str, Any] = {"feature": document.feature, "versions": versions}
    active = {d.environment: d.active for d in document.deployments if d.active is not None}
    previous = {d.environment: list(d.previous) for d in document.deployments if d.previous}
    canary = {
        d.environment: {"version": d.canary, "percent": d.canary_percent}
        for d in document.deployments
        if d.canary is not None
    }
    for key, value in (("active", active), ("previous", previous), ("canary", canary)):
        if value:
            data[key] = value
    if document.suite is not None:
        data["suite"] = _plain_data(document.suite)
    return data


def dump_suite(body: Mapping[str, Any]) -> str:
    """A suite's canonical data as YAML (what ``parse_suite_text`` reads back)."""
    text: str = yaml.dump(
        _plain_data(body), Dumper=DUMPER, sort_keys=False, allow_unicode=True, width=100
    )
    return text


def _plain_data(value: Any) -> Any:
    """Dicts and lists all the way down (stored JSON may come back as other mappings)."""
    if isinstance(value, Mapping):
        return {str(k): _plain_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_data(v) for v in value]
    return value


# PyYAML's representer recurses about three frames a level: deeper values (stored before
# promptdeck.limits bounded them) are refused by name instead of raising RecursionError.
MAX_WRITE_DEPTH = 200


def _depth(value: Any) -> int:
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping | list | tuple):
            deepest = max(deepest, depth)
            if depth > MAX_WRITE_DEPTH:
                break
            children = item.values() if isinstance(item, Mapping) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def dump_document(document: FeatureDocument, *, dumper: Dumper | None = None) -> str:
    for spec in document.versions:
        if _depth(spec.parameters) > MAX_WRITE_DEPTH:
            raise ValidationError(
                f"{document.feature} version {spec.number}: parameters are nested more than "
                f"{MAX_WRITE_DEPTH} levels deep, too deep to write as YAML"
            )
    text: str = yaml.dump(
        document_to_data(document),
        Dumper=dumper or DUMPER,
        sort_keys=False,
        allow_unicode=True,
        width=100_000,
    )
    return text


def write_documents(documents: Sequence[FeatureDocument], directory: Path) -> list[Path]:
    """One file per feature; each written to a temporary name, then renamed."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for document in documents:
        target = directory / f"{document.feature}.yaml"
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_text(dump_document(document), encoding="utf-8")
        os.replace(temporary, target)
        written.append(target)
    return written

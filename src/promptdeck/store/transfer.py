"""Import from and export to feature documents (the YAML files of yamlio.py).

An import is one unit of work: all documents, or nothing. It adds only what the store
lacks, refuses a version number that already holds other content, and sets a
deployment only where the store has none yet.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from promptdeck.errors import StoreError, ValidationError
from promptdeck.permissions import RANK, Action
from promptdeck.records import DEFAULT_ENVIRONMENT, Deployment, FeatureDocument, VersionSpec
from promptdeck.store import gates, lookups, reads
from promptdeck.store.clock import now
from promptdeck.store.driver_errors import first_line
from promptdeck.store.rows import EnvironmentRow, FeatureRow, VersionRow
from promptdeck.store.unit_of_work import UnitOfWork
from promptdeck.store.validation import (
    check_author,
    check_environment,
    check_model,
    check_parameters,
    check_percent,
    check_prompt,
    check_reason,
    check_timestamp,
    check_uid,
    check_version_number,
)

# Deterministic ids for versions imported from single-version files: re-imports match.
_IMPORT_NAMESPACE = uuid.UUID("8f0e6f2a-5d1c-4c9b-9a55-0c1f4b7d2e10")


@dataclass(frozen=True, slots=True)
class ImportResult:
    features_created: tuple[str, ...]
    versions_created: tuple[tuple[str, int], ...]
    deployments_set: tuple[tuple[str, str], ...]
    suites_saved: tuple[str, ...] = ()  # features whose suite the import changed

    @property
    def changed(self) -> bool:
        return bool(
            self.features_created
            or self.versions_created
            or self.deployments_set
            or self.suites_saved
        )


def check_documents_agree(documents: Iterable[FeatureDocument]) -> None:
    """Two files giving the same version number different content is an error."""
    seen: dict[tuple[str, int], tuple[str, str]] = {}
    for document in documents:
        for spec in document.versions:
            key = (document.feature, spec.number)
            digest = spec.content_hash
            if key in seen and seen[key][0] != digest:
                raise ValidationError(
                    f"{document.source}: version {spec.number} of {document.feature} differs "
                    f"from version {spec.number} in {seen[key][1]}"
                )
            seen[key] = (digest, document.source)


def import_documents(work: UnitOfWork, documents: Sequence[FeatureDocument]) -> ImportResult:
    """Write what ``documents`` hold and the store lacks, in ``work``."""
    created_features: list[str] = []
    created_versions: list[tuple[str, int]] = []
    deployments_set: list[tuple[str, str]] = []
    for document in documents:
        try:
            changes = _import_document(work, document)
        except ValidationError as exc:
            message = str(exc)
            if not message.startswith(document.source):
                message = f"{document.source}: {message}"
            raise ValidationError(message) from None
        except DBAPIError as exc:
            # The limits should have refused it first; should a backend still object,
            # say which file (the unit of work rolls everything back).
            raise StoreError(
                f"{document.source}: the store refused {document.feature}: {first_line(exc)}"
            ) from None
        if changes.features_created:
            created_features.append(document.feature)
        created_versions.extend(changes.versions_created)
        deployments_set.extend(changes.deployments_set)
    return ImportResult(tuple(created_features), tuple(created_versions), tuple(deployments_set))


def keeps_history(work: UnitOfWork) -> bool:
    """Whether this unit's user may import other people's history (authors, times).

    Only admins: an editor's import is recorded as the editor's own, at import time,
    so nobody can forge who wrote a version or when.
    """
    return RANK[work.role()] >= RANK["admin"]


def _import_document(work: UnitOfWork, document: FeatureDocument) -> ImportResult:
    feature_row = work.find_feature(document.feature)
    created_feature = feature_row is None
    if feature_row is None:
        work.require(Action.IMPORT)
        foreign = keeps_history(work)
        first = min(
            (spec.created_at for spec in document.versions if spec.created_at), default=None
        )
        feature_row = work.add_feature(
            document.feature,
            created_at=first if foreign else None,
            created_by=next((s.author for s in document.versions if s.author), None)
            if foreign
            else None,
        )
    new_numbers = _import_versions(work, feature_row, document)
    if new_numbers:
        work.audit(
            "import",
            document.feature,
            to_version=max(new_numbers),
            reason=f"Imported from {Path(document.source).name}",
            details={"versions": new_numbers, "source": document.source},
        )
    deployments = document.deployments
    if (
        document.single
        and not deployments
        and work.may(Action.IMPORT_DEPLOYMENTS)
        and not _protected(work, DEFAULT_ENVIRONMENT)
    ):
        # A file kept beside the code serves in production once imported, where
        # nothing is active yet and the importer may activate; editors import only.
        spec = document.versions[0]
        deployments = (Deployment(document.feature, DEFAULT_ENVIRONMENT, active=spec.number),)
    moved = tuple(
        (document.feature, wanted.environment)
        for wanted in deployments
        if _import_deployment(work, feature_row, wanted, document)
    )
    return ImportResult(
        (document.feature,) if created_feature else (),
        tuple((document.feature, n) for n in new_numbers),
        moved,
    )


def _import_versions(
    work: UnitOfWork, feature_row: FeatureRow, document: FeatureDocument
) -> list[int]:
    session = work.session
    existing: dict[int, str] = dict(
        session.execute(
            select(VersionRow.number, VersionRow.content_hash).where(
                VersionRow.feature_id == feature_row.id
            )
        ).all()
    )
    specs = sorted(document.versions, key=lambda s: s.number)
    uids = {
        spec.number: spec.uid
        or str(uuid.uuid5(_IMPORT_NAMESPACE, f"{document.feature}:{spec.content_hash}"))
        for spec in specs
    }
    # One query for every id this document would add, not one per version.
    taken = set(
        session.scalars(select(VersionRow.uid).where(VersionRow.uid.in_(set(uids.values()))))
    )
    created: list[int] = []
    foreign = keeps_history(work)
    for spec in specs:
        check_version_number(spec.number)
        if spec.parent is not None:
            check_version_number(spec.parent, "parent version")
        digest = spec.content_hash
        uid = check_uid(uids[spec.number])
        found = existing.get(spec.number)
        if found is not None:
            if found != digest:
                raise ValidationError(
                    f"{document.source}: version {spec.number} of {document.feature} already "
                    "exists in the store with other content"
                )
            continue
        if uid in taken:
            if spec.uid is None:  # same content under a new number: keep the number apart
                uid = str(uuid.uuid4())
            else:
                raise ValidationError(
                    f"{document.source}: version id {uid} is already used by another version"
                )
        taken.add(uid)
        work.require(Action.IMPORT)
        session.add(
            VersionRow(
                uid=uid,
                feature_id=feature_row.id,
                number=spec.number,
                system_prompt=check_prompt(spec.system_prompt),
                model=check_model(spec.model),
                parameters=check_parameters(spec.parameters),
                author=check_author(spec.author) if foreign and spec.author else work.user,
                reason=check_reason(spec.reason or f"Imported from {Path(document.source).name}"),
                created_at=check_timestamp(spec.created_at)
                if foreign and spec.created_at
                else now(),
                parent_number=spec.parent,
                content_hash=digest,
            )
        )
        existing[spec.number] = digest
        created.append(spec.number)
    session.flush()
    return created


def _import_deployment(
    work: UnitOfWork, feature_row: FeatureRow, wanted: Deployment, document: FeatureDocument
) -> bool:
    """Set a deployment from a file, only where the store has none yet."""
    current = work.deployment(feature_row, wanted.environment)
    if current is not None and (current.active_version_id or current.canary_version_id):
        return False
    if wanted.active is None and wanted.canary is None:
        return False
    check_environment(wanted.environment)
    if wanted.canary is not None:
        check_percent(wanted.canary_percent)
        if wanted.canary == wanted.active:
            raise ValidationError(
                f"{document.source}: {wanted.environment} names version {wanted.canary} as "
                "both the active version and the canary; a canary must be another version"
            )
    work.require(Action.IMPORT_DEPLOYMENTS)
    ids = {
        row.number: row.id
        for row in work.session.scalars(
            select(VersionRow).where(VersionRow.feature_id == feature_row.id)
        )
    }

    def version_id(number: int) -> int:
        if number not in ids:
            raise ValidationError(
                f"{document.source}: {wanted.environment} refers to version {number}, "
                "which the file does not define"
            )
        return ids[number]

    # Import brings the environments its files carry; a protected one still takes only
    # approved versions (store/gates.py), as any other move into it.
    work.ensure_environment(wanted.environment)
    for number in (wanted.active, wanted.canary):
        if number is not None:
            row = work.session.get(VersionRow, version_id(number))
            assert row is not None
            gates.pass_gate(work, feature_row, row, wanted.environment, reason="import")
    deployment = work.deployment_for_change(feature_row, wanted.environment)
    for number in wanted.previous:
        work.push_rollback(deployment, version_id(number))
    work.move(
        deployment,
        active=version_id(wanted.active) if wanted.active is not None else None,
        canary=version_id(wanted.canary) if wanted.canary is not None else None,
        percent=wanted.canary_percent if wanted.canary is not None else 0,
    )
    work.audit(
        "activate",
        feature_row.name,
        environment=wanted.environment,
        to_version=wanted.active,
        reason=f"Imported from {Path(document.source).name}",
        details={"canary": wanted.canary, "percent": wanted.canary_percent}
        if wanted.canary is not None
        else {},
    )
    return True


def _protected(work: UnitOfWork, environment: str) -> bool:
    protected = work.session.scalar(
        select(EnvironmentRow.protected).where(EnvironmentRow.name == environment)
    )
    return bool(protected)


def export_document(session: Session, feature: str) -> FeatureDocument:
    """Everything needed to rebuild the feature exactly in another store."""
    feature_row = lookups.feature_row(session, feature)
    rows = session.scalars(
        select(VersionRow)
        .where(VersionRow.feature_id == feature_row.id)
        .order_by(VersionRow.number)
    ).all()
    specs = tuple(
        VersionSpec(
            number=row.number,
            system_prompt=row.system_prompt,
            model=row.model,
            parameters=row.parameters,
            uid=row.uid,
            author=row.author,
            reason=row.reason,
            created_at=row.created_at,
            parent=row.parent_number,
        )
        for row in rows
    )
    deployments = tuple(reads.deployment_records(session.connection(), feature))
    return FeatureDocument(feature=feature, versions=specs, deployments=deployments)

"""Exclusion windows (SLA-SEMANTICS §4): who may register what, and the audit trail.

- A planned window must be registered before it starts; registering one whose start has
  passed is refused unless an admin marks it retroactive with a reason.
- Disaster windows are declared by an admin, usually afterwards, always with a reason.
- A change or a removal needs a reason. A change that touches time already past (the old
  or the new window starts before now) rewrites published numbers, so only an admin may
  make it. Removal is an admin's act too; the row is kept, marked removed.
- Every create, change and removal is written to the audit log in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.model import Catalog
from app.errors import Forbidden, InvalidInput, NotFound
from app.sla.exclusions import ExclusionKind
from app.store import audit
from app.store.models import Exclusion
from app.store.tokens import Actor


@dataclass(frozen=True, slots=True)
class ExclusionRequest:
    scope: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    retroactive: bool = False


def parse_scope(catalog: Catalog, scope: str) -> tuple[str, str | None]:
    """``system`` or ``system/service`` -> (system, service); names the valid choices."""
    parts = scope.strip().split("/")
    if len(parts) not in (1, 2) or not all(parts):
        raise InvalidInput(
            f"{scope!r} is not a scope; write a system id or system/service",
            field="scope",
            ja=f"{scope!r} は対象として不正です。システムID か システム/業務 の形で指定してください",
        )
    system_ids = [system.id for system in catalog.systems]
    if parts[0] not in system_ids:
        raise InvalidInput(
            f"unknown system {parts[0]!r}; choose one of {', '.join(system_ids)}",
            field="scope",
            ja=f"システム {parts[0]!r} はありません。次から選んでください: {', '.join(system_ids)}",
        )
    if len(parts) == 1:
        return parts[0], None
    service_ids = [service.id for service in catalog.system(parts[0]).services]
    if parts[1] not in service_ids:
        raise InvalidInput(
            f"unknown service {parts[1]!r} of {parts[0]}; choose one of {', '.join(service_ids)}",
            field="scope",
            ja=f"{parts[0]} に業務 {parts[1]!r} はありません。次から選んでください: "
            f"{', '.join(service_ids)}",
        )
    return parts[0], parts[1]


def _kind(value: str) -> ExclusionKind:
    try:
        return ExclusionKind(value)
    except ValueError:
        raise InvalidInput(
            f"unknown kind {value!r}; use planned (計画停止) or disaster (災害による停止)",
            field="kind",
            ja="種別は planned（計画停止）か disaster（災害による停止）を指定してください",
        ) from None


def _check_times(starts_at: datetime, ends_at: datetime) -> None:
    for field, value in (("start", starts_at), ("end", ends_at)):
        if value.tzinfo is None:
            raise InvalidInput(
                "give the time zone offset, e.g. 2026-10-04T01:00+09:00", field=field
            )
    if ends_at <= starts_at:
        raise InvalidInput(
            "the end must be after the start", field="end", ja="終了は開始より後にしてください"
        )


def snapshot(row: Exclusion) -> dict[str, Any]:
    """The window as the audit log and the API show it."""
    return {
        "id": row.id,
        "scope": row.scope,
        "kind": row.kind,
        "start": row.starts_at.isoformat(),
        "end": row.ends_at.isoformat(),
        "reason": row.reason,
        "retroactive": row.retroactive,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
    }


def _authorize_new(actor: Actor, kind: ExclusionKind, retroactive: bool) -> None:
    if kind is ExclusionKind.DISASTER and not actor.is_admin():
        raise Forbidden(
            "only an admin may declare a disaster window",
            field="kind",
            ja="災害による停止を登録できるのは管理者だけです",
        )
    if retroactive and not actor.is_admin():
        raise Forbidden(
            "only an admin may register a retroactive window",
            field="retroactive",
            ja="事後登録ができるのは管理者だけです",
        )
    if not actor.can_manage_planned():
        raise Forbidden(
            "registering windows needs the operator or admin role",
            ja="除外期間の登録には運用者か管理者の権限が必要です",
        )


def add_exclusion(
    session: Session,
    catalog: Catalog,
    request: ExclusionRequest,
    actor: Actor,
    *,
    now: datetime | None = None,
) -> Exclusion:
    now = now or datetime.now(UTC)
    kind = _kind(request.kind)
    system, service = parse_scope(catalog, request.scope)
    _check_times(request.starts_at, request.ends_at)
    if not request.reason.strip():
        raise InvalidInput(
            "say why the service stops (it is printed in reports)",
            field="reason",
            ja="停止の理由を入力してください（報告書に記載されます）",
        )
    _authorize_new(actor, kind, request.retroactive)
    if kind is ExclusionKind.PLANNED and request.starts_at < now and not request.retroactive:
        raise InvalidInput(
            "a planned window must be registered before it starts; this one starts in the past."
            " An admin may register it as retroactive, with a reason",
            field="start",
            ja="計画停止は開始前に登録する必要があります。この期間は過去に始まっています。"
            "管理者は理由を付けて事後登録できます",
        )
    row = Exclusion(
        system=system,
        service=service,
        kind=kind.value,
        starts_at=request.starts_at.astimezone(UTC),
        ends_at=request.ends_at.astimezone(UTC),
        reason=request.reason.strip(),
        retroactive=bool(request.retroactive and request.starts_at < now),
        created_by=actor.name,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="create",
        entity="exclusion",
        entity_id=str(row.id),
        before=None,
        after=snapshot(row),
        reason=row.reason,
        at=now,
    )
    return row


def find_exclusion(session: Session, exclusion_id: int) -> Exclusion | None:
    """The window with this id, removed or not; None when there never was one."""
    return session.get(Exclusion, exclusion_id)


def get_exclusion(session: Session, exclusion_id: int) -> Exclusion:
    row = session.get(Exclusion, exclusion_id)
    if row is None or row.removed_at is not None:
        raise NotFound(f"no exclusion window with id {exclusion_id}", field="id")
    return row


def _excludes_past_anew(
    registered: tuple[datetime, datetime] | None,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
) -> bool:
    """Whether the changed window covers past time the planned window did not cover before.

    That time is excluded after the fact, which is what ``retroactive`` records (the audit
    trail and the reports show it), however the window got there: moved earlier, extended
    past an end already gone, or turned from a disaster into a planned window. A change
    that stays inside what was registered (shortening an ongoing window, say) is not.
    """
    past_end = min(ends_at, now)
    if starts_at >= past_end:
        return False  # nothing of the window is in the past
    if registered is None:
        return True
    return starts_at < registered[0] or past_end > registered[1]


def update_exclusion(
    session: Session,
    catalog: Catalog,
    exclusion_id: int,
    *,
    actor: Actor,
    reason: str,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    window_reason: str | None = None,
    kind: str | None = None,
    now: datetime | None = None,
) -> Exclusion:
    now = now or datetime.now(UTC)
    row = get_exclusion(session, exclusion_id)
    if not reason.strip():
        raise InvalidInput(
            "a change needs a reason (it goes to the audit log)", field="change_reason"
        )
    new_kind = _kind(kind) if kind is not None else ExclusionKind(row.kind)
    new_start = starts_at if starts_at is not None else row.starts_at
    new_end = ends_at if ends_at is not None else row.ends_at
    _check_times(new_start, new_end)
    _authorize_new(actor, new_kind, False)
    touches_past = min(row.starts_at, new_start) < now
    if touches_past and not actor.is_admin():
        raise Forbidden(
            "this change touches time already past and would rewrite published figures;"
            " only an admin may make it"
        )
    before = snapshot(row)
    was_planned = ExclusionKind(row.kind) is ExclusionKind.PLANNED
    if new_kind is ExclusionKind.PLANNED and _excludes_past_anew(
        (row.starts_at, row.ends_at) if was_planned else None, new_start, new_end, now
    ):
        row.retroactive = True
    row.kind = new_kind.value
    row.starts_at = new_start.astimezone(UTC)
    row.ends_at = new_end.astimezone(UTC)
    if window_reason is not None:
        if not window_reason.strip():
            raise InvalidInput("the window's reason cannot be empty", field="reason")
        row.reason = window_reason.strip()
    row.updated_by = actor.name
    row.updated_at = now
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="update",
        entity="exclusion",
        entity_id=str(row.id),
        before=before,
        after=snapshot(row),
        reason=reason.strip(),
        at=now,
    )
    return row


def remove_exclusion(
    session: Session, exclusion_id: int, *, actor: Actor, reason: str, now: datetime | None = None
) -> Exclusion:
    now = now or datetime.now(UTC)
    if not actor.is_admin():
        raise Forbidden("only an admin may remove an exclusion window")
    if not reason.strip():
        raise InvalidInput("a removal needs a reason (it goes to the audit log)", field="reason")
    row = get_exclusion(session, exclusion_id)
    before = snapshot(row)
    row.removed_by = actor.name
    row.removed_at = now
    row.removal_reason = reason.strip()
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="delete",
        entity="exclusion",
        entity_id=str(row.id),
        before=before,
        after=None,
        reason=reason.strip(),
        at=now,
    )
    return row


def list_exclusions(
    session: Session,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    system: str | None = None,
) -> list[Exclusion]:
    """Active (not removed) windows, optionally those overlapping [start, end)."""
    query = select(Exclusion).where(Exclusion.removed_at.is_(None))
    if start is not None:
        query = query.where(Exclusion.ends_at > start)
    if end is not None:
        query = query.where(Exclusion.starts_at < end)
    if system is not None:
        query = query.where(Exclusion.system == system)
    return list(session.execute(query.order_by(Exclusion.starts_at, Exclusion.id)).scalars())

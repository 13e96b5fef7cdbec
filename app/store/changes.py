"""A change counter every replica can poll: the audit log, read as a generation number.

Every write that changes figures apart from arriving observations (exclusion windows,
tokens, runners forgotten, and whatever later writes must be audited under
SLA-SEMANTICS §4 and §9) is recorded in the append-only audit log in the same
transaction. So the audit log's size and its highest id change exactly when such a
write commits, in any process: a replica that reads them on each refresh notices a
write made by another replica (or by the ``kadou`` command line) without an extra table,
a trigger, or ``LISTEN`` (which a pooler in transaction mode would break). Both numbers
are read because ids are taken at insert but become visible at commit: a transaction that
took a lower id and commits later does not raise the highest id, but it does add a row.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.store.models import AuditEntry


def change_generation(session: Session) -> tuple[int, int]:
    """(rows, highest id) of the audit log: different after any audited write commits."""
    rows, highest = session.execute(
        select(func.count(), func.coalesce(func.max(AuditEntry.id), 0)).select_from(AuditEntry)
    ).one()
    return int(rows), int(highest)

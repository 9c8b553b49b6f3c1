"""The audit log: every staff action (log in, take over, reply, note, hand back, close,
export, account changes), who did it and when; and which staff tasks are done."""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.handoff.lifecycle import insert_ignoring_duplicates
from bot.handoff.schema import audit_log, task_status


class AuditStore:
    """Audit entries and task states of the handoff database."""

    engine: Engine

    def audit(self, staff_name: str, action: str, sender_id: Optional[str] = None, detail: str = "") -> None:
        """Record a staff action."""
        with self.engine.begin() as conn:
            conn.execute(
                audit_log.insert().values(
                    at=time.time(), staff=staff_name, action=action, sender_id=sender_id, detail=detail[:2000]
                )
            )

    def audit_entries(self, limit: int = 200, sender_id: Optional[str] = None) -> List[Dict[str, Any]]:
        """The newest audit entries first."""
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if sender_id:
            query = query.where(audit_log.c.sender_id == sender_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def done_tasks(self, kind: str) -> Dict[str, Dict[str, Any]]:
        """Which items of a task kind staff marked done: item id → {done_at, done_by}."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(task_status).where(task_status.c.kind == kind)).mappings()
            return {r["item_id"]: dict(r) for r in rows}

    def mark_task_done(self, kind: str, item_id: str, staff_name: str) -> None:
        """Mark one task done (idempotent: the first who marked it is kept)."""
        with self.engine.begin() as conn:
            insert_ignoring_duplicates(
                conn, task_status, kind=kind, item_id=item_id, done_at=time.time(), done_by=staff_name
            )


__all__ = ["AuditStore"]

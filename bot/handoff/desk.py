"""Staff working aids: canned responses (with variables) and conversation labels.

Canned responses are shared by all staff and editable by them; staff pick one by typing
"/" and its shortcut, or from the list, and may edit it before sending. Variables in
the text are filled for the conversation at hand: ``{company}`` (the company, when the
assistant learnt it), ``{staff}`` (how the user sees the staff member, "工作人员 小王").
An unknown variable stays as written, so a typo is visible instead of failing.

Labels are short tags on a conversation ("补贴", "紧急"), shown in the list, usable as a
filter, searchable.
"""

from __future__ import annotations

import re
import string
import time
from typing import Any, Dict, List, Mapping, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.handoff.accounts import StaffMember
from bot.handoff.lifecycle import HandoffError
from bot.handoff.schema import canned_responses, labels

MAX_SHORTCUT_CHARS = 32
MAX_CANNED_CHARS = 2000
MAX_LABEL_CHARS = 16
_SHORTCUT = re.compile(r"^[\w\u4e00-\u9fff-]{1,32}$")


class _KeepUnknown(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill_variables(text: str, conversation: Mapping[str, Any], member: StaffMember) -> str:
    """``text`` with ``{company}`` and ``{staff}`` filled for ``conversation``."""
    values = _KeepUnknown(company=conversation.get("company") or "贵公司", staff=member.public_name)
    try:
        return string.Formatter().vformat(text, (), values)
    except (ValueError, IndexError):  # stray braces: send as written
        return text


class DeskStore:
    """Canned responses and labels in the handoff database."""

    engine: Engine

    def canned(self) -> List[Dict[str, Any]]:
        """Every canned response, by shortcut."""
        with self.engine.connect() as conn:
            return [
                dict(r)
                for r in conn.execute(sa.select(canned_responses).order_by(canned_responses.c.shortcut)).mappings()
            ]

    def save_canned(self, shortcut: str, text: str, staff_name: str) -> Dict[str, Any]:
        """Create or replace the canned response ``shortcut``."""
        shortcut, text = shortcut.strip().lstrip("/"), text.strip()
        if not _SHORTCUT.match(shortcut):
            raise ValueError(f"快捷词需要 1–{MAX_SHORTCUT_CHARS} 个字（中文、字母、数字、- 或 _）。")
        if not text or len(text) > MAX_CANNED_CHARS:
            raise ValueError(f"内容需要 1–{MAX_CANNED_CHARS} 个字。")
        now = time.time()
        with self.engine.begin() as conn:
            updated = conn.execute(
                canned_responses.update()
                .where(canned_responses.c.shortcut == shortcut)
                .values(text=text, updated_by=staff_name, updated_at=now)
            )
            if updated.rowcount == 0:
                conn.execute(
                    canned_responses.insert().values(
                        shortcut=shortcut, text=text, updated_by=staff_name, updated_at=now
                    )
                )
            return dict(
                conn.execute(sa.select(canned_responses).where(canned_responses.c.shortcut == shortcut))
                .mappings()
                .one()
            )

    def delete_canned(self, shortcut: str) -> bool:
        """Remove a canned response; False when there was none."""
        with self.engine.begin() as conn:
            return bool(conn.execute(canned_responses.delete().where(canned_responses.c.shortcut == shortcut)).rowcount)

    def add_label(self, sender_id: str, label: str, staff_name: str) -> List[str]:
        """Tag a conversation; returns its labels."""
        label = label.strip()
        if not label or len(label) > MAX_LABEL_CHARS or "," in label:
            raise ValueError(f"标签需要 1–{MAX_LABEL_CHARS} 个字，且不含逗号。")
        with self.engine.begin() as conn:
            if self._missing(conn, sender_id):
                raise HandoffError("没有这个对话。")
            exists = conn.execute(
                sa.select(labels.c.label).where(labels.c.sender_id == sender_id, labels.c.label == label)
            ).first()
            if not exists:
                conn.execute(
                    labels.insert().values(sender_id=sender_id, label=label, added_by=staff_name, added_at=time.time())
                )
        return self.labels_of(sender_id)

    def remove_label(self, sender_id: str, label: str) -> List[str]:
        """Untag a conversation; returns its labels."""
        with self.engine.begin() as conn:
            conn.execute(labels.delete().where(labels.c.sender_id == sender_id, labels.c.label == label))
        return self.labels_of(sender_id)

    def labels_of(self, sender_id: str) -> List[str]:
        """A conversation's labels, alphabetically."""
        with self.engine.connect() as conn:
            return [
                r.label
                for r in conn.execute(
                    sa.select(labels.c.label).where(labels.c.sender_id == sender_id).order_by(labels.c.label)
                )
            ]

    def all_labels(self) -> List[Dict[str, Any]]:
        """Every label in use with how many conversations carry it."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(labels.c.label, sa.func.count().label("conversations"))
                .group_by(labels.c.label)
                .order_by(labels.c.label)
            )
            return [{"label": r.label, "conversations": int(r.conversations)} for r in rows]

    @staticmethod
    def _missing(conn: sa.engine.Connection, sender_id: str) -> bool:
        from bot.handoff.schema import conversations

        return (
            conn.execute(sa.select(conversations.c.sender_id).where(conversations.c.sender_id == sender_id)).first()
            is None
        )


def canned_for(
    items: List[Dict[str, Any]], conversation: Optional[Mapping[str, Any]], member: StaffMember
) -> List[Dict[str, Any]]:
    """Canned responses with their text filled for ``conversation``."""
    return [{**item, "filled": fill_variables(item["text"], conversation or {}, member)} for item in items]


__all__ = ["DeskStore", "fill_variables", "canned_for"]

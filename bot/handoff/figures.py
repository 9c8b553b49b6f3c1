"""What a supervisor runs the service by: volumes, handoffs, reply times, and the
questions the assistant could not answer, grouped by similarity.

First human reply is measured from the handoff request (or the take-over, when staff
stepped in unasked) to the first message a staff member wrote; the greeting sent on
take-over is a system notice and does not count.
"""
from __future__ import annotations

import statistics
import time
from datetime import datetime
from typing import Any, Dict, Iterable, List, Optional, Tuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.handoff.privacy import mask_personal_data
from bot.handoff.schema import conversations, handoffs, messages
from bot.stats import percentile

#: Why the assistant could not answer a message (set by the assistant's ``unanswered``
#: slot, or inferred from the action it fell back to).
UNANSWERED_REASONS = ("fallback", "not_found", "out_of_scope", "partial")
#: Actions whose running means the assistant did not understand the user.
FALLBACK_ACTIONS = frozenset({"action_fallback", "action_default_fallback", "utter_default"})
OUT_OF_SCOPE_ACTIONS = frozenset({"utter_out_of_scope"})
#: Two questions are one group when their characters and character pairs overlap this
#: much (mean of the two Jaccard indexes): wording and word order may differ.
SIMILARITY = 0.5

Grams = Tuple[frozenset, frozenset]


def _grams(text: str) -> Grams:
    compact = "".join(ch for ch in text.lower() if ch.isalnum())
    pairs = frozenset(compact[i : i + 2] for i in range(len(compact) - 1)) or frozenset({compact})
    return frozenset(compact), pairs


def _jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def similarity(a: Grams, b: Grams) -> float:
    """How alike two questions are, 0–1 (characters and character pairs)."""
    return (_jaccard(a[0], b[0]) + _jaccard(a[1], b[1])) / 2


def group_questions(rows: Iterable[Tuple[str, str, str]], threshold: float = SIMILARITY) -> List[Dict[str, Any]]:
    """Group (text, reason, sender_id) rows of unanswered questions: each group has its
    most frequent wording, other wordings, how often it was asked, by how many
    conversations, and the reasons. Largest groups first; text masked."""
    groups: List[Dict[str, Any]] = []
    for text, reason, sender_id in rows:
        text = mask_personal_data(text.strip())
        if not text:
            continue
        grams = _grams(text)
        best, best_score = None, threshold
        for group in groups:
            score = similarity(grams, group["grams"])
            if score >= best_score:
                best, best_score = group, score
        if best is None:
            best = {"grams": grams, "wordings": {}, "reasons": {}, "senders": set()}
            groups.append(best)
        best["wordings"][text] = best["wordings"].get(text, 0) + 1
        best["reasons"][reason] = best["reasons"].get(reason, 0) + 1
        best["senders"].add(sender_id)
    result = []
    for group in groups:
        wordings = sorted(group["wordings"].items(), key=lambda item: (-item[1], item[0]))
        result.append(
            {
                "question": wordings[0][0],
                "times": sum(group["wordings"].values()),
                "conversations": len(group["senders"]),
                "wordings": [{"text": text, "times": times} for text, times in wordings[:10]],
                "reasons": group["reasons"],
            }
        )
    result.sort(key=lambda g: (-g["times"], g["question"]))
    return result


def unanswered_reason(row: Any) -> Optional[str]:
    """Why a stored user message went unanswered, or None if it was answered."""
    if row.unanswered:
        return str(row.unanswered)
    if row.next_action in FALLBACK_ACTIONS:
        return "fallback"
    if row.next_action in OUT_OF_SCOPE_ACTIONS:
        return "out_of_scope"
    return None


def _count(values: Iterable[str]) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


class FigureStore:
    """Figures and unanswered questions from the handoff database."""

    engine: Engine
    timezone: ZoneInfo

    def unanswered_questions(self, days: int = 30, now: Optional[float] = None, limit: int = 50) -> Dict[str, Any]:
        """User messages the assistant could not answer in the last ``days`` days,
        grouped by similarity: ``{"groups", "messages"}``."""
        since = (now or time.time()) - days * 86400
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(messages.c.text, messages.c.sender_id, messages.c.unanswered, messages.c.next_action)
                .where(
                    messages.c.kind == "user",
                    messages.c.at >= since,
                    sa.or_(
                        messages.c.unanswered.is_not(None),
                        messages.c.next_action.in_(FALLBACK_ACTIONS | OUT_OF_SCOPE_ACTIONS),
                    ),
                )
                .order_by(messages.c.at)
            ).all()
        found = [(r.text, unanswered_reason(r) or "fallback", r.sender_id) for r in rows if not r.text.startswith("/")]
        return {"groups": group_questions(found)[:limit], "messages": len(found)}

    def figures(self, days: int = 30, now: Optional[float] = None) -> Dict[str, Any]:
        """What a supervisor runs the service by, over the last ``days`` days."""
        now = now or time.time()
        since = now - days * 86400
        with self.engine.connect() as conn:
            started = [
                r.started_at
                for r in conn.execute(
                    sa.select(conversations.c.started_at).where(
                        conversations.c.started_at >= since, conversations.c.message_count > 0
                    )
                )
            ]
            handoff_rows = conn.execute(sa.select(handoffs).where(handoffs.c.requested_at >= since)).mappings().all()
        per_day: Dict[str, int] = {}
        for at in started:
            day = datetime.fromtimestamp(at, self.timezone).strftime("%Y-%m-%d")
            per_day[day] = per_day.get(day, 0) + 1
        requested = [h for h in handoff_rows if h["reason"] != "staff_initiated"]
        handed = {h["sender_id"] for h in requested}
        total = len(started)
        waits = [h["first_reply_at"] - h["requested_at"] for h in handoff_rows if h["first_reply_at"]]
        unanswered = self.unanswered_questions(days, now, limit=20)
        return {
            "days": days,
            "conversations": total,
            "conversations_per_day": sorted(per_day.items()),
            "handoff_requests": len(requested),
            "handoff_rate": (len(handed) / total) if total else None,
            "containment": (1 - len(handed) / total) if total else None,
            "handoff_reasons": _count(h["reason"] for h in handoff_rows),
            "first_reply_median_s": statistics.median(waits) if waits else None,
            "first_reply_p90_s": percentile(waits, 90) if waits else None,
            "waiting_now": sum(1 for h in handoff_rows if h["status"] == "waiting"),
            "unanswered_messages": unanswered["messages"],
            "top_failed_questions": [
                {"text": g["question"], "times": g["times"], "conversations": g["conversations"]}
                for g in unanswered["groups"]
            ],
        }


__all__ = ["FigureStore", "group_questions", "UNANSWERED_REASONS"]

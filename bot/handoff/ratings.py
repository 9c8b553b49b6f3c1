"""Ratings of the service after a conversation with staff (五级: 非常满意 … 非常不满意).

When staff hand a conversation back or close it, the user is asked to rate it with
five buttons (:func:`rating_buttons`) on every channel; the payload of each button is
``/rate_service{"score": N}``. Channels do not pass these payloads to the assistant:
they record the rating here (:meth:`RatingStore.record_rating`) and thank the user,
who may then write a comment (kept with the rating). Ratings feed the figures.
"""
from __future__ import annotations

import json
import re
import time
from typing import Any, Dict, List, Optional

import sqlalchemy as sa

from bot.handoff.schema import conversations, handoffs, messages, ratings
from bot.handoff.transactions import Transactions

#: Score → what the user reads on the button.
SCALE = {5: "非常满意", 4: "满意", 3: "一般", 2: "不满意", 1: "非常不满意"}
RATING_INTENT = "rate_service"
_PAYLOAD = re.compile(r"^/rate_service(\{.*\})?$")
#: How long after a handoff ended it can still be rated, and a comment added.
RATING_WINDOW_S = 24 * 3600
COMMENT_WINDOW_S = 600
MAX_COMMENT_CHARS = 500


def rating_buttons() -> List[Dict[str, str]]:
    """The five rating buttons, best first."""
    return [
        {"title": title, "payload": f'/{RATING_INTENT}{json.dumps({"score": score})}'}
        for score, title in SCALE.items()
    ]


def rating_score(text: Optional[str]) -> Optional[int]:
    """The score of a rating payload, or None when ``text`` is no (valid) rating payload."""
    match = _PAYLOAD.match((text or "").strip())
    if not match or not match.group(1):
        return None
    try:
        score = json.loads(match.group(1)).get("score")
    except (ValueError, AttributeError):
        return None
    return score if isinstance(score, int) and score in SCALE else None


def is_rating_payload(text: Optional[str]) -> bool:
    """Whether ``text`` addresses the rating (valid or not)."""
    return bool(_PAYLOAD.match((text or "").strip()))


class RatingStore(Transactions):
    """Ratings in the handoff database."""

    def record_rating(self, sender_id: str, score: int, at: Optional[float] = None) -> Optional[Dict[str, Any]]:
        """Rate the conversation's latest ended handoff (once; within a day of its end).
        Returns the rating, or None when there is nothing to rate."""
        at = at or time.time()
        if score not in SCALE:
            raise ValueError("score must be 1–5")
        with self.engine.begin() as conn:
            handoff = conn.execute(
                sa.select(handoffs)
                .where(
                    handoffs.c.sender_id == sender_id,
                    handoffs.c.status == "ended",
                    handoffs.c.taken_at.is_not(None),
                    handoffs.c.ended_at >= at - RATING_WINDOW_S,
                )
                .order_by(handoffs.c.ended_at.desc())
                .limit(1)
            ).mappings().first()
            if handoff is None:
                return None
            existing = conn.execute(sa.select(ratings).where(ratings.c.handoff_id == handoff["id"])).mappings().first()
            if existing is not None:
                return dict(existing)
            conn.execute(
                ratings.insert().values(
                    sender_id=sender_id, handoff_id=handoff["id"], staff=handoff["taken_by"], score=score, at=at
                )
            )
            conn.execute(
                messages.insert().values(
                    sender_id=sender_id, at=at, kind="system", text=f"用户评价：{SCALE[score]}（{score} 分）"
                )
            )
            conn.execute(conversations.update().where(conversations.c.sender_id == sender_id).values(rated_at=at))
            return dict(conn.execute(sa.select(ratings).where(ratings.c.handoff_id == handoff["id"])).mappings().one())

    @staticmethod
    def may_be_rating_comment(conversation: Optional[Dict[str, Any]], at: float) -> bool:
        """Whether a user message at ``at`` in ``conversation`` may comment a fresh rating."""
        rated_at = (conversation or {}).get("rated_at")
        return rated_at is not None and 0 <= at - float(rated_at) <= COMMENT_WINDOW_S

    def add_rating_comment(self, sender_id: str, text: str, at: Optional[float] = None) -> bool:
        """Keep ``text`` as the comment of a rating given in the last minutes (if it has
        none yet); False when there is no such rating."""
        at = at or time.time()
        with self.transaction() as conn:
            rating = conn.execute(
                sa.select(ratings.c.id)
                .where(
                    ratings.c.sender_id == sender_id,
                    ratings.c.comment.is_(None),
                    ratings.c.at >= at - COMMENT_WINDOW_S,
                )
                .order_by(ratings.c.at.desc())
                .limit(1)
            ).first()
            if rating is None:
                return False
            conn.execute(ratings.update().where(ratings.c.id == rating.id).values(comment=text[:MAX_COMMENT_CHARS]))
            return True

    def rating_of(self, sender_id: str) -> List[Dict[str, Any]]:
        """A conversation's ratings, oldest first."""
        with self.engine.connect() as conn:
            return [
                dict(r)
                for r in conn.execute(
                    sa.select(ratings).where(ratings.c.sender_id == sender_id).order_by(ratings.c.at)
                ).mappings()
            ]


__all__ = ["SCALE", "RatingStore", "rating_buttons", "rating_score", "is_rating_payload"]

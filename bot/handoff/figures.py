"""What a supervisor runs the service by: volumes, handoffs, reply times, ratings, and
the questions the assistant could not answer, grouped by similarity.

Per handoff, all measured from the request (or the take-over, when staff stepped in
unasked):

- **waiting**: until a staff member took it (still waiting: until now);
- **first human reply**: until the first message a staff member wrote (the greeting
  sent on take-over is a system notice and does not count);
- **resolution**: until staff handed it back or closed it.

Figures come per agent (who held it at the end), per team (the team it was queued for,
else the agent's teams), per day (in the office time zone) and overall; a handoff
breaches the SLA when its wait or first reply exceeds the target (one still without a
reply breaches once the target has passed). Texts are masked; figures name no users.
"""
from __future__ import annotations

import statistics
import time
from datetime import datetime
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.handoff.accounts import split_teams
from bot.handoff.privacy import mask_personal_data
from bot.handoff.schema import audit_log, conversations, handoffs, messages, ratings, staff
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


NO_TEAM = "未分组"


def _median(values: List[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def handoff_times(handoff: Mapping[str, Any], now: float) -> Dict[str, Optional[float]]:
    """Waiting, first human reply and resolution of one handoff, in seconds."""
    start = handoff["requested_at"]
    if handoff["taken_at"] is not None:
        waiting: Optional[float] = handoff["taken_at"] - start
    elif handoff["status"] == "waiting":
        waiting = now - start
    else:  # ended before anyone took it (handed back from the queue, restarted)
        waiting = None
    return {
        "waiting_s": waiting,
        "first_reply_s": handoff["first_reply_at"] - start if handoff["first_reply_at"] else None,
        "resolution_s": handoff["ended_at"] - start if handoff["ended_at"] else None,
    }


def breaches(handoff: Mapping[str, Any], times: Mapping[str, Optional[float]], now: float,
             sla_first_reply_s: float, sla_waiting_s: float) -> List[str]:
    """Which SLA targets a handoff missed: ``waiting``, ``first_reply``."""
    missed = []
    if times["waiting_s"] is not None and times["waiting_s"] > sla_waiting_s:
        missed.append("waiting")
    first = times["first_reply_s"]
    if first is None and handoff["status"] != "ended":
        first = now - handoff["requested_at"]
    if first is not None and first > sla_first_reply_s:
        missed.append("first_reply")
    return missed


def _summary(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    scores = [r["score"] for r in rows if r.get("score") is not None]
    return {
        "handoffs": len(rows),
        "waiting_median_s": _median([r["waiting_s"] for r in rows if r["waiting_s"] is not None]),
        "first_reply_median_s": _median([r["first_reply_s"] for r in rows if r["first_reply_s"] is not None]),
        "resolution_median_s": _median([r["resolution_s"] for r in rows if r["resolution_s"] is not None]),
        "sla_breaches": sum(1 for r in rows if r["breaches"]),
        "ratings": len(scores),
        "rating_average": round(sum(scores) / len(scores), 2) if scores else None,
    }


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

    def figures(
        self,
        days: int = 30,
        now: Optional[float] = None,
        sla_first_reply_s: float = 120,
        sla_waiting_s: float = 300,
    ) -> Dict[str, Any]:
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
            handoff_rows = conn.execute(
                sa.select(handoffs).where(handoffs.c.requested_at >= since).order_by(handoffs.c.requested_at)
            ).mappings().all()
            scores = {
                r.handoff_id: r.score
                for r in conn.execute(sa.select(ratings.c.handoff_id, ratings.c.score).where(ratings.c.at >= since))
            }
            # Users told "service busy" because the action server was down (bot.channels.service).
            busy_notices = conn.execute(
                sa.select(sa.func.count())
                .select_from(audit_log)
                .where(audit_log.c.action == "service_busy", audit_log.c.at >= since)
            ).scalar_one()
            teams_of = {
                r.username: split_teams(r.teams) for r in conn.execute(sa.select(staff.c.username, staff.c.teams))
            }

        def day_of(at: float) -> str:
            return datetime.fromtimestamp(at, self.timezone).strftime("%Y-%m-%d")

        measured: List[Dict[str, Any]] = []
        for h in handoff_rows:
            times = handoff_times(h, now)
            measured.append(
                {
                    **times,
                    "sender_id": h["sender_id"],
                    "reason": h["reason"],
                    "requested_at": h["requested_at"],
                    "agent": h["taken_by"],
                    "teams": [h["team"]] if h["team"] else list(teams_of.get(h["taken_by"] or "", ())) or [NO_TEAM],
                    "day": day_of(h["requested_at"]),
                    "score": scores.get(h["id"]),
                    "breaches": breaches(h, times, now, sla_first_reply_s, sla_waiting_s),
                }
            )
        per_day_started: Dict[str, int] = {}
        for at in started:
            per_day_started[day_of(at)] = per_day_started.get(day_of(at), 0) + 1
        requested = [h for h in handoff_rows if h["reason"] != "staff_initiated"]
        handed = {h["sender_id"] for h in requested}
        total = len(started)
        waits = [m["first_reply_s"] for m in measured if m["first_reply_s"] is not None]

        def grouped(key) -> Dict[str, Dict[str, Any]]:
            groups: Dict[str, List[Dict[str, Any]]] = {}
            for m in measured:
                for name in key(m):
                    groups.setdefault(name, []).append(m)
            return {name: _summary(rows) for name, rows in sorted(groups.items())}

        per_day = grouped(lambda m: [m["day"]])
        days_table = []
        for day in sorted(set(per_day_started) | set(per_day)):
            handed_that_day = {m["sender_id"] for m in measured if m["day"] == day and m["reason"] != "staff_initiated"}
            started_that_day = per_day_started.get(day, 0)
            days_table.append(
                {
                    "day": day,
                    "conversations": started_that_day,
                    "handoff_rate": len(handed_that_day) / started_that_day if started_that_day else None,
                    **per_day.get(day, _summary([])),
                }
            )
        unanswered = self.unanswered_questions(days, now, limit=20)
        all_scores = [m["score"] for m in measured if m["score"] is not None]
        return {
            "days": days,
            "conversations": total,
            "conversations_per_day": sorted(per_day_started.items()),
            "handoff_requests": len(requested),
            "handoff_rate": (len(handed) / total) if total else None,
            "containment": (1 - len(handed) / total) if total else None,
            "handoff_reasons": _count(h["reason"] for h in handoff_rows),
            "first_reply_median_s": statistics.median(waits) if waits else None,
            "first_reply_p90_s": percentile(waits, 90) if waits else None,
            "waiting_now": sum(1 for h in handoff_rows if h["status"] == "waiting"),
            "service_busy_notices": busy_notices,
            "overall": _summary(measured),
            "ratings": {str(score): all_scores.count(score) for score in range(5, 0, -1)},
            "sla": {"first_reply_s": sla_first_reply_s, "waiting_s": sla_waiting_s},
            "per_agent": grouped(lambda m: [m["agent"]] if m["agent"] else []),
            "per_team": grouped(lambda m: m["teams"]),
            "per_day": days_table,
            "breaches": [
                {
                    "sender_id": m["sender_id"],
                    "requested_at": m["requested_at"],
                    "agent": m["agent"],
                    "missed": m["breaches"],
                    "waiting_s": m["waiting_s"],
                    "first_reply_s": m["first_reply_s"],
                }
                for m in measured
                if m["breaches"]
            ],
            "unanswered_messages": unanswered["messages"],
            "top_failed_questions": [
                {"text": g["question"], "times": g["times"], "conversations": g["conversations"]}
                for g in unanswered["groups"]
            ],
        }


__all__ = ["FigureStore", "group_questions", "UNANSWERED_REASONS"]

"""The handoff lifecycle: the states of a conversation and the one table of transitions.

Every change of a conversation's status, by the assistant, the user or staff, is
decided by :func:`decide` from :data:`TRANSITIONS` and the ownership rule below; the
console's buttons come from :func:`allowed_actions`, which asks the same function, so a
button is shown exactly when pressing it would be accepted.

Ownership: while a staff member holds a conversation, only they reply to the user;
only they or a supervisor (or admin) hand it back or close it; a supervisor may take it
over from them (and then replies as its holder).
"""
from __future__ import annotations

import time
from enum import Enum
from typing import Any, Dict, List, Mapping, Optional, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.db import DirectStatement, insert_unless_stored
from bot.handoff.accounts import StaffMember
from bot.handoff.schema import conversations, handoffs
from bot.handoff.transactions import Transactions


class Status(str, Enum):
    """Where a conversation is, as the console shows it."""

    #: With the assistant.
    BOT = "bot"
    #: The user asked for a person; nobody has taken it yet.
    WAITING = "waiting"
    #: A staff member holds it (the assistant is paused).
    STAFF = "staff"
    #: Staff closed it (a new user message gives it back to the assistant).
    CLOSED = "closed"


class Action(str, Enum):
    """What can happen to a conversation."""

    #: The assistant queues the conversation for a person (the user asked, or it kept failing).
    REQUEST = "request"
    TAKE_OVER = "take_over"
    REPLY = "reply"
    HAND_BACK = "hand_back"
    CLOSE = "close"
    #: To a colleague (who then holds it).
    TRANSFER = "transfer"
    #: To a team's queue (it waits again, for that team).
    TRANSFER_TEAM = "transfer_team"
    #: The user writes (only changes a closed conversation).
    USER_WRITES = "user_writes"
    #: The conversation restarted (Rasa's ``restart`` event): nobody holds it any more.
    RESTART = "restart"


B, W, S, C = Status.BOT, Status.WAITING, Status.STAFF, Status.CLOSED

#: (action, current status) → new status. A pair that is not here is refused.
TRANSITIONS: Mapping[Tuple[Action, Status], Status] = {
    (Action.REQUEST, B): W,
    (Action.REQUEST, C): W,
    (Action.REQUEST, W): W,  # asking again keeps the place in the queue
    (Action.REQUEST, S): S,  # already with a person
    (Action.TAKE_OVER, B): S,  # staff may step in unasked
    (Action.TAKE_OVER, W): S,
    (Action.TAKE_OVER, C): S,
    (Action.TAKE_OVER, S): S,  # a supervisor taking over from a colleague
    (Action.REPLY, S): S,
    (Action.TRANSFER, S): S,
    (Action.TRANSFER_TEAM, S): W,
    (Action.TRANSFER_TEAM, W): W,
    (Action.HAND_BACK, S): B,
    (Action.HAND_BACK, W): B,
    (Action.CLOSE, S): C,
    (Action.CLOSE, W): C,
    (Action.CLOSE, B): C,
    (Action.USER_WRITES, B): B,
    (Action.USER_WRITES, W): W,
    (Action.USER_WRITES, S): S,
    (Action.USER_WRITES, C): B,
    (Action.RESTART, B): B,
    (Action.RESTART, W): B,
    (Action.RESTART, S): B,
    (Action.RESTART, C): B,
}

#: Staff actions the console offers, in button order.
STAFF_ACTIONS = (
    Action.TAKE_OVER,
    Action.REPLY,
    Action.TRANSFER,
    Action.TRANSFER_TEAM,
    Action.HAND_BACK,
    Action.CLOSE,
)
#: Actions on a staff-held conversation that only its holder or a supervisor may do.
HOLDER_ACTIONS = frozenset({Action.HAND_BACK, Action.CLOSE, Action.TRANSFER, Action.TRANSFER_TEAM})

#: Why an action does not fit the conversation's status (shown to staff as is).
_REFUSALS: Dict[Action, str] = {
    Action.REPLY: "请先接管该对话再回复。",
    Action.HAND_BACK: "该对话不在人工接待中，无需交还。",
    Action.CLOSE: "该对话已结束。",
    Action.TRANSFER: "只能转交正在人工接待的对话，请先接管。",
    Action.TRANSFER_TEAM: "只能转交等待中或人工接待中的对话。",
}


class HandoffError(ValueError):
    """A handoff operation that does not fit the conversation's state (message for staff)."""


class HandoffConflict(HandoffError):
    """The action is refused because of the conversation's status or holder (HTTP 409)."""


def decide(action: Action, conversation: Mapping[str, Any], member: Optional[StaffMember] = None) -> Status:
    """The status ``conversation`` moves to when ``member`` (None: the user or the
    assistant) does ``action``; raises :class:`HandoffConflict` when refused."""
    status = Status(conversation["status"])
    target = TRANSITIONS.get((action, status))
    if target is None:
        raise HandoffConflict(_REFUSALS.get(action, "该操作与对话当前状态不符。"))
    holder = conversation.get("assigned_to")
    if member is not None and status is Status.STAFF and holder and holder != member.username:
        if action is Action.REPLY:
            raise HandoffConflict(f"{holder} 正在接待该对话，请先接管后再回复。")
        if not member.is_supervisor and (action is Action.TAKE_OVER or action in HOLDER_ACTIONS):
            raise HandoffConflict(f"{holder} 正在接待该对话，只有接待人或主管可以操作。")
    return target


def holds(conversation: Mapping[str, Any], member: StaffMember) -> bool:
    """Whether ``member`` holds the conversation now."""
    return conversation["status"] == Status.STAFF.value and conversation.get("assigned_to") == member.username


def allowed_actions(conversation: Mapping[str, Any], member: StaffMember) -> List[str]:
    """The staff actions ``member`` may do on ``conversation`` now (the console's buttons)."""
    allowed = []
    for action in STAFF_ACTIONS:
        if action is Action.TAKE_OVER and holds(conversation, member):
            continue  # already theirs
        try:
            decide(action, conversation, member)
        except HandoffConflict:
            continue
        allowed.append(action.value)
    return allowed


# --- the lifecycle in the database --------------------------------------------------------


def insert_ignoring_duplicates(conn: Connection, table: sa.Table, **values: Any) -> None:
    """INSERT that does nothing when the primary key exists (a concurrent insert by
    the other process is not an error)."""
    insert_unless_stored(table, tuple(values)).rowcount(conn, values)


#: A conversation by sender, built once and run directly: the console feed reads it for
#: most messages, and SQLAlchemy's execution costs more than SQLite's (bot.db).
_CONVERSATION = sa.select(conversations).where(conversations.c.sender_id == sa.bindparam("sender_id"))
_READ_CONVERSATION = DirectStatement(_CONVERSATION)
_READ_CONVERSATION_LOCKED = DirectStatement(_CONVERSATION.with_for_update())


def conversation_row(conn: Connection, sender_id: str, lock: bool = False) -> Optional[Dict[str, Any]]:
    """A conversation's row (``lock``: held until the transaction ends, PostgreSQL;
    SQLite's immediate transactions are exclusive anyway)."""
    return (_READ_CONVERSATION_LOCKED if lock else _READ_CONVERSATION).first(conn, {"sender_id": sender_id})


def ensure_conversation(
    conn: Connection, sender_id: str, at: float, channel: Optional[str] = None, lock: bool = False
) -> Dict[str, Any]:
    """The conversation's row, created (with the assistant) if new."""
    row = conversation_row(conn, sender_id, lock)
    if row is None:
        insert_ignoring_duplicates(
            conn,
            conversations,
            sender_id=sender_id,
            channel=channel,
            status=Status.BOT.value,
            paused=False,
            started_at=at,
            waiting_notice_sent=False,
            message_count=0,
        )
        row = conversation_row(conn, sender_id, lock)
    assert row is not None
    return row


def _set(conn: Connection, sender_id: str, **values: Any) -> Dict[str, Any]:
    conn.execute(conversations.update().where(conversations.c.sender_id == sender_id).values(**values))
    row = conversation_row(conn, sender_id)
    assert row is not None
    return row


class LifecycleStore(Transactions):
    """The handoff queue and who holds which conversation, by the transition table."""

    def request_handoff(
        self,
        sender_id: str,
        reason: str,
        *,
        in_office_hours: bool,
        channel: Optional[str] = None,
        at: Optional[float] = None,
        team: Optional[str] = None,
    ) -> Tuple[Dict[str, Any], int]:
        """Put a conversation in the queue (once: asking again keeps its place), for
        ``team`` when the assignment rules chose one (:mod:`bot.handoff.assignment`).

        Returns the handoff row and the conversation's 1-based place in the queue
        (0 when a staff member holds it already).
        """
        at = at or time.time()
        with self.engine.begin() as conn:
            conversation = ensure_conversation(conn, sender_id, at, channel, lock=True)
            target = decide(Action.REQUEST, conversation)
            handoff = _open_handoff(conn, conversation)
            if handoff is None:
                handoff_id = conn.execute(
                    handoffs.insert().values(
                        sender_id=sender_id,
                        reason=reason,
                        requested_at=at,
                        in_office_hours=in_office_hours,
                        status="waiting",
                        team=team,
                    )
                ).inserted_primary_key[0]
                _set(
                    conn,
                    sender_id,
                    status=target.value,
                    current_handoff_id=handoff_id,
                    waiting_since=at,
                    waiting_notice_sent=False,
                    assigned_to=None,
                    team=team,
                )
                handoff = dict(conn.execute(sa.select(handoffs).where(handoffs.c.id == handoff_id)).mappings().one())
            position = _queue_position(conn, handoff)
        return handoff, position

    def waiting_count(self) -> int:
        """How many conversations wait for a staff member."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(handoffs).where(handoffs.c.status == "waiting")
                ).scalar_one()
            )

    def take_over(
        self, sender_id: str, member: StaffMember, cap: Optional[int] = None, at: Optional[float] = None
    ) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]]]:
        """``member`` takes the conversation, atomically: of two staff pressing at once
        one wins, the other gets :class:`HandoffConflict`. An agent already holding
        ``cap`` conversations is refused. ``at``: when (default now).

        Returns the conversation row and the row before the change, or None as the
        second item when ``member`` held it already (nothing to announce to the user).
        """
        now = at or time.time()
        with self.engine.begin() as conn:
            before = conversation_row(conn, sender_id, lock=True)
            if before is None:
                raise HandoffError("没有这个对话。")
            if holds(before, member):
                return before, None
            target = decide(Action.TAKE_OVER, before, member)
            _check_cap(conn, member.username, member, cap)
            handoff = _open_handoff(conn, before)
            if handoff is None:
                handoff_id = conn.execute(
                    handoffs.insert().values(
                        sender_id=sender_id,
                        reason="staff_initiated",
                        requested_at=now,
                        in_office_hours=True,
                        status="active",
                        taken_by=member.username,
                        taken_at=now,
                    )
                ).inserted_primary_key[0]
            else:
                handoff_id = handoff["id"]
                taken = {"taken_at": now} if handoff["taken_at"] is None else {}
                conn.execute(
                    handoffs.update()
                    .where(handoffs.c.id == handoff_id)
                    .values(status="active", taken_by=member.username, **taken)
                )
            row = _set(
                conn, sender_id, status=target.value, assigned_to=member.username, current_handoff_id=handoff_id
            )
        return row, before

    def undo_take_over(self, before: Dict[str, Any], member: StaffMember) -> None:
        """Put a conversation back as it was before ``member``'s take-over (the user
        could not be told, so the take-over did not happen)."""
        with self.engine.begin() as conn:
            now_row = conversation_row(conn, before["sender_id"], lock=True)
            if now_row is None or not holds(now_row, member):
                return
            handoff_id = now_row["current_handoff_id"]
            if before["current_handoff_id"] != handoff_id:
                conn.execute(handoffs.delete().where(handoffs.c.id == handoff_id))
            else:
                previous = before.get("assigned_to")
                conn.execute(
                    handoffs.update()
                    .where(handoffs.c.id == handoff_id)
                    .values(
                        status="active" if previous else "waiting",
                        taken_by=previous,
                        **({} if previous else {"taken_at": None}),
                    )
                )
            _set(
                conn,
                before["sender_id"],
                status=before["status"],
                assigned_to=before["assigned_to"],
                current_handoff_id=before["current_handoff_id"],
            )

    def transfer(
        self, sender_id: str, member: StaffMember, to: StaffMember, cap: Optional[int] = None
    ) -> Dict[str, Any]:
        """Hand a staff-held conversation to colleague ``to`` (who then holds it)."""
        with self.engine.begin() as conn:
            conversation = conversation_row(conn, sender_id, lock=True)
            if conversation is None:
                raise HandoffError("没有这个对话。")
            target = decide(Action.TRANSFER, conversation, member)
            if to.username == conversation["assigned_to"]:
                raise HandoffConflict(f"{to.username} 已在接待该对话。")
            _check_cap(conn, to.username, to, cap)
            if conversation["current_handoff_id"]:
                conn.execute(
                    handoffs.update()
                    .where(handoffs.c.id == conversation["current_handoff_id"])
                    .values(taken_by=to.username)
                )
            return _set(conn, sender_id, status=target.value, assigned_to=to.username)

    def transfer_to_team(
        self, sender_id: str, member: StaffMember, team: str, at: Optional[float] = None
    ) -> Dict[str, Any]:
        """Put the conversation back in the queue, for ``team`` (the assistant stays paused)."""
        at = at or time.time()
        with self.engine.begin() as conn:
            conversation = conversation_row(conn, sender_id, lock=True)
            if conversation is None:
                raise HandoffError("没有这个对话。")
            target = decide(Action.TRANSFER_TEAM, conversation, member)
            if conversation["current_handoff_id"]:
                conn.execute(
                    handoffs.update()
                    .where(handoffs.c.id == conversation["current_handoff_id"])
                    .values(status="waiting", taken_by=None, team=team)
                )
            return _set(
                conn,
                sender_id,
                status=target.value,
                assigned_to=None,
                team=team,
                waiting_since=at,
            )

    def held_count(self, username: str) -> int:
        """How many conversations ``username`` holds now."""
        with self.engine.connect() as conn:
            return _held_count(conn, username)

    def check_action(self, sender_id: str, action: Action, member: StaffMember) -> Dict[str, Any]:
        """The conversation if ``member`` may do ``action`` now, else
        :class:`HandoffConflict` (HandoffError for an unknown conversation)."""
        with self.engine.connect() as conn:
            conversation = conversation_row(conn, sender_id)
        if conversation is None:
            raise HandoffError("没有这个对话。")
        decide(action, conversation, member)
        return conversation

    def end_handoff(
        self, sender_id: str, member: StaffMember, *, close: bool, at: Optional[float] = None
    ) -> Dict[str, Any]:
        """Hand the conversation back to the assistant, or close it."""
        now = at or time.time()
        action = Action.CLOSE if close else Action.HAND_BACK
        with self.engine.begin() as conn:
            conversation = conversation_row(conn, sender_id, lock=True)
            if conversation is None:
                raise HandoffError("没有这个对话。")
            target = decide(action, conversation, member)
            _end_open_handoff(conn, conversation, now, member.username, "closed" if close else "handed_back")
            return _set(
                conn,
                sender_id,
                status=target.value,
                assigned_to=None,
                current_handoff_id=None,
                waiting_since=None,
                waiting_notice_sent=False,
            )

    def restart(self, sender_id: str, at: float) -> Dict[str, Any]:
        """The conversation restarted: back with the assistant, any handoff ended."""
        with self.transaction() as conn:
            conversation = ensure_conversation(conn, sender_id, at, lock=True)
            target = decide(Action.RESTART, conversation)
            _end_open_handoff(conn, conversation, at, None, "restarted")
            return _set(
                conn,
                sender_id,
                status=target.value,
                paused=False,
                assigned_to=None,
                current_handoff_id=None,
                waiting_since=None,
                waiting_notice_sent=False,
            )

    def set_paused(self, sender_id: str, paused: bool, at: float) -> Dict[str, Any]:
        """Follow Rasa's pause/resume events."""
        with self.transaction() as conn:
            ensure_conversation(conn, sender_id, at)
            return _set(conn, sender_id, paused=paused)

    def claim_waiting_notice(self, sender_id: str) -> bool:
        """True exactly once per handoff: whether to send the short waiting notice."""
        with self.engine.begin() as conn:
            result = conn.execute(
                conversations.update()
                .where(
                    conversations.c.sender_id == sender_id,
                    conversations.c.status.in_((Status.WAITING.value, Status.STAFF.value)),
                    conversations.c.waiting_notice_sent.is_(False),
                )
                .values(waiting_notice_sent=True)
            )
        return result.rowcount == 1


def _held_count(conn: Connection, username: str) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(conversations)
            .where(conversations.c.status == Status.STAFF.value, conversations.c.assigned_to == username)
        ).scalar_one()
    )


def _check_cap(conn: Connection, username: str, member: StaffMember, cap: Optional[int]) -> None:
    """Refuse giving ``member`` one more conversation when they hold ``cap`` already."""
    if cap is None or member.is_supervisor:
        return
    held = _held_count(conn, username)
    if held >= cap:
        raise HandoffConflict(f"{username} 已在接待 {held} 个对话（上限 {cap} 个），请先结束其中一个。")


def _open_handoff(conn: Connection, conversation: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    if not conversation["current_handoff_id"]:
        return None
    row = conn.execute(
        sa.select(handoffs).where(handoffs.c.id == conversation["current_handoff_id"], handoffs.c.status != "ended")
    ).mappings().first()
    return dict(row) if row else None


def _end_open_handoff(
    conn: Connection, conversation: Mapping[str, Any], at: float, by: Optional[str], kind: str
) -> None:
    if conversation["current_handoff_id"]:
        conn.execute(
            handoffs.update()
            .where(handoffs.c.id == conversation["current_handoff_id"], handoffs.c.status != "ended")
            .values(status="ended", ended_at=at, ended_by=by, end_kind=kind)
        )


def _queue_position(conn: Connection, handoff: Mapping[str, Any]) -> int:
    if handoff["status"] != "waiting":
        return 0
    ahead = conn.execute(
        sa.select(sa.func.count())
        .select_from(handoffs)
        .where(handoffs.c.status == "waiting", handoffs.c.id < handoff["id"])
    ).scalar_one()
    return int(ahead) + 1


__all__ = [
    "LifecycleStore",
    "Status",
    "Action",
    "TRANSITIONS",
    "STAFF_ACTIONS",
    "HandoffError",
    "HandoffConflict",
    "decide",
    "holds",
    "allowed_actions",
]

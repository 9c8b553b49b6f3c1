"""WeChat / WeCom turns still being answered, recorded so that no answered message is lost.

Once a callback is answered 200 (``success`` while the turn goes on in the background),
WeChat never delivers that message again: if the replica running the turn dies, only
this record remembers it. :class:`PendingTurns` keeps one record per message (sender,
dedupe key, text, channel metadata) in the channel's state — Redis on the production
profile, beside the message's dedupe claim. (The single-process profile keeps none: a
dying process takes its turns with it, and no other process could answer them.) The
record is written before any 200 and removed once the answer was delivered (passive
reply taken or pushed); the turn registry re-runs the records whose owner died
(:meth:`bot.channels.wechat.turns.TurnRegistry.recover_pending`).

:func:`recorded_reply` tells whether the dead owner's run already reached the tracker
(Rasa stores the user message and the bot's answers together at the end of a turn), so
a re-run never adds the user message twice.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

from bot.shared_state import KeyValueState

#: How long a message may wait to be answered before it is given up (seconds). Turns
#: take seconds; this covers a dead owner, the lease lapsing and a slow re-run.
PENDING_TURN_S = 600.0


@dataclass
class PendingTurn:
    """A user message whose answer is not delivered yet."""

    #: The delivery's dedupe key (``msg:<sender>:<MsgId>``), also the turn's ``message_id``.
    key: str
    user_id: str
    #: The text the turn runs (a menu number already resolved to its payload).
    text: str
    metadata: Dict[str, Any] = field(default_factory=dict)
    #: Whether a payload was typed by hand (it is checked before it reaches Rasa).
    typed_payload: bool = False
    #: When the message arrived (epoch seconds): a user's turns run in this order.
    received_at: float = field(default_factory=time.time)
    #: The replica answering it (its heartbeat says whether it lives; "" unknown).
    owner: str = ""

    def expired(self, now: Optional[float] = None) -> bool:
        return (time.time() if now is None else now) - self.received_at > PENDING_TURN_S


class PendingTurns:
    """The pending records of one channel (a table in :class:`KeyValueState`)."""

    def __init__(self, state: KeyValueState, channel_name: str) -> None:
        self._state = state
        self._namespace = f"{channel_name}-pending"

    async def record(self, turn: PendingTurn, only_if_absent: bool = False) -> None:
        """Remember ``turn`` until :meth:`forget`; ``only_if_absent`` keeps an existing record."""
        await self._state.put_entry(
            self._namespace, turn.key, json.dumps(asdict(turn), ensure_ascii=False), PENDING_TURN_S,
            only_if_absent=only_if_absent,
        )

    async def forget(self, key: str) -> None:
        await self._state.delete_entry(self._namespace, key)

    async def all(self) -> List[PendingTurn]:
        """Every pending turn of the channel, oldest first."""
        turns = [PendingTurn(**json.loads(value)) for value in (await self._state.entries(self._namespace)).values()]
        return sorted(turns, key=lambda turn: turn.received_at)


def recorded_reply(tracker: Any, message_id: str) -> Optional[List[Dict[str, Any]]]:
    """The bot's messages answering ``message_id`` when the tracker holds that user
    message (its turn reached Rasa's store), else None (the message was never recorded)."""
    events = list(tracker.events) if tracker is not None else []
    for index, event in enumerate(events):
        if isinstance(event, UserUttered) and event.message_id == message_id:
            reply: List[Dict[str, Any]] = []
            for later in events[index + 1:]:
                if isinstance(later, UserUttered) or (
                    isinstance(later, ActionExecuted) and later.action_name == ACTION_LISTEN_NAME
                ):
                    break
                if isinstance(later, BotUttered):
                    reply.append({"text": later.text, **{k: v for k, v in later.data.items() if v}})
            return reply
    return None

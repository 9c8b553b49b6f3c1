"""One Rasa turn per WeChat / WeCom message, however often the message is delivered.

WeChat waits 5 s for the answer to a callback and then delivers the same message
again (3 tries in all). :class:`TurnRegistry` keys each message (``MsgId``; events by
sender + ``CreateTime``) to exactly one Rasa turn: a retry waits for that turn's answer
or gets ``success``, never a second turn. When the answer is not ready within the
reply window the callback is answered at once and the turn's messages go out through
the platform's message API instead (:class:`TurnOutput` switches to pushing).

Buttons become a numbered text menu; :class:`NumberedMenus` remembers each user's last
menu so that a reply of ``2`` sends the second button's payload.

With several replicas (production profile) the message keys and the menus live in
Redis (:mod:`bot.shared_state`): a retry that lands on another replica than the first
delivery is answered ``success`` there (the first replica answers, passively or
through the message API), and a menu sent by one replica is understood by the next.
A replica holds a message's claim only while it lives (:class:`~bot.shared_state.Lease`):
if it dies mid-turn, WeChat's next retry is answered by another replica, and a message
already answered ``success`` is re-run by another replica from its pending record
(:mod:`bot.channels.wechat.pending`; see :class:`TurnRegistry`).
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Awaitable, Callable, Dict, List, MutableMapping, Optional, Protocol, Text

import requests
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.tracker_store import TrackerStore
from wechatpy.exceptions import WeChatException

from bot.cache import bounded_cache
from bot.channels.common import namespaced_sender_id
from bot.channels.payloads import conversation_language, is_payload, payload_answer, running_agent
from bot.channels.service import BusyNotice
from bot.channels.textual import (
    MatchListText,
    channel_user_id,
    menu_choice,
    numbered_menu,
    split_text,
    staff_marked,
    utf8_size,
)
from bot.channels.wechat.pending import PendingTurn, PendingTurns, recorded_reply
from bot.handoff.ratings import is_rating_payload
from bot.messages import DEFAULT_LANGUAGE, user_text
from bot.shared_state import DONE, LEASE_S, Heartbeat, KeyValueState, Lease, MemoryState, RedisState, is_done
from bot.tasks import BackgroundTasks

logger = logging.getLogger(__name__)

#: WeChat's limit for a text message (passive or customer-service) is 2048 bytes.
TEXT_LIMIT_BYTES = 2000
#: WeChat retries within ~15 s; a minute covers that with room to spare.
DEDUPE_SECONDS = 60.0
#: Messages whose turn is remembered at once (within :data:`DEDUPE_SECONDS`).
MAX_REMEMBERED_TURNS = 100_000
#: How long a user's last menu can still be answered with a number (seconds).
MENU_LIFETIME_S = 7 * 24 * 3600
#: How often a replica looks for turns of replicas that died (a lapsed claim, LEASE_S).
RECOVERY_INTERVAL_S = LEASE_S / 3
#: How often a turn looks whether the same user's earlier turns are answered (seconds).
EARLIER_TURNS_POLL_S = 0.5


class TextPusher(Protocol):
    """Sends a text message to a user outside a passive reply (a platform's message API)."""

    async def send_text(self, user_id: str, text: str) -> None:
        """Send ``text`` (at most ``TEXT_LIMIT_BYTES``) to ``user_id``."""


async def push_text(pusher: TextPusher, user_id: str, text: str) -> None:
    """Send ``text`` through the message API, split to the platform's size limit."""
    for part in split_text(text, TEXT_LIMIT_BYTES, size=utf8_size):
        await pusher.send_text(user_id, part)


class NumberedMenus:
    """Each user's last menu of buttons, so a numeric reply can pick one."""

    def __init__(self, state: Optional[KeyValueState] = None, namespace: str = "wechat-menu") -> None:
        self._state: KeyValueState = state or MemoryState()
        self._namespace = namespace

    async def remember(self, user_id: str, buttons: List[Dict[str, Any]]) -> None:
        payloads = [str(button.get("payload", "")) for button in buttons]
        await self._state.put(self._namespace, user_id, json.dumps(payloads, ensure_ascii=False), MENU_LIFETIME_S)

    async def forget(self, user_id: str) -> None:
        await self._state.delete(self._namespace, user_id)

    async def resolve(self, user_id: str, text: str) -> str:
        """Return the payload a numeric reply picks from the user's menu, else ``text``."""
        if menu_choice(text, 1_000) is None:
            return text  # not a number: no need to look the menu up
        stored = await self._state.get(self._namespace, user_id)
        payloads = json.loads(stored) if stored else None
        if not payloads:
            return text
        index = menu_choice(text, len(payloads))
        return text if index is None else payloads[index]


class TurnOutput(OutputChannel):
    """The output channel of one Rasa turn.

    Collects the turn's messages while they can still form the passive reply; once
    :meth:`switch_to_push` is called (the reply window passed) it sends everything,
    collected or new, through the platform's message API, in order.
    """

    def __init__(
        self, channel_name: str, pusher: TextPusher, menus: NumberedMenus, user_id: str
    ) -> None:
        self._channel_name = channel_name
        self._pusher = pusher
        self._menus = menus
        self._user_id = user_id
        self._lock = asyncio.Lock()
        self._collected: List[str] = []
        self._match_lists = MatchListText()
        self.pushing = False
        self.sent_menu = False
        #: The conversation's language: the channel's own words (menu prompt, staff
        #: marker, list headings) follow it. Set when the turn starts.
        self.language = DEFAULT_LANGUAGE

    def name(self) -> Text:
        return self._channel_name

    async def _emit(self, text: str) -> None:
        async with self._lock:
            if self.pushing:
                await self._push(text)
            else:
                self._collected.append(text)

    async def _push(self, text: str) -> None:
        try:
            await push_text(self._pusher, self._user_id, text)
        except (WeChatException, requests.RequestException):
            # E.g. 45015: the user wrote more than 48 h ago. Retrying cannot help.
            logger.exception("%s: could not deliver a reply to %s", self._channel_name, self._user_id)

    async def switch_to_push(self) -> None:
        """Send what was collected through the message API, and all later messages too."""
        async with self._lock:
            if self.pushing:
                return
            self.pushing = True
            collected, self._collected = self._collected, []
            for text in collected:
                await self._push(text)

    def passive_text(self) -> Optional[str]:
        """The turn's messages as one passive reply, or None when they do not fit."""
        # The reply's XML puts the text in a CDATA section, which "]]>" would end.
        text = "\n\n".join(self._collected).replace("]]>", "]] >")
        return text if utf8_size(text) <= TEXT_LIMIT_BYTES else None

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        self._match_lists.text_sent()
        await self._emit(staff_marked(text, kwargs, self.language))

    async def send_text_with_buttons(
        self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        await self._menus.remember(self._user_id, buttons)
        self.sent_menu = True
        self._match_lists.text_sent()
        await self._emit(numbered_menu(staff_marked(text, kwargs, self.language), buttons, self.language))

    async def send_custom_json(
        self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any
    ) -> None:
        # Other custom payloads, and lists already sent as text, are for the widget only.
        text = self._match_lists.for_payload(json_message, self.language)
        if text:
            await self._emit(text)


class PushOutput(TurnOutput):
    """Output channel for messages outside a user's turn (staff replies, notices):
    always pushes. Rasa passes the conversation's sender id (``wechat:<openid>``) as
    recipient.
    """

    def __init__(self, channel_name: str, pusher: TextPusher, menus: NumberedMenus) -> None:
        super().__init__(channel_name, pusher, menus, user_id="")
        self.pushing = True

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        self._user_id = channel_user_id(recipient_id, self._channel_name)
        self.language = await conversation_language(recipient_id, running_agent())
        await super().send_response(recipient_id, message)

    async def _push(self, text: str) -> None:
        # Unlike a turn's reply, a staff reply's failure goes back to the caller
        # (Rasa's HTTP API answers 500), so the console can tell staff it was not delivered.
        await push_text(self._pusher, self._user_id, text)


@dataclass
class Turn:
    """One user message (however often WeChat delivers it) and the Rasa turn answering it."""

    output: TurnOutput
    deadline: float
    task: "asyncio.Task[None]"
    #: Set once the answer was given up as a passive reply and is being pushed.
    push_task: Optional["asyncio.Task[None]"] = None
    #: Set once the answer reached the user's side: taken as the passive reply, or pushed.
    delivered: asyncio.Event = field(default_factory=asyncio.Event)


class TurnRegistry:
    """Runs one Rasa turn per distinct message and answers WeChat's retries from it.

    Every task it starts (turns, pushes, notices, re-runs) is held by :attr:`tasks`, so
    failures are logged and :meth:`close` finishes or cancels them when the server stops.
    ``menus`` keeps each user's last menu (in this process unless another store is given).

    With several replicas (Redis state) no message answered 200 is lost (see
    :mod:`bot.channels.wechat.pending`): each turn is recorded as pending, with this
    replica as its owner, before its first answer and until its reply was delivered; the
    turn holds its message's claim (a :class:`~bot.shared_state.Lease`) for as long.
    :meth:`start_recovery` re-runs, every :data:`RECOVERY_INTERVAL_S`, the pending turns
    whose owner died and pushes their replies. Dead means both: the claim lapsed and the
    owner's :class:`~bot.shared_state.Heartbeat` (beaten from a thread, so a Rasa server
    whose event loop is busy for seconds still counts as alive) stopped. Taking the lapsed
    claim is atomic, so one replica re-runs a turn, and never while its owner lives. A
    re-run first looks the message up in the tracker (by its ``message_id``, the dedupe
    key): if the dead owner's turn was stored, its recorded answer is pushed instead of
    running the message again, so the user message is never in the tracker twice.
    Delivery is at least once: an owner dying after pushing but before removing the
    record gets its reply pushed a second time.
    A user's turns run in the order the messages arrived: a turn first waits for that
    user's earlier pending turns (and re-runs one whose owner died).
    """

    def __init__(
        self,
        channel_name: str,
        pusher: TextPusher,
        reply_timeout: Optional[float],
        menus: Optional[NumberedMenus] = None,
        state: Optional[KeyValueState] = None,
    ) -> None:
        self.channel_name = channel_name
        self.pusher = pusher
        #: None: never answer passively (send everything through the message API).
        self.reply_timeout = reply_timeout
        #: Which messages have a turn, on any replica (memory unless a shared store is given).
        self.state: KeyValueState = state or MemoryState()
        self.menus = menus or NumberedMenus(self.state, f"{channel_name}-menu")
        #: Turns still to answer, and this replica's sign of life (several replicas only).
        self.pending: Optional[PendingTurns] = None
        self._heartbeat: Optional[Heartbeat] = None
        self.replica_id = uuid.uuid4().hex
        self._replicas = f"{channel_name}-replica"
        if isinstance(self.state, RedisState):
            self.pending = PendingTurns(self.state, channel_name)
            self._heartbeat = self.state.heartbeat(self._replicas, self.replica_id)
        #: Where a re-run looks for the dead owner's turn; None: the running Rasa's store.
        self.tracker_store: Optional[TrackerStore] = None
        self.tasks = BackgroundTasks(channel_name)
        self.busy = BusyNotice(channel_name)
        self._claims = f"{channel_name}-message"
        self._turns: MutableMapping[str, Turn] = bounded_cache(MAX_REMEMBERED_TURNS, ttl=DEDUPE_SECONDS)
        self._on_new_message: Optional[Callable[[UserMessage], Awaitable[Any]]] = None
        self._recovery: Optional["asyncio.Task[None]"] = None
        #: How many Rasa turns were started (for monitoring and tests).
        self.turns_started = 0
        #: How many turns of dead replicas this one took over (for monitoring and tests).
        self.turns_recovered = 0

    def set_message_handler(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        self._on_new_message = on_new_message

    def push_output(self) -> PushOutput:
        """An output channel that sends through the message API (staff replies, notices)."""
        return PushOutput(self.channel_name, self.pusher, self.menus)

    def notify(self, user_id: str, text: str) -> None:
        """Send ``text`` to ``user_id`` through the message API, in the background."""
        sender_id = namespaced_sender_id(self.channel_name, user_id)
        self.tasks.spawn(self.push_output().send_response(sender_id, {"text": text}), f"notice to {user_id}")

    async def answer(
        self, dedupe_key: str, user_id: str, text: str, metadata: Dict[str, Any]
    ) -> Optional[str]:
        """Answer a delivery of a user message: the passive reply text, or None
        (answer ``success``: the reply goes or went through the message API)."""
        turn = self._turns.get(dedupe_key)
        if turn is None:
            meant = await self.menus.resolve(user_id, text)
            # Menu clicks (events) carry the operator's configured payloads, and so does a
            # typed menu number once resolved; a payload typed by hand is checked.
            typed = is_payload(text) and metadata.get("msg_type") in ("text", "voice")
            pending = PendingTurn(dedupe_key, user_id, meant, metadata, typed_payload=typed, owner=self.replica_id)
            lease = await Lease.acquire(self.state, self._claims, dedupe_key)
            turn = self._turns.get(dedupe_key)  # a delivery that arrived meanwhile
            if turn is None and lease is None:
                logger.info("%s retry of %s: another replica answers it", self.channel_name, dedupe_key)
                if self.pending is not None and not await is_done(self.state, self._claims, dedupe_key):
                    # That replica may be dying before it recorded the message: record it here.
                    await self.pending.record(replace(pending, owner=""), only_if_absent=True)
                return None
            if turn is None:
                assert lease is not None
                try:
                    await self._record(pending)  # before any 200
                except asyncio.CancelledError:
                    # Hung up on while recording: the message is claimed, so its turn still
                    # runs (an unused claim would be renewed for as long as this replica
                    # lives, and hold up the user's later messages, which wait for it).
                    self.tasks.spawn(self._start_after_hang_up(pending, lease), f"record {pending.key}")
                    raise
                turn = self._start(pending, lease)
            elif lease is not None:
                await lease.release(DEDUPE_SECONDS)
        else:
            logger.info("%s retry of %s answered from its first turn", self.channel_name, dedupe_key)
        try:
            return await self._reply_of(turn)
        except asyncio.CancelledError:
            # WeChat hung up: make sure the answer still reaches the user.
            self._push_in_background(turn)
            raise

    async def _start_after_hang_up(self, pending: PendingTurn, lease: Lease) -> None:
        await self._record(pending)
        self._push_in_background(self._start(pending, lease))

    def _start(self, pending: PendingTurn, lease: Lease) -> Turn:
        loop = asyncio.get_running_loop()
        output = TurnOutput(self.channel_name, self.pusher, self.menus, pending.user_id)
        turn = Turn(
            output=output,
            deadline=loop.time() + (self.reply_timeout or 0.0),
            task=self.tasks.spawn(self._run(pending, output), f"turn {pending.key}"),
        )
        self._turns[pending.key] = turn
        self.turns_started += 1
        self.tasks.spawn(self._settle(turn, pending.key, lease), f"deliver {pending.key}")
        return turn

    def _message(self, pending: PendingTurn, output: TurnOutput) -> UserMessage:
        return UserMessage(
            text=pending.text,
            output_channel=output,
            sender_id=namespaced_sender_id(self.channel_name, pending.user_id),
            input_channel=self.channel_name,
            message_id=pending.key,
            metadata={self.channel_name: pending.metadata},
        )

    async def _run(self, pending: PendingTurn, output: TurnOutput) -> None:
        """The Rasa turn of ``pending``, after the user's earlier messages."""
        if self._on_new_message is None:
            raise RuntimeError(f"{self.channel_name} channel is not connected to Rasa")
        message = self._message(pending, output)
        try:
            await self._after_earlier_turns(pending)
        except Exception:  # Redis away for a moment: order is then Rasa's lock's alone
            logger.warning("%s: could not look for earlier turns of %s", self.channel_name, pending.key, exc_info=True)
        try:
            output.language = await conversation_language(message.sender_id, running_agent(), message.text)
            checked = pending.typed_payload or is_rating_payload(message.text)
            refusal = await payload_answer(message.text, message.sender_id, running_agent()) if checked else None
            if refusal:
                await output.send_text_message(message.sender_id, refusal)
                return
            await self.busy.handle(self._on_new_message, message)
        except Exception:
            logger.exception("%s turn of %s failed", self.channel_name, message.sender_id)
            await output.send_text_message(message.sender_id, user_text("channel.turn_failed", output.language))
        if not output.sent_menu:
            # A number typed now answers a question, not an old menu.
            await self.menus.forget(pending.user_id)

    async def _settle(self, turn: Turn, key: str, lease: Lease) -> None:
        """Once ``turn``'s answer was delivered, forget its record and mark it done."""
        try:
            await asyncio.wait({turn.task})
            if turn.task.cancelled():
                await lease.abandon()  # stopped mid-turn: another replica re-runs it
                return
            try:
                await asyncio.wait_for(turn.delivered.wait(), DEDUPE_SECONDS)
            except asyncio.TimeoutError:
                await turn.output.switch_to_push()  # nobody took the passive reply
        except asyncio.CancelledError:
            await lease.abandon()
            raise
        if self.pending is not None:
            await self.pending.forget(key)
        await lease.release(DEDUPE_SECONDS)

    async def _reply_of(self, turn: Turn) -> Optional[str]:
        if turn.push_task is not None:
            return None
        remaining = turn.deadline - asyncio.get_running_loop().time()
        if remaining > 0:
            try:
                await asyncio.wait_for(asyncio.shield(turn.task), remaining)
            except asyncio.TimeoutError:
                pass
        if turn.push_task is None and turn.task.done():
            text = turn.output.passive_text()
            if text:
                turn.delivered.set()
                return text
        self._push_in_background(turn)
        return None

    def _push_in_background(self, turn: Turn) -> None:
        """From now on the turn's messages go through the message API; the callback
        is answered at once instead of waiting for those calls."""
        if turn.push_task is None:
            turn.push_task = self.tasks.spawn(self._push_late(turn), "push a late answer")

    async def _push_late(self, turn: Turn) -> None:
        await turn.output.switch_to_push()
        turn.delivered.set()

    # -- turns of replicas that died --------------------------------------------------
    async def _record(self, pending: PendingTurn) -> None:
        """Record ``pending`` as this replica's (several replicas only)."""
        if self.pending is not None and self._heartbeat is not None:
            self._heartbeat.start()
            await self.pending.record(replace(pending, owner=self.replica_id))

    async def _take_over(self, pending: PendingTurn) -> Optional[Lease]:
        """``pending``'s claim when its owner died (lapsed claim, no heartbeat), else None."""
        if await self.state.get(self._claims, pending.key) is not None:
            return None
        if pending.owner and await self.state.get(self._replicas, pending.owner) is not None:
            return None  # alive, its event loop merely too busy to renew the claim in time
        lease = await Lease.acquire(self.state, self._claims, pending.key)
        if lease is not None:
            await self._record(pending)
        return lease

    async def _after_earlier_turns(self, pending: PendingTurn) -> None:
        """Wait until the user's earlier messages are answered, re-running any whose
        replica died, so that the tracker holds them in the order they were sent.
        A turn still running is waited for however long the servers take under load:
        a later message answered first would be answered out of its context. Only a
        turn pending past :data:`~bot.channels.wechat.pending.PENDING_TURN_S`, which
        recovery gives up too, is not waited for."""
        if self.pending is None:
            return  # one process: Rasa's conversation lock keeps the order
        while True:
            earlier = [
                turn for turn in await self.pending.all()
                if turn.user_id == pending.user_id and turn.key != pending.key
                and turn.received_at < pending.received_at and not turn.expired()
            ]
            blocked = False
            for turn in earlier:
                if await is_done(self.state, self._claims, turn.key):
                    continue  # answered; only its record is left
                lease = await self._take_over(turn)
                if lease is not None:
                    await self._recover(turn, lease)
                else:
                    blocked = True  # running (here or elsewhere), or its owner's lease not lapsed yet
            if not blocked:
                return
            await asyncio.sleep(EARLIER_TURNS_POLL_S)

    async def recover_pending(self) -> int:
        """Take over every pending turn whose owner died (re-run in the background);
        forget answered and expired records. Returns how many were taken over."""
        if self.pending is None:
            return 0
        taken = 0
        for turn in await self.pending.all():
            claim = await self.state.get(self._claims, turn.key)
            if claim == DONE or turn.expired():
                if claim != DONE:
                    logger.warning("%s: gave up answering %s (pending too long)", self.channel_name, turn.key)
                await self.pending.forget(turn.key)
                continue
            if claim is None:
                lease = await self._take_over(turn)
                if lease is not None:
                    self.tasks.spawn(self._recover(turn, lease), f"re-run {turn.key}")
                    taken += 1
        return taken

    async def _recover(self, pending: PendingTurn, lease: Lease) -> None:
        """Answer ``pending``, whose owner died: push its recorded answer when the
        tracker holds the message, else run it again; then forget it."""
        logger.warning("%s: answering %s, whose replica stopped before it was answered", self.channel_name, pending.key)
        output = TurnOutput(self.channel_name, self.pusher, self.menus, pending.user_id)
        output.pushing = True
        try:
            recorded = await self._recorded_answer(pending)
            if recorded is None:
                await self._run(pending, output)
            else:
                sender_id = namespaced_sender_id(self.channel_name, pending.user_id)
                for message in recorded:
                    await output.send_response(sender_id, message)
        except asyncio.CancelledError:
            await lease.abandon()
            raise
        if self.pending is not None:
            await self.pending.forget(pending.key)
        await lease.release(DEDUPE_SECONDS)
        self.turns_recovered += 1

    async def _recorded_answer(self, pending: PendingTurn) -> Optional[List[Dict[str, Any]]]:
        """The answer stored with ``pending``'s message, or None when it is not in the tracker."""
        store = self.tracker_store or getattr(running_agent(), "tracker_store", None)
        if store is None:
            return None  # no tracker to consult (tests of the channel alone): run it again
        tracker = await store.retrieve(namespaced_sender_id(self.channel_name, pending.user_id))
        return recorded_reply(tracker, pending.key)

    def start_recovery(self) -> None:
        """Look for turns of dead replicas every :data:`RECOVERY_INTERVAL_S` (server start)."""
        if self._recovery is None and self.pending is not None:
            # Not one of :attr:`tasks`: it never finishes, and close() stops it first.
            self._recovery = asyncio.get_running_loop().create_task(self._keep_recovering())

    async def _keep_recovering(self) -> None:
        while True:
            await asyncio.sleep(RECOVERY_INTERVAL_S)
            try:
                await self.recover_pending()
            except Exception:  # Redis away for a moment: the next pass tries again
                logger.warning("%s: could not look for pending turns", self.channel_name, exc_info=True)

    async def close(self) -> None:
        """Let running turns and pushes finish briefly, then cancel them (server stop)."""
        if self._recovery is not None:
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
        await self.tasks.close()
        if self._heartbeat is not None:
            self._heartbeat.stop()  # turns cancelled just now are re-run elsewhere soon

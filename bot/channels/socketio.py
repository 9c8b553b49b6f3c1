"""The web widget's Socket.IO channel for Rasa 3.6.

Listed in ``credentials.yml`` as ``bot.channels.socketio.SocketIOInput``. Compared with
Rasa's own ``SocketIOInput`` it

* awaits ``AsyncServer.enter_room`` (a coroutine since python-socketio 5.10; Rasa 3.6
  calls it without ``await``, so with ``session_persistence: true`` the socket never
  joins its room and replies are lost, RasaHQ/rasa#13027);
* names conversations ``web:<session id>`` (:mod:`bot.channels.common`) and uses that
  name as the Socket.IO room, so every tab and every reconnect of a session gets the
  replies, including ones pushed later through Rasa's HTTP API
  (``output_channel=latest``: staff replies) through :meth:`get_output_channel`;
* sends each bot message as one event in the widget's format (:func:`widget_message`),
  marking messages written by staff;
* acknowledges each user message on receipt and drops repeats of the same
  ``message_id`` (the widget re-sends unacknowledged messages after a reconnect;
  the repeat's ack says ``duplicate`` and whether the first was ``done``), then
  signals ``turn_done`` when the assistant has finished answering. A message whose
  replica died mid-turn is taken by the next resend (:class:`~bot.shared_state.Lease`);
* answers ``history_request`` with the conversation so far from the tracker store,
  so a reload, another portal page or a reconnect shows everything, including replies
  sent while the socket was away;
* refuses empty and oversized messages with a clear reply instead of passing them on.

Protocol (client → server, all with ``session_id``): ``session_request`` →
``session_confirm``; ``user_uttered {message, session_id, message_id, metadata}`` →
ack ``{ok, error?}``; ``history_request`` → ack ``{session_id, messages}``.
Server → client: ``bot_uttered`` (:func:`widget_message`), ``user_echo`` (a message
the same session sent from another tab), ``turn_done {message_id}``, ``staff_typing
{typing}`` (a staff member is writing a reply: :mod:`bot.channels.typing`).

``credentials.yml`` keys: Rasa's (``user_message_evt``, ``bot_message_evt``,
``session_persistence``, ``socketio_path``, ``jwt_key``, ``metadata_key``) plus
``cors_allowed_origins`` (portal origins allowed to long-poll; websockets need none).
Limits: ``MAX_USER_MESSAGE_CHARS``, ``WIDGET_HISTORY_LIMIT`` (:mod:`bot.settings`).

Several Rasa replicas (production profile) share rooms and emits through Redis
(python-socketio's ``AsyncRedisManager``): a staff reply reaches the widget whichever
replica holds its socket, and a widget that reconnects to another replica keeps its
conversation (rooms are named after it) and history (the shared tracker store). The
load balancer must route a polling client's requests to one replica (sticky).
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Text, Union

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage, decode_bearer_token
from rasa.core.channels.socketio import SocketBlueprint
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from rasa.core.channels.socketio import SocketIOOutput as RasaSocketIOOutput
from rasa.shared.core.events import BotUttered, Event, UserUttered
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot.channels.common import (
    WEB_CHANNEL_PREFIX,
    checked_user_text,
    invalid_text_in,
    namespaced_sender_id,
    staff_name_of,
)
from bot.channels.payloads import conversation_language, payload_answer, running_agent
from bot.channels.service import BusyNotice
from bot.channels.typing import add_staff_typing_route
from bot.handoff.ratings import is_rating_payload
from bot.messages import user_text
from bot.metrics import instrumented
from bot.replica_sessions import own_session_ids
from bot.settings import get_settings
from bot.shared_state import KeyValueState, Lease, channel_state, is_done

logger = logging.getLogger(__name__)

#: Session and message ids the widget may choose: long random tokens only, so a
#: client cannot name (and read) a conversation it did not create.
_CLIENT_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: Largest ``metadata`` object (JSON characters) a widget message may carry.
_MAX_METADATA_CHARS = 2000
#: How long a message id is remembered to drop re-sent messages (seconds).
_MESSAGE_ID_LIFETIME_S = 24 * 3600
#: Event telling the widget that staff are typing (``{"typing": true}``) or stopped.
STAFF_TYPING_EVENT = "staff_typing"


def bot_message_id(timestamp: Optional[float], text: Optional[str], custom: Any) -> str:
    """Return a stable id of a bot message, the same live and in the history.

    Both are built from the one ``BotUttered`` event (same timestamp, text, payload),
    which lets the widget drop a reply it already shows.
    """
    fingerprint = json.dumps([repr(timestamp), text, custom], ensure_ascii=False, sort_keys=True)
    return "b-" + hashlib.sha1(fingerprint.encode("utf-8")).hexdigest()[:20]


def widget_message(message: Dict[str, Any]) -> Dict[str, Any]:
    """Turn a Rasa bot message (``BotUttered.message()``) into the widget's format.

    ``{"id", "role": "bot"|"staff", "text", "buttons": [{"title","payload"}],
    "custom", "image", "staff_name", "timestamp"}``; absent parts are left out.
    """
    text = message.get("text")
    custom = message.get("custom")
    timestamp = message.get("timestamp")
    buttons = message.get("buttons") or message.get("quick_replies") or []
    staff_name = staff_name_of(message)
    result: Dict[str, Any] = {
        "id": bot_message_id(timestamp, text, custom),
        "role": "staff" if staff_name else "bot",
        "timestamp": timestamp,
    }
    if text:
        result["text"] = text
    if buttons:
        result["buttons"] = [
            {"title": str(button.get("title", "")), "payload": str(button.get("payload", ""))}
            for button in buttons
            if isinstance(button, dict)
        ]
    if custom is not None:
        result["custom"] = custom
    image = message.get("image")
    if image:
        result["image"] = image
    if staff_name:
        result["staff_name"] = staff_name
    return result


def widget_user_message(
    message_id: Optional[str], text: Optional[str], metadata: Optional[Dict[str, Any]], timestamp: float
) -> Optional[Dict[str, Any]]:
    """Return a user message in the widget's format, or None if it is not shown.

    A button press sends the button's payload (``/intent{...}``) with the button's
    title as ``metadata.display_text``: the title is what the user saw and chose.
    Payloads sent without a title (the widget's opening ``/greet``) are not shown.
    """
    metadata = metadata or {}
    display_text = metadata.get("display_text")
    if isinstance(display_text, str) and display_text.strip():
        shown = display_text
    elif text and not text.startswith("/"):
        shown = text
    else:
        return None
    return {"id": message_id or f"u-{timestamp!r}", "role": "user", "text": shown, "timestamp": timestamp}


def widget_history(events: Iterable[Event], limit: int) -> List[Dict[str, Any]]:
    """Return the last ``limit`` user and bot messages of a conversation, oldest first."""
    messages: List[Dict[str, Any]] = []
    for event in events:
        if isinstance(event, UserUttered):
            shown = widget_user_message(event.message_id, event.text, event.metadata, event.timestamp)
            if shown:
                messages.append(shown)
        elif isinstance(event, BotUttered):
            messages.append(widget_message(event.message()))
    return messages[-limit:] if limit > 0 else []


class SocketIOOutput(RasaSocketIOOutput):
    """Sends each bot message to the widget's room as one ``bot_uttered`` event."""

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        """Send text, buttons, payload and image of one bot message together."""
        await self.sio.emit(self.bot_message_evt, widget_message(message), room=recipient_id)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        """Send a text (direct calls; Rasa itself goes through ``send_response``)."""
        await self.send_response(recipient_id, {**kwargs, "text": text})

    async def send_text_with_buttons(
        self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        """Send a text with buttons."""
        await self.send_response(recipient_id, {**kwargs, "text": text, "buttons": buttons})

    async def send_custom_json(
        self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any
    ) -> None:
        """Send a custom payload (match cards)."""
        await self.send_response(recipient_id, {**kwargs, "custom": json_message})

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        """Send an image."""
        await self.send_response(recipient_id, {**kwargs, "image": image})


class SocketIOInput(RasaSocketIOInput):
    """Rasa's Socket.IO channel, fixed and extended for the web widget (see module doc)."""

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        """Rasa's keys, plus ``cors_allowed_origins``: portals (other sites) allowed
        to use long-polling; without it they use websockets, which need no CORS."""
        channel = super().from_credentials(credentials)
        channel.cors_allowed_origins = (credentials or {}).get("cors_allowed_origins") or []
        return channel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cors_allowed_origins: Union[List[str], str] = []
        self._app: Optional[Sanic] = None
        self._state: Optional[KeyValueState] = None

    def get_output_channel(self) -> Optional[OutputChannel]:
        """Return the output used for messages pushed through Rasa's HTTP API."""
        if self.sio is None:
            return None
        return SocketIOOutput(self.sio, self.bot_message_evt)

    async def show_staff_typing(self, sender_id: str, typing: bool) -> bool:
        """Tell the widget's room that staff are (``typing``) or stopped typing
        (:mod:`bot.channels.typing`); through Redis, whichever replica holds its socket."""
        if self.sio is None:
            return False
        await self.sio.emit(STAFF_TYPING_EVENT, {"typing": typing}, room=sender_id, namespace=self.namespace)
        return True

    async def _history(self, sender_id: str) -> List[Dict[str, Any]]:
        agent = getattr(self._app.ctx, "agent", None) if self._app else None
        if agent is None or agent.tracker_store is None:
            return []
        tracker = await agent.tracker_store.retrieve_full_tracker(sender_id)
        if tracker is None:
            return []
        return widget_history(tracker.events, get_settings().widget_history_limit)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Create the Socket.IO server and its Sanic blueprint."""
        # [] (Rasa's default) turns python-engineio's CORS handling off: no Origin check
        # (the widget is embedded on other sites) and no CORS headers.
        settings = get_settings()
        on_new_message = instrumented(on_new_message, self.name())
        client_manager = None
        if settings.shares_state:
            from socketio import AsyncRedisManager

            client_manager = AsyncRedisManager(settings.redis_url, channel=f"{settings.redis_key_prefix}:socketio")
        sio = AsyncServer(
            async_mode="sanic", cors_allowed_origins=self.cors_allowed_origins, client_manager=client_manager
        )
        if settings.replica_index is not None:
            own_session_ids(sio, settings.replica_index)  # nginx routes sessions by their id
        self._state = state = channel_state(settings)
        channel = self

        class _Blueprint(SocketBlueprint):
            def register(self, app: Sanic, options: Dict[Text, Any]) -> None:
                channel._app = app  # the agent (tracker store) is read from app.ctx
                add_staff_typing_route(app)
                super().register(app, options)

        socketio_webhook = _Blueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio
        namespace = self.namespace
        busy = BusyNotice(self.name())

        @socketio_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=namespace)
        async def connect(sid: Text, environ: Dict, auth: Optional[Dict] = None) -> bool:
            if not self.jwt_key:
                return True
            token = (auth or {}).get("token")
            return bool(token and decode_bearer_token(token, self.jwt_key, self.jwt_algorithm))

        async def join_conversation(sid: Text, session_id: str) -> str:
            """Put the socket in the conversation's room (leaving any previous one)."""
            sender_id = namespaced_sender_id(WEB_CHANNEL_PREFIX, session_id)
            session = await sio.get_session(sid, namespace=namespace)
            previous = session.get("sender_id")
            if previous != sender_id:
                if previous:
                    await sio.leave_room(sid, previous, namespace=namespace)
                await sio.enter_room(sid, sender_id, namespace=namespace)
                session["sender_id"] = sender_id
                await sio.save_session(sid, session, namespace=namespace)
            return sender_id

        def session_id_of(sid: Text, data: Any) -> str:
            requested = data.get("session_id") if isinstance(data, dict) else None
            if isinstance(requested, str) and _CLIENT_TOKEN.match(requested):
                return requested
            if not self.session_persistence:
                return sid
            return uuid.uuid4().hex

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: Text, data: Any = None, *_: Any) -> None:
            session_id = session_id_of(sid, data) if self.session_persistence else sid
            await join_conversation(sid, session_id)
            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)

        @sio.on("history_request", namespace=namespace)
        async def history_request(sid: Text, data: Any = None, *_: Any) -> Dict[str, Any]:
            session = await sio.get_session(sid, namespace=namespace)
            sender_id = session.get("sender_id")
            if not sender_id:
                return {"ok": False, "error": "no session", "messages": []}
            try:
                messages = await self._history(sender_id)
            except Exception:  # the widget keeps its local copy when this fails
                logger.exception("Could not read the history of %s", sender_id)
                return {"ok": False, "error": "history unavailable", "messages": []}
            return {"ok": True, "messages": messages}

        async def notify(room: str, text: str, rejected_message_id: Optional[str] = None) -> None:
            notice: Dict[str, Any] = {
                "id": f"n-{uuid.uuid4().hex}",
                "role": "notice",
                "text": text,
                "timestamp": time.time(),
            }
            if rejected_message_id:
                notice["rejected_message_id"] = rejected_message_id
            await sio.emit(self.bot_message_evt, notice, room=room, namespace=namespace)

        async def process(
            message: UserMessage, room: str, shown: Optional[Dict[str, Any]], sid: Text, lease: Lease
        ) -> None:
            if shown:
                await sio.emit("user_echo", shown, room=room, skip_sid=sid, namespace=namespace)
            try:
                await busy.handle(on_new_message, message)
            except Exception:
                logger.exception("Handling a widget message of %s failed", message.sender_id)
                agent = getattr(self._app.ctx, "agent", None) if self._app else running_agent()
                language = await conversation_language(message.sender_id, agent, message.text)
                await notify(room, user_text("widget.turn_failed", language))
            finally:
                await lease.release(_MESSAGE_ID_LIFETIME_S)
                await sio.emit("turn_done", {"message_id": message.message_id}, room=room, namespace=namespace)

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: Text, data: Any = None, *_: Any) -> Dict[str, Any]:
            # A client may send no argument or several (a list is spread): never a TypeError.
            if not isinstance(data, dict):
                return {"ok": False, "error": user_text("input.malformed")}
            requested = data.get("session_id")
            if self.session_persistence and not requested:
                session = await sio.get_session(sid, namespace=namespace)
                if not session.get("sender_id"):
                    return {"ok": False, "error": user_text("widget.session_missing")}
                sender_id = session["sender_id"]
            elif self.session_persistence and not (isinstance(requested, str) and _CLIENT_TOKEN.match(requested)):
                return {"ok": False, "error": user_text("widget.session_missing")}
            else:
                sender_id = await join_conversation(sid, session_id_of(sid, data))

            message_id = data.get("message_id")
            if not (isinstance(message_id, str) and _CLIENT_TOKEN.match(message_id)):
                message_id = uuid.uuid4().hex
            lease = await Lease.acquire(state, "widget-message", message_id)
            if lease is None:
                # Handled, or being handled by a live replica (one that died lets go soon).
                return {"ok": True, "duplicate": True, "done": await is_done(state, "widget-message", message_id)}

            text, rejection = checked_user_text(data.get("message"))
            if rejection:
                await lease.release(_MESSAGE_ID_LIFETIME_S)
                await notify(sender_id, rejection, rejected_message_id=message_id)
                return {"ok": False, "error": rejection}
            answer = await payload_answer(
                text, sender_id, getattr(self._app.ctx, "agent", None) if self._app else running_agent()
            )
            if answer and is_rating_payload(text):  # accepted: thanked here, no turn of the assistant
                await notify(sender_id, answer)
                await sio.emit("turn_done", {"message_id": message_id}, room=sender_id, namespace=namespace)
                return {"ok": True}
            if answer:
                await notify(sender_id, answer, rejected_message_id=message_id)
                return {"ok": False, "error": answer}

            metadata = data.get(self.metadata_key) or {}
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = {}
            if (
                not isinstance(metadata, dict)
                or invalid_text_in(metadata)
                or len(json.dumps(metadata, ensure_ascii=False)) > _MAX_METADATA_CHARS
            ):
                metadata = {}

            message = UserMessage(
                text,
                SocketIOOutput(sio, self.bot_message_evt),
                sender_id,
                input_channel=self.name(),
                message_id=message_id,
                metadata=metadata,
            )
            shown = widget_user_message(message_id, text, metadata, time.time())
            sio.start_background_task(process, message, sender_id, shown, sid, lease)
            return {"ok": True}

        return socketio_webhook

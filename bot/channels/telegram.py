"""Telegram channel for Rasa, built on python-telegram-bot 22.

Two ways in, one bot:

* **webhook** (production): Telegram POSTs updates to
  ``/webhooks/telegram/webhook``; a call without the secret token registered with
  ``setWebhook`` (header ``X-Telegram-Bot-Api-Secret-Token``) is refused with 403.
* **polling** (development, ``TELEGRAM_MODE=polling``): the bot fetches updates itself,
  no public URL needed.

Sender ids are ``telegram:<chat_id>``. Buttons become inline keyboards whose callback
data is a short token issued by a :class:`CallbackStore` (Telegram allows only 64
bytes, Rasa payloads are often longer, and a token we never issued is recognisably
forged). Match lists are sent as formatted text. :meth:`TelegramInput.get_output_channel`
lets Rasa push staff replies (``output_channel=latest``) to the chat.

The channel follows each chat's language: the language of the user's last message that
shows one (:func:`bot.language.detect_language`), at first the language of the user's
Telegram app. Its own sentences (menus, refusals, the staff marker) are in that language,
and ``/start`` asks Rasa for the greeting in it.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import secrets
import weakref
from typing import Any, Awaitable, Callable, Dict, List, MutableMapping, Optional, Protocol, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.cache import bounded_cache
from bot.channels.common import (
    TELEGRAM_CHANNEL_PREFIX,
    checked_user_text,
    clean_text,
    namespaced_sender_id,
)
from bot.channels.payloads import payload_answer, running_agent
from bot.channels.service import BusyNotice
from bot.channels.textual import MatchListText, channel_user_id, split_text, staff_marked
from bot.channels.typing import StaffTypingBlueprint
from bot.handoff.ratings import is_rating_payload
from bot.language import CHINESE, ENGLISH, detect_language, payload_with_language
from bot.messages import user_text
from bot.metrics import instrumented
from bot.settings import get_settings
from bot.shared_state import KeyValueState, MemoryState, channel_state

logger = logging.getLogger(__name__)

CHANNEL_NAME = TELEGRAM_CHANNEL_PREFIX
SECRET_TOKEN_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_API_BASE_URL = "https://api.telegram.org"
#: Telegram refuses messages longer than this many characters.
MESSAGE_LIMIT = 4096
#: How long webhook update ids are remembered to drop Telegram's redeliveries (seconds).
UPDATE_ID_LIFETIME_S = 24 * 3600
#: How long an inline button keeps working (seconds).
CALLBACK_LIFETIME_S = 30 * 24 * 3600
_CALLBACKS = "telegram-callback"
#: How many chats' languages are remembered (the least recently active are forgotten).
CHAT_LANGUAGES_KEPT = 100_000
# Telegram's rule for setWebhook(secret_token=...).
_SECRET_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class CallbackStore(Protocol):
    """What the short callback tokens on inline buttons stand for."""

    async def issue(self, chat_id: int, payload: str) -> str:
        """Return a new callback token standing for ``payload`` in ``chat_id``."""

    async def resolve(self, token: Optional[str], chat_id: Optional[int]) -> Optional[str]:
        """Return the payload of a token issued for ``chat_id``, or None if unknown."""


class CallbackRegistry:
    """The in-process :class:`CallbackStore`: callback tokens to Rasa payloads.

    A token is valid only in the chat it was sent to, for :data:`CALLBACK_LIFETIME_S`.
    The tokens live in a :class:`~bot.shared_state.KeyValueState`: bounded in this
    process (the least recently used buttons expire first, and pressing one then gets a
    clear answer), or in Redis, so that a button sent by one replica works on another.

    Why not python-telegram-bot's own ``arbitrary_callback_data``: its
    ``CallbackDataCache`` is bounded (an LRU, like this one) and would work with our
    webhook feeding if we called ``bot.insert_callback_data`` ourselves, but (1) its
    tokens are not bound to a chat: any chat presenting one gets the payload, and
    (2) it lives in one process; its persistence is loaded only when the application
    starts and written back periodically, so a button sent by one replica could not
    be resolved by another behind a load balancer. Here the chat check stays ours and the
    tokens can live in Redis.
    """

    def __init__(self, state: Optional[KeyValueState] = None) -> None:
        self._state: KeyValueState = state or MemoryState()

    async def issue(self, chat_id: int, payload: str) -> str:
        """Return a new callback token standing for ``payload`` in ``chat_id``."""
        token = secrets.token_urlsafe(12)
        await self._state.put(_CALLBACKS, token, json.dumps([chat_id, payload]), CALLBACK_LIFETIME_S)
        return token

    async def resolve(self, token: Optional[str], chat_id: Optional[int]) -> Optional[str]:
        """Return the payload of a token issued for ``chat_id``, or None if unknown."""
        stored = await self._state.get(_CALLBACKS, token or "") if token else None
        if stored is None:
            return None
        issued_for, payload = json.loads(stored)
        return payload if issued_for == chat_id else None


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Handles different chats concurrently and each chat's updates in order."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._chat_locks: "weakref.WeakValueDictionary[int, asyncio.Lock]" = (
            weakref.WeakValueDictionary()
        )

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._chat_locks.get(chat.id)
        if lock is None:
            lock = asyncio.Lock()
            self._chat_locks[chat.id] = lock
        async with lock:
            await coroutine

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to free."""


class TelegramBotClient:
    """The one owner of the Telegram bot: its python-telegram-bot ``Application``.

    Receives updates (from the webhook route or by polling), turns them into Rasa
    user messages, and sends the assistant's replies.
    """

    def __init__(
        self,
        token: str,
        api_base_url: str = DEFAULT_API_BASE_URL,
        polling: bool = False,
        poll_interval: float = 0.0,
        webhook_url: Optional[str] = None,
        webhook_secret: Optional[str] = None,
        start_payload: str = "/greet",
        callbacks: Optional[CallbackStore] = None,
        state: Optional[KeyValueState] = None,
    ) -> None:
        self.polling = polling
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.start_payload = start_payload
        self._poll_interval = poll_interval
        #: Handled updates and button tokens (shared by replicas on the production profile).
        self.state: KeyValueState = state or MemoryState()
        self.callbacks: CallbackStore = callbacks or CallbackRegistry(self.state)
        self._chat_languages: MutableMapping[int, str] = bounded_cache(CHAT_LANGUAGES_KEPT)
        self._on_new_message: Optional[Callable[[UserMessage], Awaitable[Any]]] = None
        self.busy = BusyNotice(CHANNEL_NAME)
        base = api_base_url.rstrip("/")
        builder = (
            ApplicationBuilder()
            .token(token)
            .base_url(f"{base}/bot")
            .base_file_url(f"{base}/file/bot")
            .concurrent_updates(PerChatUpdateProcessor())
        )
        if not polling:
            builder = builder.updater(None)
        self.application: Application = builder.build()
        self.application.add_handler(CallbackQueryHandler(self._on_callback_query))
        self.application.add_handler(
            MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT, self._on_text)
        )
        self.application.add_handler(
            MessageHandler(filters.UpdateType.MESSAGE & ~filters.TEXT, self._on_other_message)
        )
        self.application.add_error_handler(self._on_error)

    @property
    def bot(self) -> Any:
        """The python-telegram-bot ``Bot`` used for every call to the Bot API."""
        return self.application.bot

    def set_message_handler(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Set where user messages go (Rasa's ``on_new_message``)."""
        self._on_new_message = on_new_message

    async def start(self) -> None:
        """Connect to the Bot API and start receiving updates."""
        await self.application.initialize()
        if self.polling:
            # Telegram refuses getUpdates while a webhook is registered.
            await self.bot.delete_webhook()
            updater = self.application.updater
            assert updater is not None, "built with an updater in polling mode"
            await updater.start_polling(
                poll_interval=self._poll_interval,
                error_callback=lambda error: logger.warning("Telegram polling: %s", error),
            )
        elif self.webhook_url:
            await self.bot.set_webhook(url=self.webhook_url, secret_token=self.webhook_secret)
        await self.application.start()
        logger.info("Telegram bot started (%s)", "polling" if self.polling else "webhook")

    async def stop(self) -> None:
        """Stop receiving updates and release the HTTP connections."""
        if self.application.updater and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    def secret_matches(self, presented: Optional[str]) -> bool:
        """Whether a webhook call carries our secret token (constant-time compare)."""
        if not self.webhook_secret or presented is None:
            return False
        return hmac.compare_digest(presented.encode(), self.webhook_secret.encode())

    async def enqueue(self, update_data: Dict[str, Any]) -> None:
        """Queue an update received by the webhook; raises ValueError if malformed."""
        if not isinstance(update_data, dict):
            raise ValueError("not a Telegram update")
        try:
            update = Update.de_json(update_data, self.bot)
        except (TypeError, KeyError, ValueError, AttributeError) as error:
            raise ValueError(f"not a Telegram update: {error}") from error
        if update is None or not update.update_id:
            raise ValueError("not a Telegram update")
        # Telegram delivers an update again when it missed our 200: answer it once.
        if not await self.state.claim("telegram-update", str(update.update_id), UPDATE_ID_LIFETIME_S):
            logger.info("Telegram redelivered update %s; already handled", update.update_id)
            return
        await self.application.update_queue.put(update)

    def language(self, chat_id: Optional[int]) -> str:
        """The language the chat is in (Chinese until the user shows another)."""
        return self._chat_languages.get(chat_id, CHINESE) if chat_id is not None else CHINESE

    def _follow_language(self, update: Update, text: str) -> None:
        """Remember the chat's language: the message's own, else (a first message that
        shows none) the language of the user's Telegram app."""
        chat, user = update.effective_chat, update.effective_user
        if chat is None:
            return
        language = detect_language(text)
        if language is None and chat.id not in self._chat_languages and user and user.language_code:
            language = ENGLISH if user.language_code.lower().startswith("en") else None
        if language is not None:
            self._chat_languages[chat.id] = language

    async def send_text(
        self, chat_id: int, text: str, buttons: Optional[List[Dict[str, Any]]] = None
    ) -> None:
        """Send ``text`` (split at Telegram's size limit), buttons under the last part."""
        if not text.strip():
            if not buttons:
                return  # Telegram refuses empty messages; there is nothing to show
            text = user_text("menu.choose", self.language(chat_id))  # Telegram refuses a keyboard without text
        parts = list(split_text(text, MESSAGE_LIMIT))
        markup = await self._keyboard(chat_id, buttons) if buttons else None
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            await self.bot.send_message(
                chat_id=chat_id, text=part, reply_markup=markup if last else None
            )

    async def _keyboard(self, chat_id: int, buttons: List[Dict[str, Any]]) -> InlineKeyboardMarkup:
        rows = [
            [
                InlineKeyboardButton(
                    str(button.get("title") or button.get("payload")),
                    callback_data=await self.callbacks.issue(chat_id, str(button.get("payload", ""))),
                )
            ]
            for button in buttons
        ]
        return InlineKeyboardMarkup(rows)

    async def _deliver(self, update: Update, text: str) -> None:
        if self._on_new_message is None:
            raise RuntimeError("Telegram channel is not connected to Rasa")
        chat = update.effective_chat
        if chat is None:
            raise ValueError(f"Telegram update {update.update_id} has no chat to answer in")
        user = update.effective_user
        metadata = {
            "telegram": {
                "chat_id": chat.id,
                "chat_type": chat.type,
                "user_id": user.id if user else None,
                "username": clean_text(user.username) if user and user.username else None,
                "name": clean_text(user.full_name) if user else None,
            }
        }
        await self.busy.handle(
            self._on_new_message,
            UserMessage(
                text=text,
                output_channel=TelegramOutput(self),
                sender_id=namespaced_sender_id(CHANNEL_NAME, str(chat.id)),
                input_channel=CHANNEL_NAME,
                message_id=f"telegram-update:{update.update_id}",
                metadata=metadata,
            ),
        )

    async def _on_text(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat = update.message, update.effective_chat
        # The handler's filter passes only new text messages, which have all three.
        assert message is not None and message.text is not None and chat is not None
        text = message.text
        self._follow_language(update, text)
        # "/start", "/start@OurBot" or a deep link "/start <parameter>" opens the chat.
        typed = True
        if text.split(maxsplit=1)[0].split("@")[0] == "/start":
            text, typed = payload_with_language(self.start_payload, self.language(chat.id)), False
        text, rejection = checked_user_text(text, self.language(chat.id))
        if not rejection and typed:  # a typed "/…" must be a button offered in this chat
            sender_id = namespaced_sender_id(TELEGRAM_CHANNEL_PREFIX, str(chat.id))
            rejection = await payload_answer(text, sender_id, running_agent())
        if rejection:
            await self.bot.send_message(chat_id=chat.id, text=rejection)
            return
        await self._deliver(update, text)

    async def _on_callback_query(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None, "the handler passes only callback queries"
        chat_id = update.effective_chat.id if update.effective_chat else None
        payload = await self.callbacks.resolve(query.data, chat_id)
        # Answer at once: it stops the button's spinner in the user's client.
        await query.answer()
        if payload is None:
            logger.info("Unknown Telegram callback %r from chat %s", query.data, chat_id)
            if chat_id is not None:
                await self.bot.send_message(chat_id=chat_id,
                                            text=user_text("telegram.button_expired", self.language(chat_id)))
            return
        if is_rating_payload(payload) and chat_id is not None:
            answer = await payload_answer(payload, namespaced_sender_id(CHANNEL_NAME, str(chat_id)), running_agent())
            if answer:
                await self.bot.send_message(chat_id=chat_id, text=answer)
                return
        await self._deliver(update, payload)

    async def _on_other_message(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        assert chat is not None, "the handler's filter passes only new messages, which have a chat"
        await self.bot.send_message(chat_id=chat.id, text=user_text("input.text_only", self.language(chat.id)))

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        logger.error("Telegram update failed", exc_info=context.error)
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is not None:
            try:
                await self.bot.send_message(chat_id=chat.id,
                                            text=user_text("channel.turn_failed", self.language(chat.id)))
            except TelegramError:
                logger.exception("Could not tell chat %s about the failure", chat.id)


class TelegramOutput(OutputChannel):
    """Sends the assistant's (and staff's) messages to a Telegram chat."""

    def __init__(self, client: TelegramBotClient) -> None:
        self.client = client
        self.match_lists = MatchListText()

    @classmethod
    def name(cls) -> Text:
        return CHANNEL_NAME

    @staticmethod
    def _chat_id(recipient_id: Text) -> int:
        return int(channel_user_id(recipient_id, CHANNEL_NAME))

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        self.match_lists.text_sent()
        chat_id = self._chat_id(recipient_id)
        await self.client.send_text(chat_id, staff_marked(text, kwargs, self.client.language(chat_id)))

    async def send_text_with_buttons(
        self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        self.match_lists.text_sent()
        chat_id = self._chat_id(recipient_id)
        await self.client.send_text(chat_id, staff_marked(text, kwargs, self.client.language(chat_id)), buttons)

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self.client.bot.send_photo(chat_id=self._chat_id(recipient_id), photo=image)

    async def send_custom_json(
        self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any
    ) -> None:
        # Other custom payloads, and lists already sent as text, are for the widget only.
        text = self.match_lists.for_payload(json_message)
        if text:
            await self.client.send_text(self._chat_id(recipient_id), text)


class TelegramInput(InputChannel):
    """Rasa input channel for Telegram (configure through credentials, see
    ``credentials.example.yml``)."""

    @classmethod
    def name(cls) -> Text:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "TelegramInput":
        credentials = credentials or {}
        if not credentials.get("token"):
            cls.raise_missing_credentials_exception()
        mode = str(credentials.get("mode") or "webhook").lower()
        if mode not in ("webhook", "polling"):
            raise ValueError(f"Telegram mode must be 'webhook' or 'polling', not {mode!r}")
        secret = credentials.get("webhook_secret") or None
        if mode == "webhook" and not secret:
            raise ValueError(
                "Telegram webhook mode needs a secret token (TELEGRAM_WEBHOOK_SECRET): "
                "without it anyone could post forged updates"
            )
        if secret and not _SECRET_TOKEN_PATTERN.match(secret):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -")
        return cls(
            TelegramBotClient(
                token=credentials["token"],
                api_base_url=credentials.get("api_base_url") or DEFAULT_API_BASE_URL,
                polling=mode == "polling",
                poll_interval=float(credentials.get("poll_interval") or 0.0),
                webhook_url=credentials.get("webhook_url") or None,
                webhook_secret=secret,
                start_payload=credentials.get("start_payload") or "/greet",
                state=channel_state(get_settings()),
            )
        )

    def __init__(self, client: TelegramBotClient) -> None:
        self.client = client

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        self.client.set_message_handler(instrumented(on_new_message, CHANNEL_NAME))
        telegram_webhook = StaffTypingBlueprint("telegram_webhook", __name__)

        @telegram_webhook.listener("before_server_start")
        async def start_bot(_app: Any, _loop: Any) -> None:
            await self.client.start()

        @telegram_webhook.listener("after_server_stop")
        async def stop_bot(_app: Any, _loop: Any) -> None:
            await self.client.stop()

        @telegram_webhook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json(
                {"status": "ok", "mode": "polling" if self.client.polling else "webhook"}
            )

        @telegram_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.client.secret_matches(request.headers.get(SECRET_TOKEN_HEADER)):
                logger.warning("Refused a Telegram webhook call without the right secret token")
                return response.json({"error": "invalid secret token"}, status=403)
            try:
                await self.client.enqueue(request.json)
            except ValueError as error:
                return response.json({"error": str(error)}, status=400)
            return response.text("ok")

        return telegram_webhook

    def get_output_channel(self) -> Optional[OutputChannel]:
        return TelegramOutput(self.client)

    async def show_staff_typing(self, sender_id: str, typing: bool) -> bool:
        """A ``typing`` chat action while staff write (:mod:`bot.channels.typing`).
        Telegram shows it for about five seconds, or until the next message arrives, and
        has no way to withdraw it: a stop is not sent."""
        if not typing:
            return False
        chat_id = int(channel_user_id(sender_id, CHANNEL_NAME))
        await self.client.bot.send_chat_action(chat_id=chat_id, action=ChatAction.TYPING)
        return True

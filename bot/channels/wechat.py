"""WeChat Official Account (微信公众号) channel for Rasa, built on wechatpy 1.8.

What WeChat requires, and where it is handled:

* every callback (GET verification and POST messages) is signed with the account's
  token: :func:`wechatpy.utils.check_signature`; forged requests get 403. Safe mode
  (``encrypt_type=aes``) also carries ``msg_signature`` and an AES-encrypted body,
  handled with :class:`wechatpy.crypto.WeChatCrypto`; replies are encrypted back.
* WeChat waits 5 s for the answer and then retries the same message (3 tries in
  all). :class:`TurnRegistry` keys each message (``MsgId``; events by sender +
  ``CreateTime``) to exactly one Rasa turn: a retry waits for that turn's answer or
  gets ``success``, never a second turn. When the answer is not ready within
  ``reply_timeout`` the request is answered ``success`` at once and the turn's
  messages go out through the customer-service API (``message/custom/send``).
* the access token lives 2 h and fetching a new one invalidates the old one, so
  :class:`AccessTokenOwner` is the only place that fetches it: concurrent sends that
  find it missing or rejected cause one refresh.
* buttons become a numbered text menu; :class:`NumberedMenus` remembers each user's
  last menu so a reply of ``2`` sends the second button's payload.
* staff replies reach the user through :meth:`WeChatInput.get_output_channel`.

wechatpy's client is synchronous: every call to WeChat runs in a worker thread.
The WeCom (企业微信) channel in :mod:`bot.channels.wecom` reuses these parts.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional, Protocol, Text, Tuple

import requests
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy import WeChatClient, create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException, WeChatClientException, WeChatException
from wechatpy.utils import check_signature

from bot.channels.common import (
    WECHAT_CHANNEL_PREFIX,
    namespaced_sender_id,
    rejection_for_user_text,
)
from bot.channels.textual import (
    MatchListText,
    channel_user_id,
    menu_choice,
    numbered_menu,
    split_text,
    staff_marked,
    utf8_size,
)

logger = logging.getLogger(__name__)

CHANNEL_NAME = WECHAT_CHANNEL_PREFIX
DEFAULT_API_BASE_URL = "https://api.weixin.qq.com/cgi-bin/"
#: WeChat waits 5 s; what is left covers the network and the gateway.
DEFAULT_REPLY_TIMEOUT = 4.0
#: WeChat's limit for a text message (passive or customer-service) is 2048 bytes.
TEXT_LIMIT_BYTES = 2000
#: Callback bodies are small XML documents; anything bigger is not from WeChat.
MAX_BODY_BYTES = 64 * 1024
#: WeChat retries within ~15 s; a minute covers that with room to spare.
DEDUPE_SECONDS = 60.0

# errcodes meaning "this access token is not (or no longer) valid".
TOKEN_REJECTED_ERRCODES = {40001, 40014, 42001}

TEXT_ONLY_TEXT = "目前只能处理文字消息，请用文字描述您的问题。"
ERROR_TEXT = "抱歉，系统暂时出错，请稍后再试。"


class AccessTokenOwner:
    """The one holder of an access token: fetches it when missing, expiring or rejected.

    Thread-safe (callers are wechatpy calls in worker threads); concurrent callers
    that need a new token wait for a single fetch.
    """

    def __init__(
        self,
        fetch: Callable[[], Tuple[str, int]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._token: Optional[str] = None
        self._refresh_at = 0.0
        #: How many times a token was fetched (for monitoring and tests).
        self.fetch_count = 0

    def token(self) -> str:
        """Return a valid token, fetching one if there is none or it is about to expire."""
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._refresh()
            return self._token

    def refresh_after_rejection(self, rejected: str) -> None:
        """WeChat rejected ``rejected``: fetch a new token unless someone already did."""
        with self._lock:
            if self._token == rejected:
                self._refresh()

    def _refresh(self) -> None:
        token, expires_in = self._fetch()
        self.fetch_count += 1
        self._token = token
        # Renew well before WeChat's expiry (7200 s) so no call races it.
        self._refresh_at = self._clock() + max(expires_in - min(300, expires_in / 2), 1)


def call_with_token_retry(owner: AccessTokenOwner, operation: Callable[[], Any]) -> Any:
    """Run a wechatpy call; if WeChat rejects the token, refresh it once and retry."""
    token = owner.token()
    try:
        return operation()
    except WeChatClientException as error:
        if error.errcode not in TOKEN_REJECTED_ERRCODES:
            raise
        logger.info("WeChat rejected the access token (errcode %s); refreshing", error.errcode)
        owner.refresh_after_rejection(token)
        return operation()


class OwnedTokenOfficialAccountClient(WeChatClient):
    """wechatpy's Official Account client, with its token from an :class:`AccessTokenOwner`
    and its API base URL configurable (wechatpy hard-codes the token URL)."""

    def __init__(self, app_id: str, app_secret: str, api_base_url: str, timeout: float = 10) -> None:
        # auto_retry=False: refreshing on rejection is the owner's job, not each call's.
        super().__init__(app_id, app_secret, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_base_url
        self.token_owner = AccessTokenOwner(self._fetch_token)

    @property
    def access_token(self) -> str:
        return self.token_owner.token()

    def _fetch_token(self) -> Tuple[str, int]:
        result = self._fetch_access_token(
            url=f"{self.API_BASE_URL}token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )
        return result["access_token"], int(result.get("expires_in", 7200))


class TextPusher(Protocol):
    """Sends a text message to a user outside a passive reply (a platform's message API)."""

    async def send_text(self, user_id: str, text: str) -> None:
        """Send ``text`` (at most ``TEXT_LIMIT_BYTES``) to ``user_id``."""


class OfficialAccountApi:
    """The Official Account's outbound API: customer-service messages."""

    def __init__(self, app_id: str, app_secret: str, api_base_url: str = DEFAULT_API_BASE_URL) -> None:
        self.client = OwnedTokenOfficialAccountClient(app_id, app_secret, api_base_url)

    async def send_text(self, user_id: str, text: str) -> None:
        await asyncio.to_thread(
            call_with_token_retry,
            self.client.token_owner,
            lambda: self.client.message.send_text(user_id, text),
        )


class NumberedMenus:
    """Each user's last menu of buttons, so a numeric reply can pick one."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._menus: "OrderedDict[str, List[str]]" = OrderedDict()

    def remember(self, user_id: str, buttons: List[Dict[str, Any]]) -> None:
        self._menus[user_id] = [str(button.get("payload", "")) for button in buttons]
        self._menus.move_to_end(user_id)
        while len(self._menus) > self._capacity:
            self._menus.popitem(last=False)

    def forget(self, user_id: str) -> None:
        self._menus.pop(user_id, None)

    def resolve(self, user_id: str, text: str) -> str:
        """Return the payload a numeric reply picks from the user's menu, else ``text``."""
        payloads = self._menus.get(user_id)
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

    def name(self) -> Text:  # type: ignore[override]
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
        await self._emit(staff_marked(text, kwargs))

    async def send_text_with_buttons(
        self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        self._menus.remember(self._user_id, buttons)
        self.sent_menu = True
        self._match_lists.text_sent()
        await self._emit(numbered_menu(staff_marked(text, kwargs), buttons))

    async def send_custom_json(
        self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any
    ) -> None:
        # Other custom payloads, and lists already sent as text, are for the widget only.
        text = self._match_lists.for_payload(json_message)
        if text:
            await self._emit(text)


async def push_text(pusher: TextPusher, user_id: str, text: str) -> None:
    """Send ``text`` through the message API, split to the platform's size limit."""
    for part in split_text(text, TEXT_LIMIT_BYTES, size=utf8_size):
        await pusher.send_text(user_id, part)


class PushOutput(TurnOutput):
    """Output channel for messages outside a user's turn (staff replies): always pushes.

    Rasa passes the conversation's sender id (``wechat:<openid>``) as recipient.
    """

    def __init__(self, channel_name: str, pusher: TextPusher, menus: NumberedMenus) -> None:
        super().__init__(channel_name, pusher, menus, user_id="")
        self.pushing = True

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        self._user_id = channel_user_id(recipient_id, self._channel_name)
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
    task: Optional["asyncio.Task[None]"] = None
    #: Set once the answer was given up as a passive reply and is being pushed.
    push_task: Optional["asyncio.Task[None]"] = None
    created: float = field(default_factory=time.monotonic)


class TurnRegistry:
    """Runs one Rasa turn per distinct message and answers WeChat's retries from it."""

    def __init__(
        self,
        channel_name: str,
        pusher: TextPusher,
        reply_timeout: Optional[float],
    ) -> None:
        self.channel_name = channel_name
        self.pusher = pusher
        #: None: never answer passively (send everything through the message API).
        self.reply_timeout = reply_timeout
        self.menus = NumberedMenus()
        self._turns: "OrderedDict[str, Turn]" = OrderedDict()
        self._on_new_message: Optional[Callable[[UserMessage], Awaitable[Any]]] = None
        #: How many Rasa turns were started (for monitoring and tests).
        self.turns_started = 0

    def set_message_handler(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        self._on_new_message = on_new_message

    async def answer(
        self, dedupe_key: str, user_id: str, text: str, metadata: Dict[str, Any]
    ) -> Optional[str]:
        """Answer a delivery of a user message: the passive reply text, or None
        (answer ``success``: the reply goes or went through the message API)."""
        turn = self._turns.get(dedupe_key)
        if turn is None:
            turn = self._start(dedupe_key, user_id, text, metadata)
        else:
            logger.info("%s retry of %s answered from its first turn", self.channel_name, dedupe_key)
        try:
            return await self._reply_of(turn)
        except asyncio.CancelledError:
            # WeChat hung up: make sure the answer still reaches the user.
            self._push_in_background(turn)
            raise

    def _start(self, key: str, user_id: str, text: str, metadata: Dict[str, Any]) -> Turn:
        self._forget_old_turns()
        loop = asyncio.get_running_loop()
        output = TurnOutput(self.channel_name, self.pusher, self.menus, user_id)
        deadline = loop.time() + (self.reply_timeout or 0.0)
        turn = Turn(output=output, deadline=deadline)
        self._turns[key] = turn
        message = UserMessage(
            text=self.menus.resolve(user_id, text),
            output_channel=output,
            sender_id=namespaced_sender_id(self.channel_name, user_id),
            input_channel=self.channel_name,
            message_id=key,
            metadata={self.channel_name: metadata},
        )
        turn.task = loop.create_task(self._run(message, output, user_id))
        self.turns_started += 1
        return turn

    async def _run(self, message: UserMessage, output: TurnOutput, user_id: str) -> None:
        if self._on_new_message is None:
            raise RuntimeError(f"{self.channel_name} channel is not connected to Rasa")
        try:
            await self._on_new_message(message)
        except Exception:
            logger.exception("%s turn of %s failed", self.channel_name, message.sender_id)
            await output.send_text_message(message.sender_id, ERROR_TEXT)
        if not output.sent_menu:
            # A number typed now answers a question, not an old menu.
            self.menus.forget(user_id)

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
                return text
        self._push_in_background(turn)
        return None

    @staticmethod
    def _push_in_background(turn: Turn) -> None:
        """From now on the turn's messages go through the message API; the callback
        is answered at once instead of waiting for those calls."""
        if turn.push_task is None:
            turn.push_task = asyncio.get_running_loop().create_task(turn.output.switch_to_push())

    def _forget_old_turns(self) -> None:
        expired = time.monotonic() - DEDUPE_SECONDS
        while self._turns:
            key, oldest = next(iter(self._turns.items()))
            if oldest.created > expired:
                break
            del self._turns[key]


def check_aes_key(aes_key: str, variable: str) -> None:
    """Raise a clear ``ValueError`` for an EncodingAESKey WeChat would not have issued."""
    try:
        valid = len(aes_key) == 43 and len(base64.b64decode(aes_key + "=")) == 32
    except binascii.Error:
        valid = False
    if not valid:
        raise ValueError(f"{variable} must be the 43-character EncodingAESKey from the WeChat console")


def dedupe_key(message: Any) -> str:
    """WeChat's identity of a delivery: ``MsgId``, or sender + time for events."""
    if getattr(message, "id", None):
        return f"msg:{message.id}"
    return f"event:{message.source}:{int(message.create_time.timestamp())}"


@dataclass
class IncomingText:
    """What a WeChat message means to the assistant."""

    #: Text for Rasa, or None when the message needs no turn.
    text: Optional[str]
    #: Immediate passive reply when no turn is needed (e.g. an unsupported type).
    immediate_reply: Optional[str] = None


def incoming_text(message: Any, subscribe_payload: str) -> IncomingText:
    """Turn a parsed wechatpy message or event into text for Rasa (or a direct reply)."""
    if message.type == "text":
        rejection = rejection_for_user_text(message.content)
        return IncomingText(None, rejection) if rejection else IncomingText(message.content)
    if message.type == "voice" and getattr(message, "recognition", None):
        return IncomingText(message.recognition)
    if message.type == "event":
        if message.event in ("subscribe", "subscribe_scan", "enter_agent"):
            return IncomingText(subscribe_payload)
        if message.event == "click" and message.key:
            return IncomingText(message.key)
        return IncomingText(None)  # unsubscribe, view, location reports: nothing to say
    return IncomingText(None, TEXT_ONLY_TEXT)


class WeChatInput(InputChannel):
    """Rasa input channel for a WeChat Official Account (see ``credentials.example.yml``).

    Callback URL to configure in the WeChat admin console:
    ``https://<public host>/webhooks/wechat/webhook``.
    """

    @classmethod
    def name(cls) -> Text:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WeChatInput":
        if not credentials or not all(
            credentials.get(key) for key in ("app_id", "app_secret", "token")
        ):
            cls.raise_missing_credentials_exception()
        api = OfficialAccountApi(
            credentials["app_id"],
            credentials["app_secret"],
            credentials.get("api_base_url") or DEFAULT_API_BASE_URL,
        )
        aes_key = credentials.get("encoding_aes_key")
        if aes_key:
            check_aes_key(aes_key, "WECHAT_ENCODING_AES_KEY")
        return cls(
            app_id=credentials["app_id"],
            token=credentials["token"],
            api=api,
            crypto=WeChatCrypto(credentials["token"], aes_key, credentials["app_id"]) if aes_key else None,
            reply_timeout=float(credentials.get("reply_timeout") or DEFAULT_REPLY_TIMEOUT),
            subscribe_payload=credentials.get("subscribe_payload") or "/greet",
        )

    def __init__(
        self,
        app_id: str,
        token: str,
        api: OfficialAccountApi,
        crypto: Optional[WeChatCrypto],
        reply_timeout: float = DEFAULT_REPLY_TIMEOUT,
        subscribe_payload: str = "/greet",
    ) -> None:
        self.app_id = app_id
        self.token = token
        self.api = api
        self.crypto = crypto
        self.subscribe_payload = subscribe_payload
        self.turns = TurnRegistry(CHANNEL_NAME, api, reply_timeout)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        self.turns.set_message_handler(on_new_message)
        wechat_webhook = Blueprint("wechat_webhook", __name__)

        @wechat_webhook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok", "safe_mode": self.crypto is not None})

        @wechat_webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if not self._signed(request):
                return response.text("invalid signature", status=403)
            return response.text(request.args.get("echostr", ""))

        @wechat_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self._receive(request)

        return wechat_webhook

    def _signed(self, request: Request) -> bool:
        try:
            check_signature(
                self.token,
                request.args.get("signature", ""),
                request.args.get("timestamp", ""),
                request.args.get("nonce", ""),
            )
        except InvalidSignatureException:
            logger.warning("Refused a WeChat callback with a wrong signature")
            return False
        return True

    async def _receive(self, request: Request) -> HTTPResponse:
        if not self._signed(request):
            return response.text("invalid signature", status=403)
        if len(request.body) > MAX_BODY_BYTES:
            return response.text("body too large", status=413)
        encrypted = request.args.get("encrypt_type") == "aes"
        timestamp = request.args.get("timestamp", "")
        nonce = request.args.get("nonce", "")
        xml: Any = request.body
        if encrypted:
            if self.crypto is None:
                return response.text("safe mode is not configured (WECHAT_ENCODING_AES_KEY)", status=400)
            try:
                xml = self.crypto.decrypt_message(
                    request.body, request.args.get("msg_signature", ""), timestamp, nonce
                )
            except InvalidSignatureException:
                logger.warning("Refused a WeChat message with a wrong msg_signature")
                return response.text("invalid signature", status=403)
            except Exception:  # wrong app id, bad padding, not XML: not from WeChat
                logger.warning("Could not decrypt a WeChat message", exc_info=True)
                return response.text("cannot decrypt", status=400)
        try:
            message = parse_message(xml)
        except Exception:
            logger.warning("Could not parse a WeChat message", exc_info=True)
            return response.text("malformed message", status=400)
        if message is None:
            return response.text("empty message", status=400)

        reply = await self._reply_text(message)
        if reply is None:
            return response.text("success")
        xml_reply = create_reply(reply, message).render()
        if encrypted:
            xml_reply = self.crypto.encrypt_message(xml_reply, nonce, timestamp)
        return response.text(xml_reply, content_type="application/xml")

    async def _reply_text(self, message: Any) -> Optional[str]:
        meaning = incoming_text(message, self.subscribe_payload)
        if meaning.text is None:
            return meaning.immediate_reply
        metadata = {"openid": message.source, "msg_type": message.type}
        return await self.turns.answer(dedupe_key(message), message.source, meaning.text, metadata)

    def get_output_channel(self) -> Optional[OutputChannel]:
        return PushOutput(CHANNEL_NAME, self.api, self.turns.menus)

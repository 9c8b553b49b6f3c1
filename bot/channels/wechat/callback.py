"""Signed callbacks, as WeChat and WeCom send them: verify → decrypt → parse → route.

Both platforms call one URL of ours: ``GET`` to verify it when it is configured,
``POST`` for every message, all signed with the account's callback token.

* **Official Account** (:class:`OfficialAccountCallbacks`): every request carries
  ``signature`` (SHA1 over token, timestamp, nonce); safe mode (``encrypt_type=aes``)
  adds ``msg_signature`` and an AES-encrypted body, and the reply is encrypted back.
* **WeCom** (:class:`WeComCallbacks`): always encrypted; the ``GET`` carries an
  encrypted ``echostr`` that must be decrypted and returned bare.

A forged signature is refused with 403, an oversized, undecryptable or malformed body
with 400/413 (:class:`CallbackRefused`), before anything reaches the assistant. So is a
replayed one: a signature covers only token, timestamp and nonce, so a callback whose
``timestamp`` is more than :data:`FRESHNESS_SECONDS` away from now is refused (403), and
an account in safe mode refuses unencrypted bodies (a captured query string must not
carry a body of the attacker's choosing). Plaintext mode (no EncodingAESKey) cannot
stop that within the window: it is for development only (the channel warns at start,
and the production profile refuses it unless ``WECHAT_ALLOW_PLAINTEXT`` is set).
:class:`CallbackInput` is the Rasa input channel both build on: its routes, the turn
registry (one Rasa turn per message, :mod:`bot.channels.wechat.turns`) and shutdown.
"""
from __future__ import annotations

import base64
import binascii
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Mapping, Optional, Tuple, Union

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy import create_reply
from wechatpy import parse_message as parse_official_account_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise import parse_message as parse_wecom_message
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import check_signature

from bot.channels.common import checked_user_text, is_valid_channel_user_id, namespaced_sender_id
from bot.channels.payloads import conversation_language, running_agent
from bot.channels.typing import StaffTypingBlueprint
from bot.channels.wechat.turns import TurnRegistry
from bot.messages import user_text
from bot.metrics import instrumented

logger = logging.getLogger(__name__)

#: Callback bodies are small XML documents; anything bigger is not from WeChat.
MAX_BODY_BYTES = 64 * 1024
#: How far a callback's signed timestamp may be from our clock (WeChat retries within ~15 s).
FRESHNESS_SECONDS = 300

QueryArgs = Mapping[str, Any]


class CallbackRefused(Exception):
    """A callback that is not (provably) from the platform, answered with ``status``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Callback:
    """A verified, decrypted and parsed message callback."""

    #: The wechatpy message or event.
    message: Any
    #: Whether it came encrypted (its passive reply must be encrypted too).
    encrypted: bool
    timestamp: str
    nonce: str


def check_aes_key(aes_key: str, variable: str) -> None:
    """Raise a clear ``ValueError`` for an EncodingAESKey WeChat would not have issued."""
    try:
        valid = len(aes_key) == 43 and len(base64.b64decode(aes_key + "=")) == 32
    except binascii.Error:
        valid = False
    if not valid:
        raise ValueError(f"{variable} must be the 43-character EncodingAESKey from the WeChat console")


class SignedCallbacks:
    """The verify → decrypt → parse pipeline of one account (see the module doc)."""

    #: Used in log lines.
    platform = ""

    def __init__(
        self,
        crypto: Optional[Union[WeChatCrypto, WeComCrypto]],
        parse: Callable[[Union[str, bytes]], Any],
    ) -> None:
        self.crypto = crypto
        self._parse = parse

    def url_echo(self, args: QueryArgs) -> str:
        """The answer to the platform's URL verification; raises :class:`CallbackRefused`."""
        raise NotImplementedError

    def _authenticated_xml(self, args: QueryArgs, body: bytes) -> Tuple[Union[str, bytes], bool]:
        """The message XML of a genuine callback and whether it was encrypted."""
        raise NotImplementedError

    def check_fresh(self, args: QueryArgs, now: Optional[float] = None) -> None:
        """Refuse a callback whose signed timestamp is not within the freshness window."""
        try:
            timestamp = int(str(args.get("timestamp", "")))
        except ValueError:
            raise CallbackRefused(400, "missing or malformed timestamp") from None
        if abs((time.time() if now is None else now) - timestamp) > FRESHNESS_SECONDS:
            logger.warning("Refused a %s callback with a stale timestamp %s (replay?)", self.platform, timestamp)
            raise CallbackRefused(403, "stale timestamp")

    def read(self, args: QueryArgs, body: bytes) -> Callback:
        """Verify, decrypt and parse a message callback; raises :class:`CallbackRefused`."""
        if len(body) > MAX_BODY_BYTES:
            raise CallbackRefused(413, "body too large")
        xml, encrypted = self._authenticated_xml(args, body)
        self.check_fresh(args)
        try:
            message = self._parse(xml)
        except Exception:
            logger.warning("Could not parse a %s message", self.platform, exc_info=True)
            raise CallbackRefused(400, "malformed message") from None
        if message is None:
            raise CallbackRefused(400, "empty message")
        if not is_valid_channel_user_id(getattr(message, "source", None)):
            raise CallbackRefused(400, "invalid sender")
        return Callback(message, encrypted, str(args.get("timestamp", "")), str(args.get("nonce", "")))

    def _decrypt(self, args: QueryArgs, body: bytes) -> str:
        assert self.crypto is not None
        try:
            return self.crypto.decrypt_message(
                body, args.get("msg_signature", ""), args.get("timestamp", ""), args.get("nonce", "")
            )
        except InvalidSignatureException:
            logger.warning("Refused a %s message with a wrong msg_signature", self.platform)
            raise CallbackRefused(403, "invalid signature") from None
        except Exception:  # wrong app / corp id, bad padding, not XML: not from the platform
            logger.warning("Could not decrypt a %s message", self.platform, exc_info=True)
            raise CallbackRefused(400, "cannot decrypt") from None


class OfficialAccountCallbacks(SignedCallbacks):
    """An Official Account's callbacks: plain signature, optional safe mode."""

    platform = "WeChat"

    def __init__(self, token: str, crypto: Optional[WeChatCrypto]) -> None:
        super().__init__(crypto, parse_official_account_message)
        self.token = token

    def _check_signature(self, args: QueryArgs) -> None:
        try:
            check_signature(
                self.token, args.get("signature", ""), args.get("timestamp", ""), args.get("nonce", "")
            )
        except InvalidSignatureException:
            logger.warning("Refused a WeChat callback with a wrong signature")
            raise CallbackRefused(403, "invalid signature") from None

    def url_echo(self, args: QueryArgs) -> str:
        self._check_signature(args)
        return str(args.get("echostr", ""))

    def _authenticated_xml(self, args: QueryArgs, body: bytes) -> Tuple[Union[str, bytes], bool]:
        self._check_signature(args)
        if args.get("encrypt_type") != "aes":
            if self.crypto is not None:
                logger.warning("Refused an unencrypted WeChat callback: the account is in safe mode")
                raise CallbackRefused(403, "safe mode: unencrypted callbacks are refused")
            return body, False
        if self.crypto is None:
            raise CallbackRefused(400, "safe mode is not configured (WECHAT_ENCODING_AES_KEY)")
        return self._decrypt(args, body), True

    def reply_xml(self, callback: Callback, text: str) -> str:
        """The passive reply carrying ``text``, encrypted when the callback was."""
        xml = create_reply(text, callback.message).render()
        if callback.encrypted:
            assert self.crypto is not None
            xml = self.crypto.encrypt_message(xml, callback.nonce, callback.timestamp)
        return xml


class WeComCallbacks(SignedCallbacks):
    """A WeCom application's callbacks: always encrypted."""

    platform = "WeCom"

    def __init__(self, crypto: WeComCrypto) -> None:
        super().__init__(crypto, parse_wecom_message)

    def url_echo(self, args: QueryArgs) -> str:
        assert isinstance(self.crypto, WeComCrypto)
        try:
            echo = self.crypto.check_signature(
                args.get("msg_signature", ""), args.get("timestamp", ""),
                args.get("nonce", ""), args.get("echostr", ""),
            )
        except InvalidSignatureException:
            logger.warning("Refused a WeCom URL verification with a wrong signature")
            raise CallbackRefused(403, "invalid signature") from None
        except Exception:
            logger.warning("Could not decrypt a WeCom echostr", exc_info=True)
            raise CallbackRefused(400, "cannot decrypt") from None
        return echo if isinstance(echo, str) else echo.decode("utf-8")

    def _authenticated_xml(self, args: QueryArgs, body: bytes) -> Tuple[Union[str, bytes], bool]:
        return self._decrypt(args, body), True


def dedupe_key(message: Any) -> str:
    """The platform's identity of a delivery: sender + ``MsgId``, or sender + time for
    events. ``MsgId`` alone is not enough: another user could reuse one and be
    answered with someone else's reply while their own message is dropped."""
    if getattr(message, "id", None):
        return f"msg:{message.source}:{message.id}"
    return f"event:{message.source}:{int(message.create_time.timestamp())}"


@dataclass
class IncomingText:
    """What a WeChat message means to the assistant."""

    #: Text for Rasa, or None when the message needs no turn.
    text: Optional[str]
    #: Immediate reply when no turn is needed (a refused text: too long, garbled).
    immediate_reply: Optional[str] = None
    #: A message type the assistant cannot read (image, file …): told so, in the
    #: conversation's language (:func:`immediate_reply`).
    text_only: bool = False


async def immediate_reply(meaning: IncomingText, channel_name: str, user_id: str) -> Optional[str]:
    """What to answer at once to a message that needs no turn, or None."""
    if meaning.text_only:
        sender_id = namespaced_sender_id(channel_name, user_id)
        return user_text("input.text_only", await conversation_language(sender_id, running_agent()))
    return meaning.immediate_reply


def incoming_text(message: Any, greeting_payload: str) -> IncomingText:
    """Turn a parsed wechatpy message or event into text for Rasa (or a direct reply)."""
    if message.type == "text" or (message.type == "voice" and getattr(message, "recognition", None)):
        text, rejection = checked_user_text(message.content if message.type == "text" else message.recognition)
        return IncomingText(None, rejection) if rejection else IncomingText(text)
    if message.type == "event":
        if message.event in ("subscribe", "subscribe_scan", "enter_agent"):
            return IncomingText(greeting_payload)
        if message.event == "click" and message.key:
            key, rejection = checked_user_text(message.key)
            return IncomingText(None) if rejection else IncomingText(key)
        return IncomingText(None)  # unsubscribe, view, location reports: nothing to say
    return IncomingText(None, text_only=True)


class CallbackInput(InputChannel):
    """A Rasa input channel fed by signed callbacks (Official Account, WeCom).

    Routes under ``/webhooks/<name>/``: ``GET /`` health, ``GET /webhook`` URL
    verification, ``POST /webhook`` messages. Subclasses set :attr:`callbacks` and
    :attr:`turns` and answer a verified message in :meth:`_answer`.
    """

    callbacks: SignedCallbacks
    turns: TurnRegistry
    #: What a new follower (subscribe) or a member opening the app (enter_agent) sends.
    greeting_payload = "/greet"

    def _health(self) -> Dict[str, Any]:
        return {"status": "ok"}

    async def _answer(self, callback: Callback) -> HTTPResponse:
        """Answer a verified message (passive reply or an acknowledgement)."""
        raise NotImplementedError

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        self.turns.set_message_handler(instrumented(on_new_message, self.name()))
        webhook = StaffTypingBlueprint(f"{self.name()}_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json(self._health())

        @webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            try:
                return response.text(self.callbacks.url_echo(request.args))
            except CallbackRefused as refused:
                return response.text(refused.reason, status=refused.status)

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                callback = self.callbacks.read(request.args, request.body)
            except CallbackRefused as refused:
                return response.text(refused.reason, status=refused.status)
            return await self._answer(callback)

        @webhook.listener("after_server_start")
        async def answer_turns_of_stopped_replicas(_app: Any, _loop: Any) -> None:
            self.turns.start_recovery()

        @webhook.listener("before_server_stop")
        async def finish_background_work(_app: Any, _loop: Any) -> None:
            await self.turns.close()

        return webhook

    def get_output_channel(self) -> Optional[OutputChannel]:
        """Where Rasa sends messages outside a turn (staff replies): the message API."""
        return self.turns.push_output()

"""The REST channel (``POST /webhooks/rest/webhook``) for integrations, tests and benchmarks.

Request ``{"sender": "<id>", "message": "<text>", "metadata": {…}}``; answer: the bot's
messages as a JSON list (Rasa's REST format). Compared with Rasa's own REST channel:

* **who may call**: with ``REST_API_KEY`` set, every call must carry it
  (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``); without one, only callers
  on this machine (loopback, e.g. ``make run``'s demo and local tests) are served.
  Anything else is refused with 401/403 and a reason;
* **whose conversation**: the caller's ``sender`` lives in its own namespace
  (``rest:<sender>``), so a REST caller can never name a widget, Telegram or WeChat
  user's conversation, and ``input_channel`` is always ``rest`` (a caller cannot make
  staff replies go to another network). A sender with characters a conversation id
  cannot hold (spaces, commas, Chinese: :func:`bot.channels.common.is_valid_channel_user_id`)
  gets a stable id of its own (``rest:h-<hash>``). A missing, empty, non-text, overlong
  (over 128 characters) or unstorable sender is refused (400) instead of sharing one
  ``default`` conversation. The answer names the sender as the caller sent it;
* **what may go in**: a body that is not a JSON object, metadata that is not an object
  (or holds text that cannot be stored), an invalid sender: 400 with the reason. A
  message that is empty, too long or holds a lone surrogate gets the same clear reply
  as on every other channel (:func:`bot.channels.common.checked_user_text`).

REST is request–response: staff replies cannot be pushed to it later.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
from typing import Any, Awaitable, Callable, Dict, List, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.common import (
    MAX_CHANNEL_USER_ID_CHARS,
    REST_CHANNEL_PREFIX,
    checked_user_text,
    has_invalid_text,
    invalid_text_in,
    is_valid_channel_user_id,
    namespaced_sender_id,
)
from bot.channels.payloads import conversation_language, payload_answer
from bot.channels.service import BusyNotice
from bot.messages import user_text
from bot.metrics import instrumented
from bot.settings import get_settings

logger = logging.getLogger(__name__)

#: Largest ``metadata`` object (JSON characters) a REST message may carry.
MAX_METADATA_CHARS = 4000


class RestRequestRefused(Exception):
    """A call that is not served; ``status`` and ``reason`` go back to the caller."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def caller_address(request: Request) -> str:
    """The address of the caller: the nearest non-loopback hop.

    The web gateway (and a load balancer before it) append the peer they saw to
    ``X-Forwarded-For``; reading from the right and skipping loopback hops finds the
    first address no proxy of ours vouches for. A caller cannot pass as loopback by
    sending the header itself: its own address is appended after what it wrote.
    """
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
    for hop in reversed([request.ip or "", *hops]):
        if not _is_loopback(hop):
            return hop
    return request.ip or ""


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_caller(request: Request, api_key: str) -> None:
    """Raise :class:`RestRequestRefused` unless the caller may use the webhook."""
    if api_key:
        authorization = request.headers.get("Authorization", "")
        presented = authorization[len("Bearer "):] if authorization.startswith("Bearer ") else ""
        presented = presented or request.headers.get("X-API-Key", "")
        if not presented:
            raise RestRequestRefused(401, "an API key is required (Authorization: Bearer <key> or X-API-Key)")
        if not hmac.compare_digest(presented.encode("utf-8", "replace"), api_key.encode("utf-8")):
            raise RestRequestRefused(403, "wrong API key")
        return
    address = caller_address(request)
    if not _is_loopback(address):
        raise RestRequestRefused(403, "the REST webhook serves only this machine unless REST_API_KEY is set")


def parse_body(body: bytes) -> Dict[str, Any]:
    """The request's JSON object; raises :class:`RestRequestRefused` (400) with the reason."""
    if not body.strip():
        raise RestRequestRefused(400, "empty body: send a JSON object {\"sender\": …, \"message\": …}")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise RestRequestRefused(400, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise RestRequestRefused(400, "the body must be a JSON object {\"sender\": …, \"message\": …}")
    return data


def rest_sender(data: Dict[str, Any]) -> str:
    """The caller's sender id as given; raises :class:`RestRequestRefused` (400)."""
    sender = data.get("sender")
    if isinstance(sender, int) and not isinstance(sender, bool):
        sender = str(sender)
    if sender is None or (isinstance(sender, str) and not sender.strip()):
        raise RestRequestRefused(400, "\"sender\" is required: one id per conversation")
    if not isinstance(sender, str) or len(sender) > MAX_CHANNEL_USER_ID_CHARS or has_invalid_text(sender):
        raise RestRequestRefused(
            400, f"\"sender\" must be text of at most {MAX_CHANNEL_USER_ID_CHARS} characters without control "
            "characters or lone surrogates"
        )
    return sender


def rest_conversation_id(sender: str) -> str:
    """The conversation (Rasa sender id) of a REST caller's ``sender``: ``rest:<sender>``,
    or ``rest:h-<hash>`` for a sender with characters a conversation id cannot hold."""
    if is_valid_channel_user_id(sender):
        return namespaced_sender_id(REST_CHANNEL_PREFIX, sender)
    digest = hashlib.sha256(sender.encode("utf-8")).hexdigest()[:32]
    return namespaced_sender_id(REST_CHANNEL_PREFIX, f"h-{digest}")


def rest_metadata(data: Dict[str, Any]) -> Dict[str, Any]:
    """The message's metadata; raises :class:`RestRequestRefused` (400)."""
    metadata = data.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise RestRequestRefused(400, "\"metadata\" must be a JSON object")
    if invalid_text_in(metadata):
        raise RestRequestRefused(400, "\"metadata\" holds characters that cannot be stored")
    if len(json.dumps(metadata, ensure_ascii=False)) > MAX_METADATA_CHARS:
        raise RestRequestRefused(400, f"\"metadata\" is larger than {MAX_METADATA_CHARS} characters")
    return metadata


class CheckedRestInput(InputChannel):
    """The REST input channel with the checks of the module doc."""

    @classmethod
    def name(cls) -> Text:
        return REST_CHANNEL_PREFIX

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        webhook = Blueprint("custom_webhook_CheckedRestInput", __name__)
        on_new_message = instrumented(on_new_message, self.name())
        busy = BusyNotice(self.name())
        if not get_settings().rest_api_key:
            logger.warning("REST_API_KEY is not set: the REST webhook serves callers on this machine only")

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                check_caller(request, get_settings().rest_api_key)
                data = parse_body(request.body)
                sender = rest_sender(data)
                metadata = rest_metadata(data)
            except RestRequestRefused as refused:
                return response.json({"error": refused.reason}, status=refused.status)
            sender_id = rest_conversation_id(sender)
            collector = CollectingOutputChannel()
            text, rejection = checked_user_text(data.get("message"))
            rejection = rejection or await payload_answer(text, sender_id, getattr(request.app.ctx, "agent", None))
            if rejection:
                await collector.send_text_message(sender_id, rejection)
            else:
                message = UserMessage(
                    text, collector, sender_id, input_channel=self.name(), metadata=metadata
                )
                try:
                    await busy.handle(on_new_message, message)
                except Exception:
                    logger.exception("REST turn of %s failed", sender_id)
                    language = await conversation_language(sender_id, getattr(request.app.ctx, "agent", None), text)
                    await collector.send_text_message(sender_id, user_text("channel.turn_failed", language))
            return response.json(_as_sent_to(collector.messages, sender))

        return webhook


def _as_sent_to(messages: List[Dict[str, Any]], sender: str) -> List[Dict[str, Any]]:
    """The bot's messages addressed to the sender id the caller used."""
    return [{**message, "recipient_id": sender} for message in messages]

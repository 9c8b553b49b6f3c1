"""What the REST webhook requires of a call, without Rasa: who may call, what the body
must hold and whose conversation it names.

The Rasa server's REST channel (:mod:`bot.channels.rest`) applies these rules, and so
does the web gateway, which shows a REST user's message in the staff console before it
forwards it (:data:`CONSOLE_MESSAGE_ID_HEADER`): both must agree on which calls are
served and on the conversation a sender names.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Dict, Mapping, TypeGuard

from bot.channels.common import (
    MAX_CHANNEL_USER_ID_CHARS,
    REST_CHANNEL_PREFIX,
    has_invalid_text,
    invalid_text_in,
    is_valid_channel_user_id,
    namespaced_sender_id,
)

#: Largest ``metadata`` object (JSON characters) a REST message may carry.
MAX_METADATA_CHARS = 4000

#: Set by the web gateway on a REST message it has already shown in the staff console:
#: the message's id, which Rasa then gives the message, so the console's feed completes
#: that entry (intent, confidence) instead of adding the message a second time. The
#: gateway drops the header from what a caller sends.
CONSOLE_MESSAGE_ID_HEADER = "X-Console-Message-Id"
_CONSOLE_MESSAGE_ID = re.compile(r"console-[0-9a-f]{32}")
#: Sent back by the REST channel, with the message's id, once the assistant has taken the
#: turn (stored or storing it): anything else makes the gateway take the message back.
CONSOLE_MESSAGE_TAKEN_HEADER = "X-Console-Message-Taken"


class RestRequestRefused(Exception):
    """A call that is not served; ``status`` and ``reason`` go back to the caller."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def caller_address(forwarded_for: str, peer: str) -> str:
    """The address of the caller: the nearest non-loopback hop.

    ``peer`` is the address the connection came from, ``forwarded_for`` the request's
    ``X-Forwarded-For``. The web gateway (and a load balancer before it) append the peer
    they saw; reading from the right and skipping loopback hops finds the first address
    no proxy of ours vouches for. A caller cannot pass as loopback by sending the header
    itself: its own address is appended after what it wrote.
    """
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed([peer, *hops]):
        if not _is_loopback(hop):
            return hop
    return peer


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_caller(headers: Mapping[str, str], peer: str, api_key: str) -> None:
    """Raise :class:`RestRequestRefused` unless the caller may use the webhook: with
    ``api_key`` set, the call must carry it; without one, only this machine is served."""
    if api_key:
        authorization = headers.get("Authorization", "")
        presented = authorization[len("Bearer "):] if authorization.startswith("Bearer ") else ""
        presented = presented or headers.get("X-API-Key", "")
        if not presented:
            raise RestRequestRefused(401, "an API key is required (Authorization: Bearer <key> or X-API-Key)")
        if not hmac.compare_digest(presented.encode("utf-8", "replace"), api_key.encode("utf-8")):
            raise RestRequestRefused(403, "wrong API key")
        return
    if not _is_loopback(caller_address(headers.get("X-Forwarded-For", ""), peer)):
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


@dataclass(frozen=True)
class RestCall:
    """A call the REST channel serves: who sent it, in which conversation, what."""

    #: The caller's ``sender`` as given (answers are addressed to it).
    sender: str
    #: The Rasa conversation (:func:`rest_conversation_id`).
    conversation_id: str
    metadata: Dict[str, Any]
    #: The ``message`` field as sent (the channel checks the text itself).
    message: Any


def read_call(headers: Mapping[str, str], peer: str, body: bytes, api_key: str) -> RestCall:
    """The call, or :class:`RestRequestRefused` with the status and reason to answer:
    :func:`check_caller`, then the body (:func:`parse_body`, :func:`rest_sender`,
    :func:`rest_metadata`)."""
    check_caller(headers, peer, api_key)
    data = parse_body(body)
    sender = rest_sender(data)
    return RestCall(sender, rest_conversation_id(sender), rest_metadata(data), data.get("message"))


def new_console_message_id() -> str:
    """An id for a message the gateway shows in the console before Rasa has it."""
    return f"console-{uuid.uuid4().hex}"


def was_shown_on_arrival(input_channel: Any, message_id: Any) -> bool:
    """Whether a user message (its channel and id, as Rasa keeps them) is one the web
    gateway stored in the console as it arrived: a REST message with a console id. Other
    channels' clients may choose their message ids, so the id alone does not say it."""
    return input_channel == REST_CHANNEL_PREFIX and is_console_message_id(message_id)


def is_console_message_id(message_id: Any) -> TypeGuard[str]:
    """Whether ``message_id`` names a message the gateway has already shown in the
    console (Rasa then need not store it before replying)."""
    return isinstance(message_id, str) and _CONSOLE_MESSAGE_ID.fullmatch(message_id) is not None

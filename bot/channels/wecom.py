"""WeCom (企业微信) application channel for Rasa, built on wechatpy's ``enterprise`` API.

WeCom always encrypts: the callback URL is verified with a GET whose encrypted
``echostr`` must be decrypted and returned bare, and every message arrives AES
encrypted with ``msg_signature``. Forged or undecryptable callbacks are refused.
Replies go through the application message API (``message/send``), so each callback
is acknowledged at once; retries of a message are deduplicated exactly like the
Official Account's (:class:`bot.channels.wechat.TurnRegistry`). Sender ids are
``wecom:<UserID>``; staff replies reach the user through :meth:`get_output_channel`.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text, Tuple

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy.enterprise import WeChatClient as WeComClient
from wechatpy.enterprise import parse_message
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.exceptions import InvalidSignatureException

from bot.channels.common import WECOM_CHANNEL_PREFIX, namespaced_sender_id
from bot.channels.wechat import (
    MAX_BODY_BYTES,
    AccessTokenOwner,
    PushOutput,
    TurnRegistry,
    call_with_token_retry,
    check_aes_key,
    dedupe_key,
    incoming_text,
)

logger = logging.getLogger(__name__)

CHANNEL_NAME = WECOM_CHANNEL_PREFIX
DEFAULT_API_BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin/"


class OwnedTokenWeComClient(WeComClient):
    """wechatpy's WeCom client with its token from an :class:`AccessTokenOwner` and a
    configurable API base URL (wechatpy hard-codes the token URL)."""

    def __init__(self, corp_id: str, corp_secret: str, api_base_url: str, timeout: float = 10) -> None:
        super().__init__(corp_id, corp_secret, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_base_url
        self.token_owner = AccessTokenOwner(self._fetch_token)

    @property
    def access_token(self) -> str:
        return self.token_owner.token()

    def _fetch_token(self) -> Tuple[str, int]:
        result = self._fetch_access_token(
            url=f"{self.API_BASE_URL}gettoken",
            params={"corpid": self.corp_id, "corpsecret": self.secret},
        )
        return result["access_token"], int(result.get("expires_in", 7200))


class WeComApi:
    """The WeCom application's message API."""

    def __init__(
        self, corp_id: str, corp_secret: str, agent_id: str, api_base_url: str = DEFAULT_API_BASE_URL
    ) -> None:
        self.agent_id = int(agent_id)
        self.client = OwnedTokenWeComClient(corp_id, corp_secret, api_base_url)

    async def send_text(self, user_id: str, text: str) -> None:
        await asyncio.to_thread(
            call_with_token_retry,
            self.client.token_owner,
            lambda: self.client.message.send_text(self.agent_id, user_id, text),
        )


class WeComInput(InputChannel):
    """Rasa input channel for a WeCom self-built application (see
    ``credentials.example.yml``). Callback URL: ``https://<public host>/webhooks/wecom/webhook``.
    """

    @classmethod
    def name(cls) -> Text:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WeComInput":
        required = ("corp_id", "corp_secret", "agent_id", "token", "encoding_aes_key")
        if not credentials or not all(credentials.get(key) for key in required):
            cls.raise_missing_credentials_exception()
        check_aes_key(credentials["encoding_aes_key"], "WECOM_ENCODING_AES_KEY")
        return cls(
            crypto=WeComCrypto(
                credentials["token"], credentials["encoding_aes_key"], credentials["corp_id"]
            ),
            api=WeComApi(
                credentials["corp_id"],
                credentials["corp_secret"],
                credentials["agent_id"],
                credentials.get("api_base_url") or DEFAULT_API_BASE_URL,
            ),
            enter_payload=credentials.get("enter_payload") or "/greet",
        )

    def __init__(self, crypto: WeComCrypto, api: WeComApi, enter_payload: str = "/greet") -> None:
        self.crypto = crypto
        self.api = api
        self.enter_payload = enter_payload
        # No passive replies: every answer goes through the message API.
        self.turns = TurnRegistry(CHANNEL_NAME, api, reply_timeout=None)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        self.turns.set_message_handler(on_new_message)
        wecom_webhook = Blueprint("wecom_webhook", __name__)

        @wecom_webhook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @wecom_webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            try:
                echo = self.crypto.check_signature(
                    request.args.get("msg_signature", ""),
                    request.args.get("timestamp", ""),
                    request.args.get("nonce", ""),
                    request.args.get("echostr", ""),
                )
            except InvalidSignatureException:
                logger.warning("Refused a WeCom URL verification with a wrong signature")
                return response.text("invalid signature", status=403)
            except Exception:
                logger.warning("Could not decrypt a WeCom echostr", exc_info=True)
                return response.text("cannot decrypt", status=400)
            return response.text(echo if isinstance(echo, str) else echo.decode("utf-8"))

        @wecom_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self._receive(request)

        return wecom_webhook

    async def _receive(self, request: Request) -> HTTPResponse:
        if len(request.body) > MAX_BODY_BYTES:
            return response.text("body too large", status=413)
        try:
            xml = self.crypto.decrypt_message(
                request.body,
                request.args.get("msg_signature", ""),
                request.args.get("timestamp", ""),
                request.args.get("nonce", ""),
            )
        except InvalidSignatureException:
            logger.warning("Refused a WeCom message with a wrong signature")
            return response.text("invalid signature", status=403)
        except Exception:  # wrong corp id, bad padding, not XML: not from WeCom
            logger.warning("Could not decrypt a WeCom message", exc_info=True)
            return response.text("cannot decrypt", status=400)
        try:
            message = parse_message(xml)
        except Exception:
            logger.warning("Could not parse a WeCom message", exc_info=True)
            return response.text("malformed message", status=400)
        if message is None:
            return response.text("empty message", status=400)

        meaning = incoming_text(message, self.enter_payload)
        if meaning.text is not None:
            metadata = {"userid": message.source, "agent_id": self.api.agent_id, "msg_type": message.type}
            await self.turns.answer(dedupe_key(message), message.source, meaning.text, metadata)
        elif meaning.immediate_reply:
            notice = PushOutput(CHANNEL_NAME, self.api, self.turns.menus).send_response(
                namespaced_sender_id(CHANNEL_NAME, message.source), {"text": meaning.immediate_reply}
            )
            asyncio.get_running_loop().create_task(notice)
        # WeCom needs an acknowledgement within 5 s; the answer travels separately.
        return response.text("")

    def get_output_channel(self) -> Optional[OutputChannel]:
        return PushOutput(CHANNEL_NAME, self.api, self.turns.menus)

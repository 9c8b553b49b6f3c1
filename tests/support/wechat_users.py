"""WeChat's side of a callback, built with wechatpy: a follower of an Official Account
and a WeCom member, sending signed (and encrypted) callbacks and reading replies."""
from __future__ import annotations

import base64
import os
import secrets
import time
import uuid
from typing import Optional

import httpx
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.utils import WeChatSigner


def new_aes_key() -> str:
    """An EncodingAESKey as the WeChat console makes them: 43 characters of base64."""
    return base64.b64encode(os.urandom(32)).decode()[:-1]


def signature(token: str, *parts: str) -> str:
    """WeChat's SHA1 signature over the token and ``parts`` (sorted)."""
    signer = WeChatSigner()
    signer.add_data(token, *parts)
    return signer.signature


class Follower:
    """A follower of the Official Account, as WeChat's servers present them to us:
    builds signed (in safe mode also encrypted) callbacks and reads the replies."""

    def __init__(
        self, http: httpx.AsyncClient, url: str, token: str, aes_key: Optional[str], app_id: str
    ) -> None:
        self.http = http
        self.url = url
        self.token = token
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
        self.openid = f"o{uuid.uuid4().hex[:27]}"

    def text_xml(self, content: str, msg_id: int, create_time: Optional[int] = None) -> str:
        return (
            f"<xml><ToUserName><![CDATA[gh_account]]></ToUserName>"
            f"<FromUserName><![CDATA[{self.openid}]]></FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
            f"<MsgId>{msg_id}</MsgId></xml>"
        )

    def event_xml(self, event: str, create_time: int, key: str = "") -> str:
        return (
            f"<xml><ToUserName><![CDATA[gh_account]]></ToUserName>"
            f"<FromUserName><![CDATA[{self.openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>"
        )

    async def deliver(
        self, xml: str, forge: Optional[str] = None, timestamp: Optional[int] = None, encrypt: bool = True
    ) -> httpx.Response:
        """POST ``xml`` as WeChat would; ``forge`` spoils ``signature`` or ``msg_signature``;
        ``timestamp`` signs another time than now; ``encrypt=False`` sends the body in
        plaintext even to an account in safe mode."""
        timestamp, nonce = str(timestamp or int(time.time())), secrets.token_hex(8)
        params = {"timestamp": timestamp, "nonce": nonce, "openid": self.openid,
                  "signature": signature(self.token, timestamp, nonce)}
        if forge == "signature":
            params["signature"] = signature("not-the-token", timestamp, nonce)
        body = xml
        if self.crypto and encrypt:
            envelope = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, timestamp))["xml"]
            body = (f"<xml><ToUserName><![CDATA[gh_account]]></ToUserName>"
                    f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>")
            params["encrypt_type"] = "aes"
            params["msg_signature"] = envelope["MsgSignature"]
            if forge == "msg_signature":
                params["msg_signature"] = signature("not-the-token", timestamp, nonce, envelope["Encrypt"])
        return await self.http.post(self.url, params=params, content=body.encode("utf-8"))

    def reply_text(self, response: httpx.Response) -> Optional[str]:
        """The text a follower sees from a passive reply; None for ``success``."""
        assert response.status_code == 200, response.text
        if response.text == "success":
            return None
        xml = response.text
        if self.crypto:
            envelope = xmltodict.parse(xml)["xml"]
            xml = self.crypto.decrypt_message(
                xml, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
            )
        reply = xmltodict.parse(xml)["xml"]
        assert (reply["ToUserName"], reply["FromUserName"]) == (self.openid, "gh_account")
        return reply["Content"]


class WeComMember:
    """A WeCom member writing to the application, as WeCom's servers present them."""

    def __init__(
        self, http: httpx.AsyncClient, url: str, token: str, aes_key: str, corp_id: str, agent_id: str
    ) -> None:
        self.http = http
        self.url = url
        self.token = token
        self.corp_id = corp_id
        self.agent_id = agent_id
        self.crypto = WeComCrypto(token, aes_key, corp_id)
        self.user_id = f"zhang{secrets.token_hex(3)}"

    def text_xml(self, content: str, msg_id: int) -> str:
        return (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<FromUserName><![CDATA[{self.user_id}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId>"
            f"<AgentID>{self.agent_id}</AgentID></xml>"
        )

    async def deliver(self, xml: str, forge: bool = False) -> httpx.Response:
        timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
        envelope = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, timestamp))["xml"]
        body = (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
                f"<AgentID><![CDATA[{self.agent_id}]]></AgentID>"
                f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>")
        msg_signature = envelope["MsgSignature"]
        if forge:
            msg_signature = signature("not-the-token", timestamp, nonce, envelope["Encrypt"])
        return await self.http.post(
            self.url,
            params={"msg_signature": msg_signature, "timestamp": timestamp, "nonce": nonce},
            content=body.encode("utf-8"),
        )

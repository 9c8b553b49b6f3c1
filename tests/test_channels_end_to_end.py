"""Telegram, WeChat and WeCom against the real running assistant.

One stack (Rasa server with the trained model, action server, web gateway) is started
with the three channels configured the way ``python -m bot run`` configures them from
env vars, pointed at fakes of the platforms: telegram-test-api (npm) for Telegram, and
the local fake of WeChat's API for WeChat / WeCom outbound calls. WeChat and WeCom
callbacks go through the public web gateway, as in production.

Each channel must give the same conversation as the REST channel (same answer to the
same message), and a staff reply sent the way the console sends it
(:class:`bot.handoff.rasa_client.RasaClient`, ``output_channel=latest``) must reach
the user on that channel.
"""
from __future__ import annotations

import asyncio
import secrets
import shutil
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Iterator, List

import httpx
import pytest

from bot.channels.textual import numbered_menu
from bot.handoff.rasa_client import RasaClient
from bot.handoff.ratings import SCALE, rating_buttons
from bot.handoff.store import HandoffStore, StaffMember
from bot.launcher import Stack, StackConfig, free_port
from bot.messages import user_text
from tests.helpers import send_rest
from tests.support.telegram_fake import TelegramTestUser, start_telegram_test_api
from tests.support.wechat_fake import FakeWeChatApi, fake_wechat_api_in_thread
from tests.support.wechat_users import Follower, WeComMember, new_aes_key

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(600)]

POLICY_QUESTION = "川渝联合研发项目支持哪些领域"
SUPPLIER_REQUEST = "我们需要重庆的铝合金轮毂供应商，要有IATF 16949"
APP_ID, APP_SECRET = "wx00e2e0000000000a", "official-account-secret"
CORP_ID, CORP_SECRET, AGENT_ID = "ww00e2e0000000000a", "wecom-app-secret", "1000002"


@pytest.fixture(scope="module")
def channels(
    trained_model: Path, platform_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SimpleNamespace]:
    work = tmp_path_factory.mktemp("channels-e2e")
    with start_telegram_test_api(work) as telegram_api, fake_wechat_api_in_thread(
        {APP_ID: APP_SECRET, CORP_ID: CORP_SECRET}
    ) as (wechat_api, wechat_api_url):
        shutil.copytree(platform_template, work / "var", dirs_exist_ok=True)
        settings = SimpleNamespace(
            telegram_token=f"{secrets.randbelow(10**9)}:{uuid.uuid4().hex}",
            wechat_token=secrets.token_hex(8),
            wechat_aes_key=new_aes_key(),
            wecom_token=secrets.token_hex(8),
            wecom_aes_key=new_aes_key(),
        )
        config = StackConfig(
            var_dir=work / "var",
            rasa_port=free_port(),
            action_port=free_port(),
            web_port=free_port(),
            extra_credentials={
                "bot.channels.telegram.TelegramInput": {
                    "token": settings.telegram_token, "mode": "polling",
                    "api_base_url": telegram_api.url, "poll_interval": 0.1,
                },
                "bot.channels.wechat.WeChatInput": {
                    "app_id": APP_ID, "app_secret": APP_SECRET, "token": settings.wechat_token,
                    "encoding_aes_key": settings.wechat_aes_key, "api_base_url": wechat_api_url,
                },
                "bot.channels.wechat.WeComInput": {
                    "corp_id": CORP_ID, "corp_secret": CORP_SECRET, "agent_id": AGENT_ID,
                    "token": settings.wecom_token, "encoding_aes_key": settings.wecom_aes_key,
                    "api_base_url": wechat_api_url,
                },
            },
        )
        stack = Stack(config).start()
        try:
            yield SimpleNamespace(
                stack=stack, telegram_api=telegram_api, wechat_api=wechat_api, **vars(settings)
            )
        finally:
            stack.stop()


async def rest_reference(stack: Stack, *texts: str) -> List[Dict[str, Any]]:
    """The assistant's answer to the last of ``texts``, sent in turn as a new REST user
    (the reference conversation)."""
    sender = f"rest-reference-{uuid.uuid4().hex}"
    for text in texts[:-1]:
        await asyncio.to_thread(send_rest, stack, sender, text)
    return await asyncio.to_thread(send_rest, stack, sender, texts[-1])


def as_text_channel_shows(rest_messages: List[Dict[str, Any]]) -> str:
    """What a text-only channel shows for these messages in one bubble: the texts
    (REST splits them at blank lines) and any buttons as a numbered menu."""
    text = "\n\n".join(message["text"] for message in rest_messages if message.get("text"))
    buttons = [button for message in rest_messages for button in message.get("buttons") or []]
    return numbered_menu(text, buttons) if buttons else text


async def telegram_replies(user: TelegramTestUser) -> List[Dict[str, Any]]:
    replies = await user.received(1, timeout=60)
    return replies + await user.nothing_more(2.0)


async def test_telegram_gives_the_same_conversation_and_delivers_staff_replies(channels) -> None:
    user = TelegramTestUser(channels.telegram_api.url, channels.telegram_token, chat_id=424242)
    try:
        await user.say("/start")
        greeting = await telegram_replies(user)
        expected_greeting = await rest_reference(channels.stack, "/greet")
        assert "\n\n".join(m["text"] for m in greeting) == "\n\n".join(
            m["text"] for m in expected_greeting if m.get("text")
        )
        keyboard = greeting[-1]["reply_markup"]["inline_keyboard"]
        titles = [button["title"] for m in expected_greeting for button in m.get("buttons") or []]
        assert [row[0]["text"] for row in keyboard] == titles and titles

        # 「了解合作政策」: a button whose answer needs no state (the last one hands over).
        await user.press(greeting[-1], titles[0])
        pressed = await telegram_replies(user)
        # (a payload is accepted only as a button the conversation offered: greet first)
        expected = await rest_reference(channels.stack, "/greet", expected_greeting[-1]["buttons"][0]["payload"])
        assert "\n\n".join(m["text"] for m in pressed) == "\n\n".join(
            m["text"] for m in expected if m.get("text")
        )

        await user.say(POLICY_QUESTION)
        answer = await telegram_replies(user)
        expected = await rest_reference(channels.stack, POLICY_QUESTION)
        assert "\n\n".join(m["text"] for m in answer) == "\n\n".join(
            m["text"] for m in expected if m.get("text")
        )

        # The list arrives as text and as a widget payload; the chat shows it once.
        await user.say(SUPPLIER_REQUEST)
        suppliers = await telegram_replies(user)
        expected = await rest_reference(channels.stack, SUPPLIER_REQUEST)
        assert any(m.get("custom") for m in expected), "the reference has the card payload"
        assert [m["text"] for m in suppliers] == ["\n\n".join(
            m["text"] for m in expected if m.get("text")
        )]

        rasa = RasaClient(channels.stack.rasa_url, channels.stack.token)
        try:
            await rasa.send_staff_message("telegram:424242", "您好，我是经信委的王老师。", "王老师")
        finally:
            await rasa.close()
        [staff] = await user.received(1, timeout=30)
        assert staff["text"] == "【人工客服 · 王老师】\n您好，我是经信委的王老师。"

        # After staff close, the rating buttons reach Telegram; pressing one records it.
        await asyncio.to_thread(served_and_closed, channels.stack, "telegram:424242")
        rasa = RasaClient(channels.stack.rasa_url, channels.stack.token)
        try:
            await rasa.append_events(
                "telegram:424242",
                [{"event": "bot", "text": user_text("rating.request"), "data": {"buttons": rating_buttons()}}],
                deliver=True,
            )
        finally:
            await rasa.close()
        [request] = await user.received(1, timeout=30)
        assert [row[0]["text"] for row in request["reply_markup"]["inline_keyboard"]] == list(SCALE.values())
        await user.press(request, "非常满意")
        [thanks] = await user.received(1, timeout=30)
        assert thanks["text"] == user_text("rating.thanks")
        store = HandoffStore(f"sqlite:///{channels.stack.var_dir / 'handoff.db'}")
        try:
            assert [r["score"] for r in store.rating_of("telegram:424242")] == [5]
        finally:
            store.dispose()
    finally:
        await user.close()


def served_and_closed(stack: Stack, sender_id: str) -> None:
    """Record in the handoff database that staff served and closed the conversation."""
    store = HandoffStore(f"sqlite:///{stack.var_dir / 'handoff.db'}")
    try:
        store.request_handoff(sender_id, "user_request", in_office_hours=True)
        store.take_over(sender_id, StaffMember(1, "wang", "agent"))
        store.end_handoff(sender_id, StaffMember(1, "wang", "agent"), close=True)
    finally:
        store.dispose()


async def wait_for_pushed(api: FakeWeChatApi, user_id: str, count: int) -> List[str]:
    for _ in range(300):
        if len(api.texts_to(user_id)) >= count:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # a duplicate, if any, would arrive now
    return api.texts_to(user_id)


async def test_wechat_official_account_through_the_gateway(channels) -> None:
    gateway = f"{channels.stack.web_url}/webhooks/wechat/webhook"
    async with httpx.AsyncClient(timeout=30) as http:
        follower = Follower(http, gateway, channels.wechat_token, channels.wechat_aes_key, APP_ID)
        expected = as_text_channel_shows(await rest_reference(channels.stack, POLICY_QUESTION))

        response = await follower.deliver(follower.text_xml(POLICY_QUESTION, msg_id=880001))
        passive = follower.reply_text(response)
        # In time: a passive reply; too slow: `success`, then the customer-service API.
        shown = passive if passive is not None else "\n\n".join(
            await wait_for_pushed(channels.wechat_api, follower.openid, 1)
        )
        assert shown == expected

        rasa = RasaClient(channels.stack.rasa_url, channels.stack.token)
        try:
            await rasa.send_staff_message(f"wechat:{follower.openid}", "您好，请留下联系电话。", "王老师")
        finally:
            await rasa.close()
        pushed = await wait_for_pushed(channels.wechat_api, follower.openid, 1)
        assert pushed[-1] == "【人工客服 · 王老师】\n您好，请留下联系电话。"


async def test_wecom_through_the_gateway(channels) -> None:
    gateway = f"{channels.stack.web_url}/webhooks/wecom/webhook"
    async with httpx.AsyncClient(timeout=30) as http:
        member = WeComMember(http, gateway, channels.wecom_token, channels.wecom_aes_key, CORP_ID, AGENT_ID)
        expected = as_text_channel_shows(await rest_reference(channels.stack, POLICY_QUESTION))

        response = await member.deliver(member.text_xml(POLICY_QUESTION, msg_id=990001))
        assert response.status_code == 200
        answer = await wait_for_pushed(channels.wechat_api, member.user_id, 1)
        assert "\n\n".join(answer) == expected

        rasa = RasaClient(channels.stack.rasa_url, channels.stack.token)
        try:
            await rasa.send_staff_message(f"wecom:{member.user_id}", "已为您转交。", "李老师")
        finally:
            await rasa.close()
        pushed = await wait_for_pushed(channels.wechat_api, member.user_id, len(answer) + 1)
        assert pushed[-1] == "【人工客服 · 李老师】\n已为您转交。"

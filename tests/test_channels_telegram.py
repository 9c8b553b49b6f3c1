"""Telegram channel against telegram-test-api, a fake Bot API server from npm.

The bot runs through python-telegram-bot exactly as in production, only its
``base_url`` points at the fake; a simulated user talks to it through the fake's
client API. Rasa's turn is played by :class:`ScriptedAssistant`, which answers through
the channel's real output channel the way Rasa does (``send_response``); staff replies
go through Rasa's own output-channel resolution (``output_channel=latest``).
"""
from __future__ import annotations

import json
import secrets
import uuid
from typing import Any, AsyncIterator, Dict, Tuple

import httpx
import pytest
import pytest_asyncio

from bot.channels.telegram import SECRET_TOKEN_HEADER, TelegramInput
from bot.messages import user_text
from tests.support.sanic_server import serving
from tests.support.scripted_assistant import (
    SUPPLIER_LIST_TEXT,
    SUPPLIER_PAYLOAD,
    ScriptedAssistant,
    staff_reply_through_rasa,
)
from tests.support.telegram_fake import TelegramTestApi, TelegramTestUser, start_telegram_test_api

pytestmark = [pytest.mark.timeout(60), pytest.mark.stack]  # the fake Bot API runs on Node

# 6,000 characters in 120 lines: over Telegram's 4,096-character limit.
LONG_ANSWER = "\n".join(f"第{line:03d}条：" + "川渝合作" * 11 for line in range(120))


@pytest.fixture(scope="module")
def telegram_api(tmp_path_factory: pytest.TempPathFactory) -> TelegramTestApi:
    with start_telegram_test_api(tmp_path_factory.mktemp("telegram")) as api:
        yield api


def new_bot_token() -> str:
    """A fresh token per test, so tests never see each other's messages in the fake."""
    return f"{secrets.randbelow(10**9)}:{uuid.uuid4().hex}"


async def run_channel(
    credentials: Dict[str, Any],
) -> Tuple[TelegramInput, ScriptedAssistant, Any]:
    channel = TelegramInput.from_credentials(credentials)
    assistant = ScriptedAssistant(long_answer=LONG_ANSWER)
    return channel, assistant, serving(
        channel.blueprint(assistant), url_prefix="/webhooks/telegram", input_channels=[channel]
    )


@pytest_asyncio.fixture
async def polling_bot(
    telegram_api: TelegramTestApi,
) -> AsyncIterator[Tuple[TelegramInput, ScriptedAssistant, TelegramTestUser]]:
    token = new_bot_token()
    channel, assistant, server = await run_channel(
        {"token": token, "mode": "polling", "api_base_url": telegram_api.url, "poll_interval": 0.05}
    )
    user = TelegramTestUser(telegram_api.url, token, chat_id=secrets.randbelow(10**9) + 1)
    async with server:
        yield channel, assistant, user
    await user.close()


@pytest.mark.asyncio
async def test_a_question_gets_its_answer_in_the_chat(polling_bot) -> None:
    _, assistant, user = polling_bot

    await user.say("川渝联合研发项目支持哪些领域？")

    [reply] = await user.received(1)
    assert reply["text"] == "关于「川渝联合研发项目支持哪些领域？」的回答"
    [message] = assistant.received
    assert message.sender_id == f"telegram:{user.chat_id}"
    assert message.input_channel == "telegram"
    assert message.metadata["telegram"]["name"] == "测试用户"


@pytest.mark.asyncio
async def test_start_command_greets_with_inline_buttons_that_send_their_payload(polling_bot) -> None:
    _, assistant, user = polling_bot

    await user.say("/start welcome")  # a deep link's /start carries a parameter
    [greeting] = await user.received(1)

    assert assistant.received[0].text == "/greet"
    assert greeting["text"] == "您好！我可以帮您："
    keyboard = greeting["reply_markup"]["inline_keyboard"]
    assert [row[0]["text"] for row in keyboard] == ["政策咨询", "找供应商"]
    assert all(len(row[0]["callback_data"].encode()) <= 64 for row in keyboard)

    await user.press(greeting, "找供应商")
    [reply] = await user.received(1)

    assert assistant.received[1].text == SUPPLIER_PAYLOAD
    assert assistant.received[1].sender_id == f"telegram:{user.chat_id}"
    match_list = reply["text"]
    assert match_list.index("1. 重庆渝轮铝业有限公司（重庆·渝北区）") < match_list.index(
        "2. 成都蜀达汽车零部件有限公司（四川·成都）"
    )
    assert "· 具备 IATF 16949" in match_list
    assert "{" not in match_list, "the user must not see raw JSON"


@pytest.mark.asyncio
async def test_a_list_sent_as_text_and_as_payload_is_shown_once(polling_bot) -> None:
    _, _, user = polling_bot

    await user.say("找供应商")

    [reply] = await user.received(1)
    assert reply["text"] == SUPPLIER_LIST_TEXT
    assert await user.nothing_more(1.0) == []


@pytest.mark.asyncio
async def test_a_forged_button_press_is_answered_and_never_reaches_the_assistant(
    polling_bot, telegram_api: TelegramTestApi
) -> None:
    _, assistant, user = polling_bot
    await user.say("/start")
    [greeting] = await user.received(1)

    await user.send_callback(greeting, "/transfer_to_staff")
    [answer] = await user.received(1)
    assert answer["text"] == user_text("telegram.button_expired")

    # A genuine token of one chat is not valid in another chat either.
    genuine = greeting["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    intruder = TelegramTestUser(telegram_api.url, user.token, chat_id=user.chat_id + 1)
    await intruder.send_callback(greeting, genuine)
    [refusal] = await intruder.received(1)
    await intruder.close()

    assert refusal["text"] == user_text("telegram.button_expired")
    assert [message.text for message in assistant.received] == ["/greet"]


@pytest.mark.asyncio
async def test_a_long_answer_arrives_whole_in_several_messages(polling_bot) -> None:
    _, _, user = polling_bot

    await user.say("长答案")

    parts = await user.received(2)
    assert all(len(part["text"]) <= 4096 for part in parts)
    assert "\n".join(part["text"] for part in parts) == LONG_ANSWER


@pytest.mark.asyncio
async def test_a_failing_turn_tells_the_user(polling_bot) -> None:
    _, _, user = polling_bot

    await user.say("出错")

    [reply] = await user.received(1)
    assert reply["text"] == user_text("channel.turn_failed")


@pytest.mark.asyncio
async def test_staff_reply_reaches_the_chat_through_rasas_latest_output_channel(
    polling_bot,
) -> None:
    channel, _, user = polling_bot

    await staff_reply_through_rasa(
        channel, f"telegram:{user.chat_id}", "您好，我是王老师，请问需要什么帮助？", "王老师"
    )

    [reply] = await user.received(1)
    assert reply["text"] == "【人工客服 · 王老师】\n您好，我是王老师，请问需要什么帮助？"


@pytest.mark.asyncio
async def test_staff_typing_shows_typing_in_the_chat_until_the_reply(
    telegram_api: TelegramTestApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console's typing signal reaches the chat through the Rasa server's loopback
    route (with the API token) as Telegram's own "typing…" chat action."""
    monkeypatch.setenv("RASA_TOKEN", "rasa-api-token-for-typing")
    token = new_bot_token()
    channel, _, server = await run_channel(
        {"token": token, "mode": "polling", "api_base_url": telegram_api.url, "poll_interval": 0.05}
    )
    user = TelegramTestUser(telegram_api.url, token, chat_id=secrets.randbelow(10**9) + 1)
    signal = {"sender_id": f"telegram:{user.chat_id}", "channel": "telegram", "typing": True}
    try:
        async with server as url, httpx.AsyncClient(base_url=url, timeout=10) as rasa:
            refused = await rasa.post("/staff-typing", params={"token": "guessed"}, json=signal)
            assert refused.status_code == 401
            assert await user.chat_actions() == []

            shown = await rasa.post("/staff-typing", params={"token": "rasa-api-token-for-typing"}, json=signal)
            assert shown.json() == {"shown": True}
            assert await user.chat_actions() == ["typing"]
            # Telegram has no "stopped typing": the reply itself ends it.
            stopped = await rasa.post(
                "/staff-typing", params={"token": "rasa-api-token-for-typing"}, json={**signal, "typing": False}
            )
            assert stopped.json() == {"shown": False}
            assert await user.chat_actions() == ["typing"]

            malformed = await rasa.post(
                "/staff-typing", params={"token": "rasa-api-token-for-typing"}, json={"typing": "yes"}
            )
            assert malformed.status_code == 400
    finally:
        await user.close()


@pytest_asyncio.fixture
async def webhook_bot(
    telegram_api: TelegramTestApi,
) -> AsyncIterator[Tuple[str, str, ScriptedAssistant, TelegramTestUser]]:
    token = new_bot_token()
    secret = secrets.token_urlsafe(24)
    channel, assistant, server = await run_channel(
        {"token": token, "mode": "webhook", "webhook_secret": secret,
         "api_base_url": telegram_api.url}
    )
    user = TelegramTestUser(telegram_api.url, token, chat_id=secrets.randbelow(10**9) + 1)
    async with server as url:
        yield f"{url}/webhooks/telegram/webhook", secret, assistant, user
    await user.close()


def update_from(user: TelegramTestUser, text: str) -> Dict[str, Any]:
    return {
        "update_id": secrets.randbelow(10**6) + 1,
        "message": {"message_id": 1, "date": 1764130000, "chat": user.chat,
                    "from": user.user, "text": text},
    }


@pytest.mark.asyncio
async def test_webhook_without_the_right_secret_token_is_refused(webhook_bot) -> None:
    webhook_url, secret, assistant, user = webhook_bot
    async with httpx.AsyncClient() as http:
        missing = await http.post(webhook_url, json=update_from(user, "你好"))
        wrong = await http.post(
            webhook_url, json=update_from(user, "你好"), headers={SECRET_TOKEN_HEADER: "guess"}
        )
        right = await http.post(
            webhook_url, json=update_from(user, "你好"), headers={SECRET_TOKEN_HEADER: secret}
        )

    assert (missing.status_code, wrong.status_code, right.status_code) == (403, 403, 200)
    [reply] = await user.received(1)
    assert reply["text"] == "关于「你好」的回答"
    assert [message.text for message in assistant.received] == ["你好"]


@pytest.mark.asyncio
async def test_webhook_redelivery_of_an_update_is_answered_once(webhook_bot) -> None:
    webhook_url, secret, assistant, user = webhook_bot
    update = update_from(user, "成渝双城经济圈")
    async with httpx.AsyncClient() as http:
        for _ in range(2):
            delivered = await http.post(webhook_url, json=update, headers={SECRET_TOKEN_HEADER: secret})
            assert delivered.status_code == 200

    [reply] = await user.received(1)
    assert reply["text"] == "关于「成渝双城经济圈」的回答"
    assert await user.nothing_more(1.0) == []
    assert [message.text for message in assistant.received] == ["成渝双城经济圈"]


@pytest.mark.asyncio
async def test_webhook_refuses_a_delivery_that_lacks_the_secret(
    webhook_bot, telegram_api: TelegramTestApi
) -> None:
    # telegram-test-api cannot send a secret token: its webhook deliveries stand for
    # anyone who found the URL.
    webhook_url, _, assistant, user = webhook_bot
    async with httpx.AsyncClient() as http:
        registered = await http.post(
            f"{telegram_api.url}/bot{user.token}/setWebhook", json={"url": webhook_url}
        )
    assert registered.json()["ok"]

    await user.say("伪造的消息")

    assert await user.nothing_more(1.5) == []
    assert assistant.received == []
    assert "status code 403" in telegram_api.log()


@pytest.mark.asyncio
async def test_malformed_webhook_body_is_a_clear_400(webhook_bot) -> None:
    webhook_url, secret, assistant, _ = webhook_bot
    async with httpx.AsyncClient() as http:
        response = await http.post(
            webhook_url, content=json.dumps({"message": "x"}), headers={SECRET_TOKEN_HEADER: secret,
                                                                        "content-type": "application/json"}
        )
    assert response.status_code == 400
    assert "not a Telegram update" in response.json()["error"]
    assert assistant.received == []


def test_webhook_mode_requires_a_secret() -> None:
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET"):
        TelegramInput.from_credentials({"token": new_bot_token(), "mode": "webhook"})


@pytest.mark.asyncio
async def test_the_channel_follows_the_language_the_user_writes(polling_bot) -> None:
    channel, assistant, user = polling_bot

    await user.say("Hello, what can you do?")
    [answer] = await user.received(1)
    await user.send_callback(answer, "expired-token")
    [expired] = await user.received(1)
    assert expired["text"] == user_text("telegram.button_expired", "en")
    assert expired["text"].startswith("This button has expired")

    await staff_reply_through_rasa(channel, f"telegram:{user.chat_id}", "Hello, how can I help?", "Wang")
    [staff] = await user.received(1)
    assert staff["text"] == "[Staff · Wang]\nHello, how can I help?"

    # Writing Chinese again switches back; a message without language (a number) changes nothing.
    await user.say("川渝联合研发项目支持哪些领域？")
    await user.received(1)
    await user.say("16949")
    await user.received(1)
    await user.send_callback(answer, "expired-token")
    [expired] = await user.received(1)
    assert expired["text"] == user_text("telegram.button_expired")
    assert [m.text for m in assistant.received] == [
        "Hello, what can you do?", "川渝联合研发项目支持哪些领域？", "16949"]


@pytest.mark.asyncio
async def test_start_from_an_english_telegram_app_asks_for_the_english_greeting(polling_bot) -> None:
    _, assistant, user = polling_bot
    user.user["language_code"] = "en-GB"

    await user.say("/start")
    await user.received(1)

    assert assistant.received[0].text == '/greet{"language":"en"}'


@pytest.mark.asyncio
async def test_start_from_a_chinese_telegram_app_gets_the_default_greeting(polling_bot) -> None:
    _, assistant, user = polling_bot
    user.user["language_code"] = "zh-hans"

    await user.say("/start")
    await user.received(1)

    assert assistant.received[0].text == "/greet"


@pytest.mark.asyncio
async def test_a_lone_surrogate_is_refused_in_the_chat_and_never_reaches_the_assistant(webhook_bot) -> None:
    webhook_url, secret, assistant, user = webhook_bot
    update = update_from(user, "你\ud800")
    async with httpx.AsyncClient() as http:
        delivered = await http.post(
            webhook_url, content=json.dumps(update), headers={SECRET_TOKEN_HEADER: secret,
                                                              "content-type": "application/json"}
        )
        assert delivered.status_code == 200
        [reply] = await user.received(1)
        assert reply["text"] == user_text("input.invalid_characters")
        assert assistant.received == []
        update = update_from(user, "你好\x00")
        update["message"]["from"] = {**user.user, "first_name": "张\udc00三"}
        await http.post(webhook_url, content=json.dumps(update), headers={SECRET_TOKEN_HEADER: secret,
                                                                          "content-type": "application/json"})
    [answer] = await user.received(1)
    assert answer["text"] == "关于「你好」的回答"
    [message] = assistant.received
    assert message.metadata["telegram"]["name"].startswith("张\ufffd三")  # shown, never stored broken

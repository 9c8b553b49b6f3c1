"""WeChat Official Account and WeCom channels with real signed / encrypted callbacks.

Callbacks are built with wechatpy's own signer and crypto, as WeChat's servers
would send them; outbound calls (access token, customer-service and WeCom message
API) go to a local fake of WeChat's API (:mod:`tests.support.wechat_fake`). Rasa's turn
is played by :class:`ScriptedAssistant`, answering through the channel's real output
channel the way Rasa does (``send_response``).
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from typing import AsyncIterator, List, Optional, Tuple

import httpx
import pytest
import pytest_asyncio
import xmltodict
from wechatpy.exceptions import WeChatClientException

from bot.channels.textual import format_match_list
from bot.channels.wechat import WeChatInput, WeComInput
from bot.messages import user_text
from tests.support.sanic_server import serving
from tests.support.scripted_assistant import (
    SUPPLIER_LIST_TEXT,
    SUPPLIER_MATCHES,
    SUPPLIER_PAYLOAD,
    ScriptedAssistant,
    staff_reply_through_rasa,
)
from tests.support.wechat_fake import FakeWeChatApi, fake_wechat_api
from tests.support.wechat_users import Follower, WeComMember, new_aes_key, signature

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

APP_ID = "wx0123456789abcdef"
APP_SECRET = "official-account-secret"
CORP_ID = "ww0123456789abcdef"
CORP_SECRET = "wecom-app-secret"
AGENT_ID = "1000002"

# About 5,000 bytes: over WeChat's 2,048-byte limit for one text message.
LONG_ANSWER = "\n".join(f"第{line:02d}条：" + "川渝合作" * 8 for line in range(45))


OfficialAccount = Tuple[WeChatInput, ScriptedAssistant, FakeWeChatApi, Follower]


async def official_account(
    aes_key: Optional[str], answer_delay: float = 0.0, reply_timeout: float = 4.0
) -> AsyncIterator[OfficialAccount]:
    token = secrets.token_hex(8)
    async with fake_wechat_api({APP_ID: APP_SECRET}) as (fake, api_url):
        credentials = {"app_id": APP_ID, "app_secret": APP_SECRET, "token": token,
                       "api_base_url": api_url, "reply_timeout": reply_timeout}
        if aes_key:
            credentials["encoding_aes_key"] = aes_key
        channel = WeChatInput.from_credentials(credentials)
        assistant = ScriptedAssistant(LONG_ANSWER, answer_delay)
        async with serving(channel.blueprint(assistant), url_prefix="/webhooks/wechat") as url:
            async with httpx.AsyncClient(timeout=15) as http:
                yield channel, assistant, fake, Follower(
                    http, f"{url}/webhooks/wechat/webhook", token, aes_key, APP_ID
                )


@pytest_asyncio.fixture(params=["plaintext", "safe mode"])
async def account(request: pytest.FixtureRequest) -> AsyncIterator[OfficialAccount]:
    aes_key = new_aes_key() if request.param == "safe mode" else None
    async for running in official_account(aes_key):
        yield running


@pytest_asyncio.fixture
async def slow_account() -> AsyncIterator[OfficialAccount]:
    """An account whose assistant needs longer than the passive-reply window."""
    async for running in official_account(new_aes_key(), answer_delay=1.5, reply_timeout=0.5):
        yield running


async def test_url_verification_echoes_only_a_signed_request(account: OfficialAccount) -> None:
    _, _, _, follower = account
    timestamp, nonce, echostr = str(int(time.time())), "n0nce", "5837397487294"
    signed = {"timestamp": timestamp, "nonce": nonce, "echostr": echostr,
              "signature": signature(follower.token, timestamp, nonce)}
    forged = {**signed, "signature": signature("guess", timestamp, nonce)}

    good = await follower.http.get(follower.url, params=signed)
    bad = await follower.http.get(follower.url, params=forged)

    assert (good.status_code, good.text) == (200, echostr)
    assert bad.status_code == 403 and echostr not in bad.text


async def test_a_question_gets_a_passive_reply(account: OfficialAccount) -> None:
    _, assistant, fake, follower = account

    response = await follower.deliver(follower.text_xml("川渝联合研发项目支持哪些领域？", msg_id=1001))

    assert follower.reply_text(response) == "关于「川渝联合研发项目支持哪些领域？」的回答"
    [message] = assistant.received
    assert message.sender_id == f"wechat:{follower.openid}"
    assert message.input_channel == "wechat"
    assert fake.sent == []


async def test_forged_callbacks_are_refused(account: OfficialAccount) -> None:
    _, assistant, _, follower = account
    forged_signature = await follower.deliver(follower.text_xml("你好", 1002), forge="signature")
    assert forged_signature.status_code == 403
    if follower.crypto:
        forged_body = await follower.deliver(follower.text_xml("你好", 1003), forge="msg_signature")
        assert forged_body.status_code == 403
    assert assistant.received == []


async def test_the_same_msgid_three_times_is_answered_once(account: OfficialAccount) -> None:
    channel, assistant, fake, follower = account
    assistant.answer_delay = 0.3
    xml = follower.text_xml("专家库共享协议是什么时候签的？", msg_id=2001)

    # WeChat's retries can overlap the first delivery or come after it.
    concurrent = await asyncio.gather(follower.deliver(xml), follower.deliver(xml))
    later = await follower.deliver(xml)

    replies = {follower.reply_text(response) for response in [*concurrent, later]}
    assert replies == {"关于「专家库共享协议是什么时候签的？」的回答"}
    assert assistant.texts == ["专家库共享协议是什么时候签的？"]
    assert channel.turns.turns_started == 1
    assert fake.sent == []


async def test_a_slow_answer_is_delivered_once_through_the_customer_service_api(
    slow_account: OfficialAccount,
) -> None:
    _, assistant, fake, follower = slow_account
    xml = follower.text_xml("帮我找重庆的铝合金轮毂供应商", msg_id=3001)

    started = time.monotonic()
    first = await follower.deliver(xml)
    answered_after = time.monotonic() - started
    retry = await follower.deliver(xml)  # WeChat retries while the answer is being made

    assert follower.reply_text(first) is None and follower.reply_text(retry) is None
    assert answered_after < 1.5, "WeChat must get `success` before its 5 s are up"
    for _ in range(60):
        if fake.sent:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # a second delivery, if any, would arrive now
    assert fake.texts_to(follower.openid) == ["关于「帮我找重庆的铝合金轮毂供应商」的回答"]
    assert assistant.texts == ["帮我找重庆的铝合金轮毂供应商"]


async def test_an_answer_too_long_for_one_reply_arrives_whole_through_the_api(
    account: OfficialAccount,
) -> None:
    _, _, fake, follower = account

    response = await follower.deliver(follower.text_xml("长答案", msg_id=3101))

    assert follower.reply_text(response) is None
    parts = await wait_for_texts(fake, follower.openid, 3)
    assert len(parts) > 1 and all(len(part.encode()) <= 2048 for part in parts)
    assert "\n".join(parts) == LONG_ANSWER


async def test_buttons_are_a_numbered_menu_answered_by_number(account: OfficialAccount) -> None:
    _, assistant, _, follower = account
    now = int(time.time())

    greeting = follower.reply_text(await follower.deliver(follower.event_xml("subscribe", now)))
    assert greeting == "您好！我可以帮您：\n\n请回复数字选择：\n1. 政策咨询\n2. 找供应商"

    matches = follower.reply_text(await follower.deliver(follower.text_xml("２", msg_id=4001)))
    assert assistant.texts == ["/greet", SUPPLIER_PAYLOAD]
    assert matches.startswith("为您匹配到的供应商：\n1. 重庆渝轮铝业有限公司（重庆·渝北区）")
    assert "2. 成都蜀达汽车零部件有限公司（四川·成都）\n   · 产品：铝合金轮毂\n   · 四川供应商，跨区域可选" in matches

    # That answer had no menu: a number now is just text (say, a quantity).
    follower.reply_text(await follower.deliver(follower.text_xml("2", msg_id=4002)))
    assert assistant.texts[-1] == "2"


async def test_an_english_conversation_gets_the_menu_and_list_in_english(account: OfficialAccount) -> None:
    _, _, _, follower = account

    greeting = follower.reply_text(await follower.deliver(follower.text_xml("Hello there", msg_id=4051)))
    assert greeting == "Hello! I can help you with:\n\nReply with a number to choose:\n1. Policies\n2. Find suppliers"
    # A list sent without a text of its own gets the channel's heading, in English too.
    assert format_match_list(SUPPLIER_MATCHES, "en").startswith("Matching suppliers:\n1. 重庆渝轮铝业有限公司 (")


async def test_a_list_sent_as_text_and_as_payload_is_shown_once(account: OfficialAccount) -> None:
    _, _, fake, follower = account

    reply = follower.reply_text(await follower.deliver(follower.text_xml("找供应商", msg_id=4101)))

    assert reply == SUPPLIER_LIST_TEXT
    assert fake.sent == []


async def test_events_are_deduplicated_by_sender_and_time(account: OfficialAccount) -> None:
    _, assistant, _, follower = account
    now = int(time.time())
    click = follower.event_xml("CLICK", now, key="/ask_policy")

    replies = [follower.reply_text(await follower.deliver(click)) for _ in range(3)]
    other_second = follower.reply_text(
        await follower.deliver(follower.event_xml("CLICK", now + 1, key="/ask_policy"))
    )

    assert replies == ["关于「/ask_policy」的回答"] * 3 and other_second == replies[0]
    assert assistant.texts == ["/ask_policy", "/ask_policy"]


async def test_non_text_messages_and_failures_get_a_clear_answer(account: OfficialAccount) -> None:
    _, assistant, _, follower = account
    image = follower.text_xml("x", 5001).replace(
        "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[x]]></Content>",
        "<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://x/1.jpg]]></PicUrl>"
        "<MediaId><![CDATA[m1]]></MediaId>",
    )
    assert follower.reply_text(await follower.deliver(image)) == user_text("input.text_only")
    failed = follower.reply_text(await follower.deliver(follower.text_xml("出错", 5002)))
    assert failed == user_text("channel.turn_failed")
    assert assistant.texts == ["出错"]


async def test_an_english_conversation_is_told_in_english_that_only_text_is_read(
    account: OfficialAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasa.shared.core.events import SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.channels.wechat import callback

    _, _, _, follower = account

    class EnglishConversations:
        """Rasa's agent as the channel sees it: every conversation is in English."""

        def __init__(self) -> None:
            self.tracker_store = self

        async def retrieve(self, sender_id: str) -> DialogueStateTracker:
            return DialogueStateTracker.from_events(sender_id, [SlotSet("language", "en")])

    monkeypatch.setattr(callback, "running_agent", EnglishConversations)
    image = follower.text_xml("x", 5101).replace(
        "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[x]]></Content>",
        "<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://x/1.jpg]]></PicUrl>"
        "<MediaId><![CDATA[m1]]></MediaId>",
    )
    assert follower.reply_text(await follower.deliver(image)) == user_text("input.text_only", "en")


async def test_staff_reply_reaches_the_follower_through_the_customer_service_api(
    account: OfficialAccount,
) -> None:
    channel, _, fake, follower = account

    await staff_reply_through_rasa(channel, f"wechat:{follower.openid}", "您好，我来帮您对接。", "王老师")

    assert fake.texts_to(follower.openid) == ["【人工客服 · 王老师】\n您好，我来帮您对接。"]


async def test_an_undeliverable_staff_reply_is_reported_not_lost_silently(
    account: OfficialAccount,
) -> None:
    channel, _, fake, follower = account
    fake.out_of_window.add(follower.openid)

    # Rasa's HTTP API turns this into a 500, so the console can tell staff.
    with pytest.raises(WeChatClientException, match="45015"):
        await staff_reply_through_rasa(channel, f"wechat:{follower.openid}", "您好", "王老师")


async def test_concurrent_sends_fetch_the_access_token_once(account: OfficialAccount) -> None:
    channel, _, fake, _ = account
    followers = [f"o{uuid.uuid4().hex[:27]}" for _ in range(5)]

    async def reply_to_all(text: str) -> None:
        await asyncio.gather(*(
            staff_reply_through_rasa(channel, f"wechat:{openid}", text, "王老师")
            for openid in followers
        ))

    await reply_to_all("第一条")
    assert fake.token_requests == 1

    fake.revoke_token()  # the token expired (or was refreshed elsewhere)
    await reply_to_all("第二条")

    assert fake.token_requests == 2
    for openid in followers:
        assert fake.texts_to(openid) == ["【人工客服 · 王老师】\n第一条", "【人工客服 · 王老师】\n第二条"]


def test_a_malformed_aes_key_is_a_clear_configuration_error() -> None:
    with pytest.raises(ValueError, match="WECHAT_ENCODING_AES_KEY must be the 43-character"):
        WeChatInput.from_credentials(
            {"app_id": APP_ID, "app_secret": APP_SECRET, "token": "t", "encoding_aes_key": "short"}
        )


# --- WeCom -------------------------------------------------------------------------


WeComApp = Tuple[WeComInput, ScriptedAssistant, FakeWeChatApi, WeComMember]


@pytest_asyncio.fixture
async def wecom() -> AsyncIterator[WeComApp]:
    token, aes_key = secrets.token_hex(8), new_aes_key()
    async with fake_wechat_api({CORP_ID: CORP_SECRET}) as (fake, api_url):
        channel = WeComInput.from_credentials(
            {"corp_id": CORP_ID, "corp_secret": CORP_SECRET, "agent_id": AGENT_ID,
             "token": token, "encoding_aes_key": aes_key, "api_base_url": api_url}
        )
        assistant = ScriptedAssistant(LONG_ANSWER)
        async with serving(channel.blueprint(assistant), url_prefix="/webhooks/wecom") as url:
            async with httpx.AsyncClient(timeout=15) as http:
                yield channel, assistant, fake, WeComMember(
                    http, f"{url}/webhooks/wecom/webhook", token, aes_key, CORP_ID, AGENT_ID
                )


async def wait_for_texts(fake: FakeWeChatApi, user_id: str, count: int) -> List[str]:
    for _ in range(100):
        if len(fake.texts_to(user_id)) >= count:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # a duplicate, if any, would arrive now
    return fake.texts_to(user_id)


async def test_wecom_url_verification_returns_the_decrypted_echostr_bare(wecom: WeComApp) -> None:
    _, _, _, member = wecom
    timestamp, nonce = str(int(time.time())), "n0nce"
    plain_echo = "1616140317555161061"
    envelope = xmltodict.parse(member.crypto.encrypt_message(plain_echo, nonce, timestamp))["xml"]
    params = {"msg_signature": envelope["MsgSignature"], "timestamp": timestamp, "nonce": nonce,
              "echostr": envelope["Encrypt"]}

    good = await member.http.get(member.url, params=params)
    forged = await member.http.get(
        member.url, params={**params, "msg_signature": signature("x", timestamp, nonce, envelope["Encrypt"])}
    )

    assert (good.status_code, good.text) == (200, plain_echo)
    assert forged.status_code == 403


async def test_wecom_message_is_answered_once_through_the_message_api(wecom: WeComApp) -> None:
    _, assistant, fake, member = wecom
    xml = member.text_xml("成渝地区双城经济圈有哪些合作项目？", msg_id=7001)

    responses = [await member.deliver(xml) for _ in range(3)]

    assert [response.status_code for response in responses] == [200, 200, 200]
    assert await wait_for_texts(fake, member.user_id, 1) == ["关于「成渝地区双城经济圈有哪些合作项目？」的回答"]
    assert [message.sender_id for message in assistant.received] == [f"wecom:{member.user_id}"]


async def test_wecom_forged_message_is_refused(wecom: WeComApp) -> None:
    _, assistant, fake, member = wecom
    response = await member.deliver(member.text_xml("你好", msg_id=7002), forge=True)
    assert response.status_code == 403
    assert assistant.received == [] and fake.sent == []


async def test_wecom_buttons_and_staff_reply(wecom: WeComApp) -> None:
    channel, assistant, fake, member = wecom
    await member.deliver(member.text_xml("/greet", msg_id=7003))
    [menu] = await wait_for_texts(fake, member.user_id, 1)
    assert menu.endswith("请回复数字选择：\n1. 政策咨询\n2. 找供应商")

    await member.deliver(member.text_xml("1", msg_id=7004))
    await wait_for_texts(fake, member.user_id, 2)
    assert assistant.texts == ["/greet", "/ask_policy"]

    await staff_reply_through_rasa(channel, f"wecom:{member.user_id}", "已为您登记。", "李老师")
    texts = await wait_for_texts(fake, member.user_id, 3)
    assert texts[-1] == "【人工客服 · 李老师】\n已为您登记。"


async def test_wecom_non_text_message_gets_a_notice_through_the_message_api(wecom: WeComApp) -> None:
    channel, assistant, fake, member = wecom
    image = member.text_xml("x", msg_id=7005).replace(
        "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[x]]></Content>",
        "<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://x/1.jpg]]></PicUrl>"
        "<MediaId><![CDATA[m1]]></MediaId>",
    )

    response = await member.deliver(image)

    assert response.status_code == 200
    assert await wait_for_texts(fake, member.user_id, 1) == [user_text("input.text_only")]
    assert assistant.received == []
    assert channel.turns.tasks.running == 0  # the notice's task is done and let go


async def test_wecom_notice_that_cannot_be_delivered_is_logged(
    wecom: WeComApp, caplog: pytest.LogCaptureFixture
) -> None:
    channel, _, fake, member = wecom
    fake.credentials.clear()  # WeCom refuses our secret from now on: no token, no delivery

    with caplog.at_level(logging.ERROR, logger="bot.tasks"):
        channel.turns.notify(member.user_id, user_text("input.text_only"))
        for _ in range(100):
            if channel.turns.tasks.running == 0:
                break
            await asyncio.sleep(0.05)

    assert fake.sent == []
    [failure] = [record for record in caplog.records if record.name == "bot.tasks"]
    assert "notice to" in failure.getMessage() and failure.exc_info is not None


async def test_another_followers_msgid_gets_their_own_answer(account: OfficialAccount) -> None:
    channel, assistant, _, follower = account
    other = Follower(follower.http, follower.url, follower.token, None, APP_ID)
    other.crypto = follower.crypto
    first = follower.reply_text(await follower.deliver(follower.text_xml("园区在哪里", msg_id=7001)))
    second = other.reply_text(await other.deliver(other.text_xml("找专家", msg_id=7001)))
    assert (first, second) == ("关于「园区在哪里」的回答", "关于「找专家」的回答")
    assert assistant.texts == ["园区在哪里", "找专家"]
    assert channel.turns.turns_started == 2


@pytest.mark.parametrize("age_s", [301, 86_400, 365 * 86_400, -3600])
async def test_callbacks_outside_the_freshness_window_are_refused(account: OfficialAccount, age_s: int) -> None:
    _, assistant, _, follower = account
    stale = int(time.time()) - age_s
    response = await follower.deliver(follower.text_xml("你好", msg_id=7100 + age_s % 97), timestamp=stale)
    assert response.status_code == 403 and "stale" in response.text
    assert assistant.received == []
    fresh = await follower.deliver(follower.text_xml("你好", msg_id=7200), timestamp=int(time.time()) - 60)
    assert follower.reply_text(fresh) == "关于「你好」的回答"


async def test_safe_mode_refuses_a_signed_but_unencrypted_body() -> None:
    async for _, assistant, _, follower in official_account(new_aes_key()):
        response = await follower.deliver(follower.text_xml("伪造的消息", msg_id=7300), encrypt=False)
        assert response.status_code == 403 and "safe mode" in response.text
        assert assistant.received == []


@pytest.mark.parametrize("sender", ["o" + "x" * 200, "o user with spaces", "o/../x"])
async def test_a_sender_id_that_could_not_be_stored_is_refused(account: OfficialAccount, sender: str) -> None:
    _, assistant, _, follower = account
    xml = follower.text_xml("你好", msg_id=7400).replace(follower.openid, sender)
    response = await follower.deliver(xml)
    assert response.status_code == 400 and "sender" in response.text
    assert assistant.received == []


async def test_plaintext_mode_warns_at_start(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        async for _ in official_account(None):
            pass
    assert any("plaintext mode" in record.getMessage() for record in caplog.records)


async def test_staff_typing_shows_in_the_followers_chat_while_wechat_allows_it(account: OfficialAccount) -> None:
    channel, _, fake, follower = account
    sender_id = f"wechat:{follower.openid}"

    assert await channel.show_staff_typing(sender_id, True) is True
    assert await channel.show_staff_typing(sender_id, False) is True
    assert fake.typing == [(follower.openid, "Typing"), (follower.openid, "CancelTyping")]

    # Too long after the follower's last message WeChat refuses: no signal, no error for staff.
    fake.out_of_window.add(follower.openid)
    assert await channel.show_staff_typing(sender_id, True) is False
    assert len(fake.typing) == 2

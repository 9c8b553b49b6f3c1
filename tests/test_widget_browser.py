"""The web widget on the demo government portal, in headless Chromium (Debian's).

Everything runs against the real assistant (``assistant`` fixture: Rasa, action
server and web gateway); the browser reaches only the gateway, as a portal visitor
would. Staff replies and payloads are pushed through Rasa's HTTP API with
``output_channel=latest`` by the console's own client (:class:`RasaClient`).
Screenshots and the accessibility report go to ``tests/artifacts/``.
"""
from __future__ import annotations

import asyncio
import functools
import http.server
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Iterator, List
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Page, expect

from bot.channels.common import namespaced_sender_id
from bot.handoff.rasa_client import RasaClient
from bot.launcher import Stack
from bot.settings import get_settings

pytestmark = pytest.mark.timeout(600)  # includes starting the shared assistant

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
AXE_SCRIPT = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
POLICY_QUESTION = "川渝联合研发项目支持哪些领域"
OFFLINE_QUESTION = "双城经济圈发展基金规模多大"
SUPPLIER_REQUEST = "我们需要重庆的铝合金轮毂供应商，要有IATF 16949"
REPLY_TIMEOUT_MS = 60_000

SUPPLIER_PAYLOAD = {
    "type": "supplier_matches",
    "items": [
        {
            "company_id": "CQ-0012",
            "name": "重庆某精密铸造有限公司",
            "product_id": "P-88",
            "region": "重庆",
            "city": "璧山区",
            "reasons": ["产品：铝合金轮毂", "已通过 IATF 16949 认证"],
        },
        {
            "company_id": "SC-0310",
            "name": '<img src=x onerror="window.__injected=1">成都某汽车部件公司',
            "product_id": "P-91",
            "region": "四川",
            "city": "成都",
            "reasons": ["产能满足需求"],
        },
    ],
}
EXPERT_PAYLOAD = {
    "type": "expert_matches",
    "items": [
        {
            "expert_id": "E-7",
            "name": "张教授",
            "title": "教授",
            "organization": "重庆大学",
            "reasons": ["研究方向：智能制造"],
        }
    ],
}


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def page(browser: Browser, assistant: Stack) -> Iterator[Page]:
    """A fresh visitor (empty storage); fails the test on any script error."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: List[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"script errors on the page: {errors}"


# ---------------------------------------------------------------- helpers


def open_widget(page: Page, stack: Stack, path: str = "/portal/") -> None:
    """Open the portal page and the chat as a new visitor; wait for the greeting."""
    page.goto(stack.web_url + path)
    page.get_by_role("button", name=re.compile("在线咨询")).click()
    expect(page.get_by_role("dialog", name="成渝产业合作助手")).to_be_visible()
    expect(status_line(page)).to_have_text("在线")
    wait_for_greeting(page)


def status_line(page: Page):
    return page.get_by_role("dialog").get_by_role("status")


def conversation(page: Page):
    return page.get_by_role("log", name=re.compile("^(对话记录|Conversation)$"))


def messages(page: Page, role: str):
    return conversation(page).locator(f"[data-role={role}]")


def ask(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="输入您的问题")
    box.fill(text)
    box.press("Enter")


def wait_for_greeting(page: Page) -> None:
    """The widget opens the conversation with the assistant's greeting and its buttons."""
    expect(messages(page, "bot").first).to_contain_text("您好", timeout=REPLY_TIMEOUT_MS)


def answers_after(page: Page, question: str):
    """The assistant's messages that follow the user's ``question`` in the conversation."""
    return conversation(page).locator(f"[data-role=user]:has-text('{question}') ~ [data-role=bot]")


def shown_ids(page: Page) -> List[str]:
    return conversation(page).locator("[data-id]").evaluate_all("nodes => nodes.map(n => n.dataset.id)")


def sender_id_of(page: Page) -> str:
    """The Rasa conversation of this browser, from the session id the widget stored."""
    session_id = page.evaluate(
        """() => {
            for (let i = 0; i < localStorage.length; i++) {
                const key = localStorage.key(i);
                if (key.endsWith(':session')) return JSON.parse(localStorage.getItem(key));
            }
            return null;
        }"""
    )
    assert session_id, "the widget stored no session id"
    return namespaced_sender_id("web", session_id)


def with_rasa_client(stack: Stack, call: Callable[[RasaClient], Awaitable[Any]]) -> None:
    """Run ``call`` with the console's Rasa API client, on a thread of its own (the
    sync Playwright API keeps an event loop running on this one)."""

    async def run() -> None:
        client = RasaClient(stack.rasa_url, stack.token)
        try:
            await call(client)
        finally:
            await client.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result(timeout=60)


def push_bot_events(stack: Stack, sender_id: str, events: List[Dict[str, Any]]) -> None:
    """Deliver bot events to the user's channel through Rasa's HTTP API (as the console does)."""
    with_rasa_client(stack, lambda client: client.append_events(sender_id, events, deliver=True))


def send_staff_reply(stack: Stack, sender_id: str, text: str, staff_name: str) -> None:
    with_rasa_client(stack, lambda client: client.send_staff_message(sender_id, text, staff_name))


def ask_and_wait_for_answer(page: Page) -> None:
    ask(page, POLICY_QUESTION)
    expect(answers_after(page, POLICY_QUESTION).filter(has_text="来源").first).to_be_visible(
        timeout=REPLY_TIMEOUT_MS
    )


# ---------------------------------------------------------------- tests


def test_the_portal_embeds_the_widget_with_one_script_tag_and_no_cdn(page: Page, assistant: Stack):
    requested_hosts = set()
    page.on("request", lambda request: requested_hosts.add(urlparse(request.url).netloc))
    open_widget(page, assistant)

    assert page.locator("script[src$='/widget/widget.js']").count() == 1
    assert requested_hosts == {urlparse(assistant.web_url).netloc}, requested_hosts
    choices = page.get_by_role("group", name="可选操作").first.get_by_role("button")
    expect(choices.first).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")


def test_another_site_embeds_the_widget_with_the_same_script_tag(page: Page, assistant: Stack, tmp_path: Path):
    """A portal on another origin pastes the tag pointing at our server, nothing else."""
    (tmp_path / "index.html").write_text(
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>某区政务服务网</title></head>'
        "<body><main><h1>某区政务服务网</h1></main>"
        f'<script src="{assistant.web_url}/widget/widget.js" defer></script></body></html>',
        encoding="utf-8",
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    portal = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=portal.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://127.0.0.1:{portal.server_port}/index.html")
        page.get_by_role("button", name=re.compile("在线咨询")).click()
        expect(status_line(page)).to_have_text("在线")
        ask_and_wait_for_answer(page)
    finally:
        portal.shutdown()
        portal.server_close()


def test_a_question_gets_an_answer_while_typing_is_shown(page: Page, assistant: Stack):
    open_widget(page, assistant)
    expect(page.get_by_text("助手正在输入…")).to_be_hidden()  # the greeting's turn is over
    page.evaluate(
        """() => {
            const typing = document.querySelector('#cybot-widget').shadowRoot.querySelector('.cyw-typing');
            window.__typingShown = false;
            window.__typingObserver = new MutationObserver(() => {
                if (!typing.hidden) window.__typingShown = true;
            });
            window.__typingObserver.observe(typing, {attributes: true});
        }"""
    )
    ask_and_wait_for_answer(page)

    expect(messages(page, "user").last).to_have_text(re.compile(POLICY_QUESTION))
    answer = messages(page, "bot").filter(has_text="来源").first
    expect(answer).to_contain_text("人工智能")
    assert page.evaluate("window.__typingShown") is True
    expect(page.get_by_text("助手正在输入…")).to_be_hidden()
    expect(messages(page, "user").last).not_to_contain_text("发送中")


def test_a_button_sends_its_payload_and_shows_its_title(page: Page, assistant: Stack):
    open_widget(page, assistant)
    bot_count = messages(page, "bot").count()
    first_choice = page.get_by_role("group", name="可选操作").first.get_by_role("button").first
    title = first_choice.inner_text()
    first_choice.click()

    expect(messages(page, "user").last).to_contain_text(title)
    expect(messages(page, "user").last).not_to_contain_text("/")
    expect(messages(page, "bot")).not_to_have_count(bot_count, timeout=REPLY_TIMEOUT_MS)


def test_a_supplier_request_renders_match_cards(page: Page, assistant: Stack):
    open_widget(page, assistant)
    ask(page, SUPPLIER_REQUEST)

    cards = conversation(page).get_by_role("list", name=re.compile(r"为您找到 \d+ 家符合"))
    expect(cards.first).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    items = cards.first.get_by_role("listitem").filter(has=page.get_by_role("heading"))
    assert items.count() >= 1
    expect(items.first.get_by_role("heading")).to_have_text(re.compile(r"^1\. \S+"))
    expect(items.first.get_by_role("button", name="联系")).to_be_visible()
    # One presentation: the companies appear on the cards only, not again as a text list.
    name = items.first.get_by_role("heading").inner_text().split(". ", 1)[1]
    expect(messages(page, "bot").filter(has_text=name)).to_have_count(1)


def test_cards_from_a_custom_payload_render_as_text_only(page: Page, assistant: Stack):
    open_widget(page, assistant)
    ask_and_wait_for_answer(page)
    sender_id = sender_id_of(page)
    push_bot_events(
        assistant,
        sender_id,
        [
            {"event": "bot", "text": "为您找到以下供应商：", "data": {"custom": SUPPLIER_PAYLOAD}},
            {"event": "bot", "data": {"custom": EXPERT_PAYLOAD}},
        ],
    )

    suppliers = conversation(page).get_by_role("list", name="为您匹配到 2 家供应商")
    expect(suppliers).to_be_visible()
    supplier_cards = suppliers.get_by_role("listitem").filter(has=page.get_by_role("heading"))
    expect(supplier_cards).to_have_count(2)
    first = supplier_cards.nth(0)
    expect(first.get_by_role("heading")).to_have_text("1. 重庆某精密铸造有限公司")
    expect(first).to_contain_text("璧山区")
    expect(first).to_contain_text("已通过 IATF 16949 认证")
    # markup inside a payload is shown as the characters it is, never run
    expect(supplier_cards.nth(1).get_by_role("heading")).to_have_text("2. " + SUPPLIER_PAYLOAD["items"][1]["name"])
    assert conversation(page).locator("img").count() == 0
    assert page.evaluate("window.__injected") is None

    experts = conversation(page).get_by_role("list", name="为您匹配到 1 位专家")
    expect(experts.get_by_role("heading")).to_have_text("1. 张教授")
    expect(experts).to_contain_text("教授 · 重庆大学")
    expect(experts).to_contain_text("研究方向：智能制造")


def test_a_staff_reply_appears_live_marked_as_from_a_person(page: Page, assistant: Stack):
    open_widget(page, assistant)
    ask_and_wait_for_answer(page)
    send_staff_reply(
        assistant, sender_id_of(page), "您好，我是市经信委的工作人员，<b>请留下联系方式</b>。", "王老师"
    )

    staff = messages(page, "staff")
    expect(staff).to_have_count(1)
    expect(staff).to_contain_text("人工客服")
    expect(staff).to_contain_text("王老师")
    expect(staff).to_contain_text("<b>请留下联系方式</b>")  # text, not markup
    assert staff.locator("b").count() == 0
    # the assistant's own replies carry no such mark
    expect(messages(page, "bot").first).not_to_contain_text("人工客服")


def test_reloading_and_moving_between_pages_keep_the_conversation(page: Page, assistant: Stack):
    open_widget(page, assistant)
    ask_and_wait_for_answer(page)
    before = shown_ids(page)

    page.reload()
    expect(status_line(page)).to_have_text("在线")  # still open: the panel remembers
    expect(conversation(page).locator("[data-id]")).to_have_count(len(before))
    assert shown_ids(page) == before

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="政策解读").click()
    page.wait_for_url("**/portal/policies")
    expect(status_line(page)).to_have_text("在线")
    expect(messages(page, "user").first).to_contain_text(POLICY_QUESTION)
    assert shown_ids(page) == before

    # the server keeps the history too: a browser that lost its local copy gets it back
    page.evaluate(
        "() => Object.keys(localStorage).filter(k => k.endsWith(':history')).forEach(k => localStorage.removeItem(k))"
    )
    page.reload()
    expect(conversation(page).locator("[data-id]")).to_have_count(len(before))
    assert shown_ids(page) == before


def test_replies_sent_while_the_connection_was_down_arrive_after_reconnecting(page: Page, assistant: Stack):
    """A dropped connection loses nothing: a staff reply sent meanwhile and a question
    typed meanwhile are both delivered once the widget is back."""
    open_widget(page, assistant)
    ask_and_wait_for_answer(page)

    page.context.set_offline(True)  # the visitor's network goes (Chromium drops the socket)
    expect(status_line(page)).to_contain_text("连接中断")
    send_staff_reply(assistant, sender_id_of(page), "您的需求已登记，稍后联系您。", "李老师")
    ask(page, OFFLINE_QUESTION)
    expect(messages(page, "user").last).to_contain_text("发送中")
    page.wait_for_timeout(1500)
    expect(messages(page, "staff")).to_have_count(0)  # really not delivered live

    page.context.set_offline(False)
    expect(status_line(page)).to_have_text("在线", timeout=30_000)
    expect(messages(page, "staff")).to_contain_text("您的需求已登记，稍后联系您。")
    expect(messages(page, "user").last).not_to_contain_text("发送中", timeout=REPLY_TIMEOUT_MS)
    expect(messages(page, "user").filter(has_text=OFFLINE_QUESTION)).to_have_count(1)
    expect(answers_after(page, OFFLINE_QUESTION).first).to_be_visible(timeout=REPLY_TIMEOUT_MS)


def test_an_oversized_message_is_refused_and_kept_in_the_box(page: Page, assistant: Stack):
    open_widget(page, assistant)
    limit = get_settings().max_user_message_chars
    too_long = "长" * (limit + 1)
    ask(page, too_long)

    expect(page.get_by_role("alert")).to_contain_text(f"{limit} 字以内")
    expect(page.get_by_role("textbox", name="输入您的问题")).to_have_value(too_long)
    expect(messages(page, "user")).to_have_count(0)


def test_the_widget_is_keyboard_operable(page: Page, assistant: Stack):
    page.goto(assistant.web_url + "/portal/")
    launcher_focused = "() => document.activeElement?.id === 'cybot-widget'"
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate(launcher_focused):
            break
    assert page.evaluate(launcher_focused), "Tab never reached the chat launcher"
    page.keyboard.press("Enter")
    expect(page.get_by_role("textbox", name="输入您的问题")).to_be_focused()
    wait_for_greeting(page)

    # from the text box back through the greeting's buttons to the first one
    first_choice = page.get_by_role("group", name="可选操作").first.get_by_role("button").first
    title = first_choice.inner_text()
    focused_text = "() => document.querySelector('#cybot-widget').shadowRoot.activeElement.textContent"
    for _ in range(12):
        page.keyboard.press("Shift+Tab")
        if page.evaluate(focused_text) == title:
            break
    expect(first_choice).to_be_focused()
    page.keyboard.press("Enter")
    expect(messages(page, "user").last).to_contain_text(title)

    page.get_by_role("textbox", name="输入您的问题").focus()
    page.keyboard.type(POLICY_QUESTION)
    page.keyboard.press("Enter")
    expect(messages(page, "bot").filter(has_text="来源").first).to_be_visible(timeout=REPLY_TIMEOUT_MS)

    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(page.get_by_role("button", name=re.compile("在线咨询"))).to_be_focused()


def test_phone_sized_screen(browser: Browser, assistant: Stack):
    context = browser.new_context(
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    try:
        page.goto(assistant.web_url + "/portal/")
        page.get_by_role("button", name=re.compile("在线咨询")).tap()
        dialog = page.get_by_role("dialog", name="成渝产业合作助手")
        expect(dialog).to_be_visible()
        wait_for_greeting(page)
        ask_and_wait_for_answer(page)

        box = dialog.bounding_box()
        assert box["width"] == pytest.approx(390, abs=1) and box["height"] == pytest.approx(844, abs=1)
        send = page.get_by_role("button", name="发送")
        expect(send).to_be_in_viewport()
        assert send.bounding_box()["height"] >= 44  # a comfortable touch target
        no_sideways_scroll = "() => document.documentElement.scrollWidth <= window.innerWidth"
        assert page.evaluate(no_sideways_scroll)

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "widget-phone.png"))
        page.get_by_role("button", name="关闭对话窗口").tap()
        expect(dialog).to_be_hidden()
        page.screenshot(path=str(ARTIFACTS / "widget-phone-portal.png"))
    finally:
        context.close()


def test_no_serious_accessibility_violations(browser: Browser, assistant: Stack):
    """axe-core (from npm) on the portal with the chat open, holding every kind of message."""
    # bypass_csp: the portal's policy rightly refuses injected scripts such as axe
    context = browser.new_context(locale="zh-CN", bypass_csp=True, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        open_widget(page, assistant)
        ask_and_wait_for_answer(page)
        sender_id = sender_id_of(page)
        push_bot_events(assistant, sender_id, [{"event": "bot", "data": {"custom": SUPPLIER_PAYLOAD}}])
        send_staff_reply(assistant, sender_id, "您好，我是工作人员。", "王老师")
        expect(messages(page, "staff")).to_have_count(1)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "widget-desktop.png"))
        ask(page, "长" * (get_settings().max_user_message_chars + 1))  # the error message too
        expect(page.get_by_role("alert")).not_to_be_empty()

        page.add_script_tag(path=str(AXE_SCRIPT))
        results = page.evaluate(
            "async () => await axe.run(document)"
        )
        (ARTIFACTS / "widget-axe.json").write_text(
            json.dumps(results["violations"], ensure_ascii=False, indent=2), encoding="utf-8"
        )
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']]}"
            for v in results["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == []
        # axe did look inside the widget's shadow root (its targets there are nested lists)
        checked_in_widget = [
            rule["id"]
            for rule in results["passes"]
            for node in rule["nodes"]
            if isinstance(node["target"][0], list) and node["target"][0][0] == "#cybot-widget"
        ]
        assert {"color-contrast", "button-name", "label"} <= set(checked_in_widget)
    finally:
        context.close()


# ---------------------------------------------------------------- phone polish and English

GREETING_START = re.compile(r"您好！我是|Hello! I am")


@pytest.fixture
def phone(browser: Browser, assistant: Stack) -> Iterator[Page]:
    """A fresh visitor on a phone; fails the test on any script error."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844},
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    errors: List[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"script errors on the page: {errors}"


@pytest.fixture
def english_portal(assistant: Stack, tmp_path: Path) -> Iterator[str]:
    """An English page of a portal (on another origin) that embeds the widget."""
    (tmp_path / "index.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Investment portal</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
        "<body><main><h1>Invest in Chengdu and Chongqing</h1></main>"
        f'<script src="{assistant.web_url}/widget/widget.js" data-init-payload="/greet" defer></script>'
        "</body></html>",
        encoding="utf-8",
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    portal = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=portal.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{portal.server_port}/index.html"
    portal.shutdown()
    portal.server_close()


def welcomes_shown(page: Page) -> int:
    """Welcome messages a visitor sees: the static one plus greetings from the assistant."""
    static = page.locator(".cyw-welcome:visible").count()
    return static + messages(page, "bot").filter(has_text=GREETING_START).count()


def test_a_choice_button_is_a_touch_target_and_gives_the_focus_back_to_the_input(phone: Page, assistant: Stack):
    open_widget(phone, assistant)
    choices = phone.get_by_role("group", name="可选操作").first.get_by_role("button")
    heights = [box["height"] for box in choices.evaluate_all(
        "nodes => nodes.map(n => n.getBoundingClientRect()).map(r => ({height: r.height}))")]
    assert heights and min(heights) >= 44, heights

    title = choices.first.inner_text()
    choices.first.tap()
    expect(messages(phone, "user").last).to_contain_text(title)
    expect(phone.get_by_role("textbox", name="输入您的问题")).to_be_focused()


def test_no_typing_indicator_while_offline(phone: Page, assistant: Stack):
    open_widget(phone, assistant)
    typing = phone.get_by_text("助手正在输入…")

    phone.context.set_offline(True)
    expect(status_line(phone)).to_contain_text("连接中断")
    ask(phone, OFFLINE_QUESTION)
    expect(messages(phone, "user").last).to_contain_text("发送中")
    phone.wait_for_timeout(500)
    expect(typing).to_be_hidden()  # nobody can be answering: the question has not left

    phone.context.set_offline(False)
    expect(status_line(phone)).to_have_text("在线", timeout=30_000)
    expect(answers_after(phone, OFFLINE_QUESTION).first).to_be_visible(timeout=REPLY_TIMEOUT_MS)


def test_exactly_one_welcome_on_opening_reopening_reloading_and_reconnecting(phone: Page, assistant: Stack):
    open_widget(phone, assistant)
    phone.wait_for_timeout(1000)  # a second welcome would have arrived by now
    assert welcomes_shown(phone) == 1

    phone.get_by_role("button", name="关闭对话窗口").tap()
    phone.get_by_role("button", name=re.compile("在线咨询")).tap()
    phone.wait_for_timeout(1000)
    assert welcomes_shown(phone) == 1

    phone.reload()
    expect(status_line(phone)).to_have_text("在线")
    phone.wait_for_timeout(1000)
    assert welcomes_shown(phone) == 1

    phone.context.set_offline(True)
    expect(status_line(phone)).to_contain_text("连接中断")
    assert welcomes_shown(phone) == 1
    phone.context.set_offline(False)
    expect(status_line(phone)).to_have_text("在线", timeout=30_000)
    phone.wait_for_timeout(1000)
    assert welcomes_shown(phone) == 1


def test_an_english_page_gets_the_widget_and_the_assistant_in_english(phone: Page, english_portal: str):
    phone.goto(english_portal)
    phone.get_by_role("button", name=re.compile("Chat with us")).tap()
    expect(status_line(phone)).to_have_text("Online")
    greeting = messages(phone, "bot").first
    expect(greeting).to_contain_text("Hello! I am", timeout=REPLY_TIMEOUT_MS)
    expect(phone.get_by_role("group", name="Options").first.get_by_role("button").first).to_have_text(
        "Cooperation policies")
    assert welcomes_shown(phone) == 1

    ask_in_english = phone.get_by_role("textbox", name="Type your question")
    ask_in_english.fill("How big is the twin-city development fund?")
    ask_in_english.press("Enter")
    expect(messages(phone, "bot").filter(has_text="30 billion yuan").first).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(ARTIFACTS / "widget-phone-english.png"))


def test_the_widget_follows_a_visitor_who_writes_english(phone: Page, assistant: Stack):
    open_widget(phone, assistant)
    ask(phone, "What can you do?")

    expect(phone.get_by_role("textbox", name="Type your question")).to_have_attribute(
        "placeholder", "Type your question…")
    expect(messages(phone, "bot").filter(has_text="Here is what I can do").first).to_be_visible(
        timeout=REPLY_TIMEOUT_MS)
    expect(phone.get_by_role("button", name="Send")).to_be_visible()

"""The handoff, as staff and a company live it: headless Chromium on the staff console,
a real Socket.IO client as the company, the whole stack (Rasa with its token, action
server, web gateway) running — once with the SQL event broker (embedded defaults) and
once with RabbitMQ (production profile). Screenshots go to tests/artifacts/."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import expect

from bot.console.views import CLOSE_NOTICE, HAND_BACK_NOTICE, TAKEOVER_GREETING
from bot.handoff.ingest import WAITING_NOTICE
from bot.handoff.store import HandoffStore
from bot.launcher import Stack
from bot.messages import user_text
from tests.conftest import ROUND_THE_CLOCK, _stack_config
from tests.support.company_client import CompanyClient
from tests.test_widget_browser import (
    REPLY_TIMEOUT_MS,
    SUPPLIER_REQUEST,
    ask,
    conversation,
    messages,
    open_widget,
    sender_id_of,
)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
STAFF, STAFF_PASSWORD = "alice", "staff password 123"
#: What users see instead of the login name.
STAFF_DISPLAY_NAME = "小王"
@pytest.fixture(scope="module")
def stack(request, trained_model, platform_template, tmp_path_factory) -> Iterator[Stack]:
    """The stack per profile (parametrised indirectly): "embedded" a stack of its own
    following the SQL event broker, "production" the session's production stack following
    RabbitMQ; each with a supervisor account."""
    if request.param == "production":
        running = request.getfixturevalue("production_assistant")
        stop_after = False
    else:
        config = _stack_config(tmp_path_factory.mktemp(f"var-{request.param}"), platform_template,
                               profile=request.param, env=dict(ROUND_THE_CLOCK))
        running, stop_after = Stack(config).start(), True
    try:
        created = subprocess.run(
            [
                sys.executable, "-m", "bot", "staff", "add", STAFF, "--role", "supervisor", "--password-stdin",
                "--display-name", STAFF_DISPLAY_NAME,
            ],
            input=STAFF_PASSWORD + "\n",
            env=running.environment(),
            capture_output=True,
            text=True,
            check=True,
        )
        assert "created supervisor alice" in created.stdout
        yield running
    finally:
        if stop_after:
            running.stop()


@pytest.fixture
def console_page(stack, browser):
    """A logged-in console page with its live stream connected."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{stack.web_url}/console/")
    assert "/console/login" in page.url  # login first
    page.fill("#username", STAFF)
    page.fill("#password", STAFF_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.web_url}/console/")
    page.wait_for_selector("body[data-ready=true][data-live=ready]")
    yield page
    context.close()


def shot(page, stack: Stack, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{stack.config.profile}-{name}.png"), full_page=True)


def tracker_slots(stack: Stack, sender_id: str) -> dict:
    """The conversation's slots, read from Rasa's API with its token (as only the
    console may)."""
    url = f"{stack.rasa_url}/conversations/{sender_id}/tracker?include_events=NONE&token={stack.token}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())["slots"]


def slots_once_set(stack: Stack, sender_id: str, slot: str, timeout: float = 30.0) -> dict:
    """The conversation's slots once ``slot`` is set: the widget shows the first reply of a
    turn before Rasa has stored the turn's slot events."""
    deadline = time.monotonic() + timeout
    while True:
        slots = tracker_slots(stack, sender_id)
        if slots.get(slot) or time.monotonic() > deadline:
            return slots
        time.sleep(0.2)


def row(page, sender_id: str):
    return page.locator(f'tr[data-sender-id="{sender_id}"]')


@pytest.mark.parametrize(
    "stack", ["embedded", pytest.param("production", marks=pytest.mark.services)], indirect=True
)
def test_staff_take_over_reply_and_hand_back(stack, console_page):
    page = console_page
    company = CompanyClient(stack.web_url).connect()
    try:
        # The company talks to the assistant: the conversation shows up without reload.
        company.send("你好")
        company.wait_for(lambda m: m.get("role") == "bot")
        row(page, company.sender_id).wait_for()
        mark = len(company.received)
        company.send("我们需要重庆的铝合金轮毂供应商，要有IATF 16949")
        company.wait_for(lambda m: m.get("role") == "bot", after=mark)
        slots_before = slots_once_set(stack, company.sender_id, "supplier_query")
        assert slots_before.get("supplier_query"), slots_before  # context to keep
        shot(page, stack, "01-list")

        # It asks for a person: told its place in the queue, the console alerts.
        assert not page.is_visible("#alert")  # nothing to alert about yet
        mark = len(company.received)
        company.send("我要转人工")
        queued = company.wait_for(lambda m: "排在第" in (m.get("text") or ""), after=mark)
        assert "第 1 位" in queued["text"]
        page.wait_for_selector(f'tr[data-sender-id="{company.sender_id}"][data-status="waiting"]')
        page.wait_for_selector("#alert", state="visible")
        assert "新的转人工请求" in page.inner_text("#alert")
        shot(page, stack, "02-waiting-alert")

        # While waiting: one short notice, then silence.
        mark = len(company.received)
        company.send("在吗")
        company.wait_for(lambda m: m.get("text") == WAITING_NOTICE, after=mark)
        mark = len(company.received)
        company.send("还在吗？")
        assert company.messages_since(mark, settle_s=4) == []

        # Staff open it: each user message with its intent and confidence.
        row(page, company.sender_id).click()
        page.wait_for_selector("#transcript li.kind-user .intent")
        assert "request_human" in page.inner_text("#transcript")
        page.click("#take-over")
        greeting = company.wait_for(lambda m: m.get("text") == TAKEOVER_GREETING, after=mark)
        assert greeting["role"] == "staff" and greeting["staff_name"] == f"工作人员 {STAFF_DISPLAY_NAME}"
        page.wait_for_selector(f'tr[data-sender-id="{company.sender_id}"][data-status="staff"]')

        # Staff reply reaches the company's client, marked as from a person.
        reply = "您好，我是招商服务中心的工作人员，请问需要了解哪方面的补贴？"
        mark = len(company.received)
        page.fill("#reply-text", reply)
        page.click("#reply-send")
        delivered = company.wait_for(lambda m: m.get("text") == reply, after=mark)
        assert delivered["role"] == "staff"
        page.locator("#transcript li.kind-staff", has_text=reply).wait_for()

        # The company writes again: staff see it live, the assistant stays silent.
        mark = len(company.received)
        company.send("我们想了解研发费用补贴怎么申请")
        page.locator("#transcript li.kind-user", has_text="研发费用补贴").wait_for()
        assert company.messages_since(mark, settle_s=5) == []
        page.fill("#note-text", "企业关注研发补贴，已告知申请材料")
        page.click("#note-form button")
        page.locator("#transcript li.kind-note", has_text="研发补贴").wait_for()
        shot(page, stack, "03-with-staff")

        # Hand back: the assistant answers the next question again.
        page.click("#hand-back")
        company.wait_for(lambda m: m.get("text") == HAND_BACK_NOTICE, after=mark)
        page.wait_for_selector(f'tr[data-sender-id="{company.sender_id}"][data-status="bot"]')
        assert tracker_slots(stack, company.sender_id) == slots_before  # context kept
        mark = len(company.received)
        company.send("川渝联合研发项目支持哪些领域")
        answer = company.wait_for(lambda m: m.get("role") == "bot" and "来源" in (m.get("text") or ""), after=mark)
        assert "联合研发" in answer["text"] or "研发" in answer["text"]
        page.locator("#transcript li.kind-bot", has_text="来源").last.wait_for()
        shot(page, stack, "04-handed-back")
    finally:
        company.close()

    store = HandoffStore(f"sqlite:///{stack.var_dir / 'handoff.db'}")
    try:
        actions = [e["action"] for e in store.audit_entries(sender_id=company.sender_id)]
        assert {"take_over", "reply", "note", "hand_back"} <= set(actions)
        handoff = store.handoff_history(company.sender_id)[0]
        assert handoff["reason"] == "user_request" and handoff["first_reply_at"] is not None
    finally:
        store.dispose()

    # Supervisor figures reflect it.
    page.goto(f"{stack.web_url}/console/figures")
    page.wait_for_selector("body[data-ready=true]")
    figures = page.inner_text("#figures")
    assert "转人工率" in figures and "首次人工回复" in figures
    shot(page, stack, "05-figures")


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_markup_from_a_company_is_shown_as_text(stack, console_page):
    page = console_page
    payload = '<img src=x onerror="window.__xss=1;document.title=\'pwned\'">'
    company = CompanyClient(stack.web_url).connect()
    try:
        company.send(payload)
        company.wait_for(lambda m: True)
    finally:
        company.close()
    row(page, company.sender_id).click()
    page.locator("#transcript li.kind-user", has_text="<img src=x").wait_for()
    time.sleep(0.5)
    assert page.evaluate("window.__xss") is None
    assert page.title() != "pwned"
    assert page.locator("#transcript img").count() == 0
    assert page.locator("#conversation-rows img").count() == 0
    assert payload in page.inner_text("#transcript")
    shot(page, stack, "06-markup-inert")


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_export_and_search(stack, console_page):
    page = console_page
    company = CompanyClient(stack.web_url).connect()
    try:
        company.send("你好，我们是一家做铝合金轮毂的企业")
        company.wait_for(lambda m: m.get("role") == "bot")
    finally:
        company.close()
    row(page, company.sender_id).click()
    page.wait_for_selector("#transcript li.kind-user")
    with page.expect_download() as download_info:
        page.click("#export-txt")
    exported = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert "铝合金轮毂" in exported and "用户" in exported
    page.goto(f"{stack.web_url}/console/search")
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#search-q", "铝合金轮毂")
    page.click("#search-form button")
    page.locator("#search-rows tr", has_text="铝合金轮毂").first.wait_for()
    shot(page, stack, "07-search")



@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_staff_close_a_conversation_and_the_assistant_answers_later(stack, console_page):
    page = console_page
    company = CompanyClient(stack.web_url).connect()
    try:
        company.send("请帮我联系工作人员")
        company.wait_for(lambda m: "排在第" in (m.get("text") or ""))
        row(page, company.sender_id).click()
        # The buttons appear once the conversation is open (only those this staff member may use).
        page.locator("#detail-meta", has_text=company.sender_id).wait_for()
        shot(page, stack, "08a-opened")
        page.click("#take-over")
        page.wait_for_selector(f'tr[data-sender-id="{company.sender_id}"][data-status="staff"]')
        mark = len(company.received)
        page.click("#close-conversation")
        company.wait_for(lambda m: m.get("text") == CLOSE_NOTICE, after=mark)
        page.wait_for_selector(f'tr[data-sender-id="{company.sender_id}"][data-status="closed"]')
        shot(page, stack, "08-closed")
        # The user is asked to rate the service (五级) and presses 满意: thanked, recorded.
        request = company.wait_for(lambda m: m.get("text") == user_text("rating.request"), after=mark)
        titles = [b["title"] for b in request["buttons"]]
        assert titles == ["非常满意", "满意", "一般", "不满意", "非常不满意"]
        mark = len(company.received)
        company.send(request["buttons"][1]["payload"])
        company.wait_for(lambda m: m.get("text") == user_text("rating.thanks"), after=mark)
        ratings = HandoffStore(f"sqlite:///{stack.var_dir / 'handoff.db'}")
        try:
            assert [(r["score"], r["staff"]) for r in ratings.rating_of(company.sender_id)] == [(4, STAFF)]
        finally:
            ratings.dispose()
        # Writing again reopens it with the assistant.
        mark = len(company.received)
        company.send("川渝联合研发项目支持哪些领域")
        company.wait_for(lambda m: m.get("role") == "bot" and "来源" in (m.get("text") or ""), after=mark)
        page.wait_for_selector(f'tr[data-sender-id="{company.sender_id}"][data-status="bot"]')
    finally:
        company.close()


@pytest.mark.parametrize(
    "stack", ["embedded", pytest.param("production", marks=pytest.mark.services)], indirect=True
)
def test_the_company_sees_staff_typing_and_gets_the_supplier_list_in_one_click(stack, console_page, browser):
    """A company in the portal's widget asked for suppliers, then for a person. While the
    staff member writes, the widget says so; it stops when they pause or send. One click
    sends the assistant's supplier list again, drawn as cards and marked as from staff."""
    page = console_page
    visitor = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    widget = visitor.new_page()
    errors: list = []
    widget.on("pageerror", lambda error: errors.append(str(error)))
    try:
        open_widget(widget, stack)
        ask(widget, SUPPLIER_REQUEST)
        supplier_cards = conversation(widget).get_by_role("list", name=re.compile(r"为您找到 \d+ 家符合"))
        expect(supplier_cards.first).to_be_visible(timeout=REPLY_TIMEOUT_MS)
        first_company = supplier_cards.first.get_by_role("heading").first.inner_text()
        ask(widget, "我要转人工")
        expect(messages(widget, "bot").filter(has_text="排在第")).to_be_visible(timeout=REPLY_TIMEOUT_MS)
        sender_id = sender_id_of(widget)

        row(page, sender_id).click()
        page.click("#take-over")
        expect(messages(widget, "staff").filter(has_text=TAKEOVER_GREETING)).to_be_visible(timeout=30_000)

        # Typing: the company sees that a person is writing, until they pause.
        indicator = widget.locator(".cyw-typing")
        expect(indicator).to_be_hidden()
        # Typing for a few seconds, as people do (a signal lost under load is sent again).
        expect(page.locator("#reply-text")).to_be_enabled()
        page.locator("#reply-text").press_sequentially("您好，我把刚才为您找到的", delay=250)
        expect(indicator).to_be_visible(timeout=15_000)  # the signal crosses gateway and Rasa server
        expect(indicator).to_have_text("工作人员正在输入…")
        shot(widget, stack, "09-widget-staff-typing")
        expect(indicator).to_be_hidden(timeout=10_000)  # a pause of a few seconds ends it

        # Typing again, then sending: the reply replaces the indicator at once.
        page.locator("#reply-text").press_sequentially("几家供应商的清单发给您", delay=250)
        expect(indicator).to_be_visible(timeout=15_000)  # the signal crosses gateway and Rasa server
        page.click("#reply-send")
        expect(messages(widget, "staff").filter(has_text="几家供应商的清单发给您")).to_be_visible(timeout=30_000)
        expect(indicator).to_be_hidden(timeout=1_000)

        # One click: the assistant's last supplier list, as cards, from the staff member.
        expect(page.locator("#send-match-list")).to_be_visible()
        page.click("#send-match-list")
        card_list = widget.get_by_role("list", name=re.compile(r"为您找到 \d+ 家符合"))
        from_staff = messages(widget, "staff").filter(has=card_list)
        expect(from_staff).to_have_count(1, timeout=30_000)
        expect(from_staff).to_contain_text(STAFF_DISPLAY_NAME)
        expect(from_staff.get_by_role("heading").first).to_have_text(first_company)
        page.locator("#transcript li.kind-staff", has_text="卡片").first.wait_for()
        shot(widget, stack, "10-widget-match-list-from-staff")
        shot(page, stack, "10-console-match-list-sent")
    finally:
        visitor.close()
    assert errors == [], f"script errors in the widget: {errors}"

"""Staff at the console in Chromium (the gateway application, Rasa replaced by a
recorder): two staff at once, deep links, transfer, canned responses, paging, an
expired session that keeps the draft and the way back, and the 1024 px and phone
layouts. Screenshots go to tests/artifacts/console-desk-*.png."""
from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web
from playwright.sync_api import expect

from bot.console.views import RASA_KEY
from bot.handoff.store import HandoffStore
from bot.web.app import create_app
from tests.test_console_handoff import RecordingRasa
from tests.test_console_security import PASSWORD, make_settings

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PHONE = {"width": 390, "height": 844}
SMALL_SCREEN = {"width": 1024, "height": 768}


class Gateway:
    """The gateway application served from a thread of its own, on a free port."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.url = ""

    def __enter__(self) -> "Gateway":
        self.thread.start()
        self.runner = web.AppRunner(self.app)
        asyncio.run_coroutine_threadsafe(self.runner.setup(), self.loop).result(30)
        site = web.TCPSite(self.runner, "127.0.0.1", 0, shutdown_timeout=2)
        asyncio.run_coroutine_threadsafe(site.start(), self.loop).result(30)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def desk(tmp_path, browser):
    settings = make_settings(tmp_path)
    store = HandoffStore(settings.handoff_database_url)
    store.add_staff("agent1", PASSWORD, "agent", display_name="小王", teams=["四川"])
    store.add_staff("agent2", PASSWORD, "agent", display_name="小李", teams=["重庆"])
    now = time.time()
    store.record_message("web:u1", "user", "我要找重庆的轮毂供应商", now - 120, event_key="u1a", channel="socketio",
                         intent="find_suppliers", confidence=0.93)
    store.set_company("web:u1", "成都示例汽车", now - 110)
    store.record_message("web:u1", "user", "转人工", now - 60, event_key="u1b", channel="socketio")
    store.request_handoff("web:u1", "user_request", in_office_hours=True, at=now - 59, team="供需")
    store.record_message("tg:42", "user", "政策什么时候申报", now - 30, event_key="t1", channel="telegram")
    store.save_canned("欢迎", "{company}您好，我是{staff}，请问需要什么帮助？", "agent1")
    app = create_app(settings, follow_events=False)
    rasa = RecordingRasa()
    app[RASA_KEY] = rasa  # type: ignore[assignment]
    with Gateway(app) as gateway:
        yield gateway, store, rasa, browser
        for context in browser.contexts:  # close the live streams before the server stops
            context.close()
    store.dispose()


def open_console(browser, gateway: Gateway, username: str, viewport=SMALL_SCREEN, path: str = "/console/"):
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    page = context.new_page()
    page.goto(gateway.url + path)
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready=true][data-live=ready]")
    return page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-desk-{name}.png"), full_page=True)


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_two_staff_at_once_transfer_and_canned_responses(desk):
    gateway, store, rasa, browser = desk
    # A deep link survives the login and opens the conversation.
    first = open_console(browser, gateway, "agent1", path="/console/#web:u1")
    second = open_console(browser, gateway, "agent2", path="/console/#web:u1")
    for page in (first, second):
        expect(page.locator("#detail-title")).to_have_text("成渝示例汽车".replace("成渝", "成都"))
        expect(page.locator("#summary")).to_contain_text("用户要求转人工")
        expect(page.locator("#take-over")).to_be_visible()
    expect(first.locator("#viewers")).to_contain_text("agent2", timeout=15000)
    row = first.locator('tr[data-sender-id="web:u1"]')
    expect(row).to_contain_text("网页")
    expect(row).to_contain_text("供需")
    first.click("#take-over")
    expect(first.locator("#detail-status")).to_have_text("人工接待中")
    # The colleague's page follows live: no take-over, hand-back or close for them.
    expect(second.locator("#detail-status")).to_have_text("人工接待中", timeout=15000)
    for button in ("#take-over", "#hand-back", "#close-conversation"):
        expect(second.locator(button)).to_be_hidden()
    expect(second.locator("#reply-text")).to_be_disabled()
    assert len(rasa.greetings()) == 1
    shot(first, "two-staff-holder-1024")
    shot(second, "two-staff-colleague-1024")
    # Canned response typed with "/": filled with the company and the holder's display name.
    first.fill("#reply-text", "/欢")
    first.locator("#canned-menu li").first.click()
    expect(first.locator("#reply-text")).to_have_value("成都示例汽车您好，我是工作人员 小王，请问需要什么帮助？")
    first.click("#reply-send")
    expect(first.locator("#reply-text")).to_have_value("")
    assert rasa.sent[-1]["text"] == "成都示例汽车您好，我是工作人员 小王，请问需要什么帮助？"
    # Transfer to the colleague: they can reply now, the first staff member cannot.
    first.select_option("#transfer-target", "to:agent2")
    first.click("#transfer")
    expect(first.locator("#reply-text")).to_be_disabled()
    second.reload()
    second.wait_for_selector("body[data-ready=true]")
    expect(second.locator("#reply-text")).to_be_enabled()
    assert store.get_conversation("web:u1")["assigned_to"] == "agent2"
    # A deep link clicked inside the page opens without a reload.
    second.evaluate("window.location.hash = '#tg:42'")
    expect(second.locator("#detail-meta")).to_contain_text("Telegram")
    shot(second, "after-transfer-1024")


def test_paging_and_an_expired_session_keeping_the_draft(desk):
    gateway, store, rasa, browser = desk
    now = time.time()
    for i in range(120):
        store.record_message(f"web:p{i:03d}", "user", f"问题 {i}", now - 5000 + i, event_key=f"p{i}")
    page = open_console(browser, gateway, "agent1", path="/console/#web:u1")
    expect(page.locator("#list-total")).to_contain_text("共 122 个对话")
    expect(page.locator("tr.row")).to_have_count(50)
    page.click("#page-next")
    expect(page.locator("#list-total")).to_contain_text("显示第 51–100 个")
    page.click("#page-next")
    expect(page.locator("tr.row")).to_have_count(22)
    expect(page.locator("#page-next")).to_be_disabled()
    # The session ends while a note is being written.
    page.fill("#note-text", "企业需要IATF 16949认证的供应商")
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM handoff_staff_sessions"))
    page.click("#note-form button[type=submit]")
    page.wait_for_url("**/console/login**")
    page.fill("#username", "agent1")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready=true]")
    assert page.url.endswith("/console/#web%3Au1") or page.url.endswith("/console/#web:u1")
    expect(page.locator("#detail-title")).to_have_text("成都示例汽车")
    expect(page.locator("#note-text")).to_have_value("企业需要IATF 16949认证的供应商")


def test_layouts_at_1024_px_and_on_a_phone(desk):
    gateway, store, rasa, browser = desk
    for name, viewport in (("1024", SMALL_SCREEN), ("phone", PHONE)):
        page = open_console(browser, gateway, "agent1", viewport=viewport, path="/console/#web:u1")
        expect(page.locator("#detail-title")).to_have_text("成都示例汽车")
        expect(page.locator("#take-over")).to_be_visible()
        assert fits_the_screen(page), f"horizontal scrolling at {name}"
        shot(page, f"conversations-{name}")
        page.goto(gateway.url + "/console/search")
        page.wait_for_selector("body[data-ready=true]")
        assert fits_the_screen(page), f"search page scrolls sideways at {name}"
        page.context.close()

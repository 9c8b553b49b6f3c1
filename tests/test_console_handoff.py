"""Staff working a conversation through the real gateway application (Rasa replaced by
a recorder): take-over races, buttons per viewer, replies, the live stream at logout,
paging, search over notes, unanswered questions without personal data, role errors."""
from __future__ import annotations

import asyncio
import json
import re
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, List, Optional, Tuple

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.console.views import HUB_KEY, RASA_KEY
from bot.handoff.ingest import Ingestor, LiveHub
from bot.handoff.store import HandoffStore
from bot.platform.replies import supplier_reply
from bot.web.app import create_app
from tests.test_console_security import PASSWORD, make_settings

pytestmark = pytest.mark.asyncio


class RecordingRasa:
    """Stands in for Rasa's HTTP API: records what the console sends, slowly, like a
    real round trip (so that racing requests overlap)."""

    def __init__(self) -> None:
        self.sent: List[Dict[str, Any]] = []
        #: Typing signals passed on: (sender_id, channel, typing).
        self.typing: List[Tuple[str, str, bool]] = []
        #: What ``tracker`` answers per conversation (slots, latest input channel).
        self.trackers: Dict[str, Dict[str, Any]] = {}

    async def append_events(self, sender_id: str, events: List[Dict[str, Any]], deliver: bool = False) -> None:
        await asyncio.sleep(0.05)
        self.sent.extend({"sender_id": sender_id, **event} for event in events)

    async def send_staff_message(self, sender_id: str, text: str, staff_name: str) -> None:
        await asyncio.sleep(0.01)
        self.sent.append({"sender_id": sender_id, "event": "bot", "text": text, "staff_name": staff_name})

    async def staff_typing(self, sender_id: str, channel: str, typing: bool) -> bool:
        await asyncio.sleep(0.01)
        self.typing.append((sender_id, channel, typing))
        return True

    async def tracker(self, sender_id: str) -> Dict[str, Any]:
        return self.trackers.get(sender_id, {"slots": {}, "latest_input_channel": None})

    async def close(self) -> None:
        pass

    def greetings(self) -> List[Dict[str, Any]]:
        return [e for e in self.sent if e["event"] == "bot" and "工作人员已接入" in e.get("text", "")]


class Staff:
    """One browser: its own cookies."""

    def __init__(self, client: TestClient) -> None:
        self.app = client.server.app
        self.base = str(client.make_url(""))
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def login(self, username: str) -> None:
        page = await self.http.get(self.base + "/console/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)
        response = await self.http.post(
            self.base + "/console/login",
            data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/console/"},
            allow_redirects=False,
        )
        assert response.status == 303
        self.csrf = (await (await self.http.get(self.base + "/console/api/me")).json())["csrf_token"]

    async def get(self, path: str) -> aiohttp.ClientResponse:
        return await self.http.get(self.base + path)

    async def post(self, path: str, body: Any = None) -> aiohttp.ClientResponse:
        return await self.http.post(self.base + path, json=body or {}, headers={"X-CSRF-Token": self.csrf})


@asynccontextmanager
async def console_desk(
    tmp_path, platform_url: Optional[str] = None
) -> AsyncIterator[Tuple[Any, HandoffStore, RecordingRasa]]:
    """The gateway with staff accounts and one waiting web conversation (``web:u1``)."""
    settings = make_settings(tmp_path)
    if platform_url:
        settings = settings.replace(platform_database_url=platform_url)
    store = HandoffStore(settings.handoff_database_url)
    store.add_staff("agent1", PASSWORD, "agent", display_name="小王")
    store.add_staff("agent2", PASSWORD, "agent", display_name="小李")
    store.add_staff("boss", PASSWORD, "supervisor")
    store.record_message("web:u1", "user", "我要转人工", time.time() - 60, event_key="u1", channel="socketio")
    store.request_handoff("web:u1", "user_request", in_office_hours=True, at=time.time() - 59)
    app = create_app(settings, follow_events=False)
    rasa = RecordingRasa()
    app[RASA_KEY] = rasa  # type: ignore[assignment]
    client = TestClient(TestServer(app))
    await client.start_server()
    browsers: List[Staff] = []

    async def staff(username: str) -> Staff:
        browser = Staff(client)
        await browser.login(username)
        browsers.append(browser)
        return browser

    try:
        yield staff, store, rasa
    finally:
        for browser in browsers:
            await browser.http.close()
        await client.close()
        store.dispose()


@pytest_asyncio.fixture
async def desk(tmp_path):
    async with console_desk(tmp_path) as parts:
        yield parts


@pytest_asyncio.fixture
async def platform_desk(tmp_path, demo_db_url):
    """The desk with the demo platform data behind it."""
    async with console_desk(tmp_path, demo_db_url) as parts:
        yield parts


async def test_two_staff_taking_over_at_once_one_wins_and_the_user_is_greeted_once(desk):
    staff, store, rasa = desk
    first, second = await staff("agent1"), await staff("agent2")
    path = "/console/api/conversations/web:u1/take-over"
    responses = await asyncio.gather(first.post(path), second.post(path))
    assert sorted(r.status for r in responses) == [200, 409]
    loser = next(r for r in responses if r.status == 409)
    error = (await loser.json())["error"]
    assert "正在接待该对话" in error and re.search(r"[a-zA-Z]{4,}", error.replace("agent", "")) is None
    assert len(rasa.greetings()) == 1
    # users see the display name, never the login name
    assert rasa.greetings()[0]["metadata"]["staff_name"] in ("工作人员 小王", "工作人员 小李")
    # pressing again as the holder does not greet the user a second time
    winner = first if responses[0].status == 200 else second
    assert (await winner.post(path)).status == 200
    assert len(rasa.greetings()) == 1


async def test_buttons_are_only_those_the_viewer_may_use(desk):
    staff, store, rasa = desk
    holder, colleague, boss = await staff("agent1"), await staff("agent2"), await staff("boss")
    detail = "/console/api/conversations/web:u1"
    waiting = ["take_over", "transfer_team", "hand_back", "close"]
    assert (await (await colleague.get(detail)).json())["allowed_actions"] == waiting
    assert (await holder.post(detail + "/take-over")).status == 200
    held = ["reply", "transfer", "transfer_team", "hand_back", "close"]
    assert (await (await holder.get(detail)).json())["allowed_actions"] == held
    assert (await (await colleague.get(detail)).json())["allowed_actions"] == []
    supervising = ["take_over", "transfer", "transfer_team", "hand_back", "close"]
    assert (await (await boss.get(detail)).json())["allowed_actions"] == supervising
    # what is not offered is refused, in Chinese
    for action, body in (("take-over", None), ("hand-back", None), ("close", None), ("transfer", {"to": "agent2"})):
        response = await colleague.post(f"{detail}/{action}", body)
        assert response.status == 409 and "小王" not in (await response.json())["error"]
        assert "正在接待" in (await response.json())["error"]
    response = await colleague.post(detail + "/reply", {"text": "您好"})
    assert response.status == 409 and "接管" in (await response.json())["error"]
    # a supervisor may take it over from the holder
    assert (await boss.post(detail + "/take-over")).status == 200
    assert store.get_conversation("web:u1")["assigned_to"] == "boss"
    assert (await (await holder.get(detail)).json())["allowed_actions"] == []


async def test_the_live_stream_ends_when_its_browser_logs_out(desk):
    staff, store, rasa = desk
    browser = await staff("agent1")
    stream = await browser.get("/console/api/events")
    assert stream.status == 200
    assert (await stream.content.readline()).startswith(b"event: ready")
    await stream.content.readline()
    await stream.content.readline()
    assert (await browser.post("/console/logout")).status == 200
    received = b""
    async with asyncio.timeout(3) if hasattr(asyncio, "timeout") else _timeout(3):
        async for line in stream.content:
            received += line
    assert b"event: logout" in received
    assert b"event: conversation" not in received


async def test_a_burst_of_updates_reaches_the_live_stream_whole_and_in_order(desk):
    staff, store, rasa = desk
    browser = await staff("agent1")
    stream = await browser.get("/console/api/events")
    assert (await stream.content.readline()).startswith(b"event: ready")
    await stream.content.readline()
    hub = browser.app[HUB_KEY]
    rows = [{**store.get_conversation("web:u1"), "last_text": f"第{i}条 13912345678"} for i in range(120)]
    for row in rows:  # one burst, queued before the stream's next write
        hub.publish({"type": "conversation", "conversation": row})
    hub.publish({"type": "logout"})
    received = b""
    async with asyncio.timeout(5) if hasattr(asyncio, "timeout") else _timeout(5):
        async for line in stream.content:
            received += line
    events = [block for block in received.decode("utf-8").split("\n\n") if block.strip()]
    shown = [json.loads(block.split("data: ", 1)[1])["conversation"]["last_text"] for block in events[:-1]]
    assert [text.split(" ")[0] for text in shown] == [f"第{i}条" for i in range(120)]
    assert all("13912345678" not in text for text in shown)  # masked, as in the list
    assert events[-1].startswith("event: logout")


class _timeout:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def __aenter__(self):
        self._handle = asyncio.get_running_loop().call_later(self.seconds, asyncio.current_task().cancel)

    async def __aexit__(self, *exc):
        self._handle.cancel()
        return False


async def test_the_list_pages_through_every_conversation_with_its_total(desk):
    staff, store, rasa = desk
    now = time.time()
    for i in range(450):
        store.record_message(f"web:p{i:03d}", "user", f"问题 {i}", now - 1000 + i, event_key=f"p{i}")
    browser = await staff("agent1")
    first = await (await browser.get("/console/api/conversations?limit=100")).json()
    assert first["total"] == 451 and len(first["conversations"]) == 100
    assert first["conversations"][0]["sender_id"] == "web:u1"  # waiting first
    seen = set()
    for offset in range(0, 451, 100):
        page = await (await browser.get(f"/console/api/conversations?limit=100&offset={offset}")).json()
        seen.update(c["sender_id"] for c in page["conversations"])
    assert len(seen) == 451
    assert (await browser.get("/console/api/conversations?limit=abc")).status == 400


async def test_waiting_conversations_are_listed_oldest_first(desk):
    staff, store, rasa = desk
    now = time.time()
    for name, waited in (("web:w-new", 5), ("web:w-old", 500), ("web:w-mid", 50)):
        store.request_handoff(name, "user_request", in_office_hours=True, at=now - waited)
    browser = await staff("agent1")
    page = await (await browser.get("/console/api/conversations?status=waiting")).json()
    assert [c["sender_id"] for c in page["conversations"]] == ["web:w-old", "web:u1", "web:w-mid", "web:w-new"]


async def test_search_covers_notes_and_pages_with_a_total(desk):
    staff, store, rasa = desk
    browser = await staff("agent1")
    response = await browser.post("/console/api/conversations/web:u1/notes", {"text": "企业需要IATF认证的座椅供应商"})
    assert response.status == 200
    for i in range(120):
        store.record_message(f"web:s{i}", "user", f"座椅 {i}", time.time(), event_key=f"s{i}")
    notes = await (await browser.get("/console/api/search?q=IATF")).json()
    assert [r["kind"] for r in notes["results"]] == ["note"] and notes["total"] == 1
    many = await (await browser.get("/console/api/search?q=座椅&limit=50&offset=100")).json()
    assert many["total"] == 121 and len(many["results"]) == 21


async def test_unanswered_questions_leave_out_form_answers_and_mask_contacts(desk):
    staff, store, rasa = desk
    now = time.time()
    turns = [
        # (sender, text, intent, first action): form answers are handled by the form
        ("web:f1", "张经理 13800000000", "nlu_fallback", "demand_form"),
        ("web:f1", "wang@example.com", "nlu_fallback", "demand_form"),
        ("web:f1", "三个月内", "nlu_fallback", "demand_form"),
        ("web:a1", "氢燃料电池补贴怎么申请", "ask_policy", "action_fallback"),
        ("web:a2", "氢燃料电池的补贴如何申请", "ask_policy", "action_fallback"),
        ("web:a3", "火星上有工厂吗 电话13912345678", "out_of_scope", "utter_out_of_scope"),
    ]
    for i, (sender, text, intent, action) in enumerate(turns):
        store.record_message(sender, "user", text, now - 100 + i, event_key=f"t{i}", intent=intent, confidence=0.3)
        store.record_next_action(sender, action)
    boss = await staff("boss")
    unanswered = await (await boss.get("/console/api/unanswered")).json()
    texts = " ".join(w["text"] for g in unanswered["groups"] for w in g["wordings"])
    for private in ("13800000000", "wang@example.com", "张经理", "三个月内", "13912345678"):
        assert private not in texts
    assert unanswered["groups"][0]["times"] == 2 and unanswered["groups"][0]["conversations"] == 2
    assert "氢燃料电池" in unanswered["groups"][0]["question"]
    figures = await (await boss.get("/console/api/figures")).json()
    assert [q["times"] for q in figures["top_failed_questions"]] == [2, 1]
    assert "139****78" in figures["top_failed_questions"][1]["text"]


async def test_first_human_reply_is_measured_from_the_request_to_the_first_staff_message(desk):
    staff, store, rasa = desk
    ingest = Ingestor(store, LiveHub())
    browser = await staff("agent1")
    assert (await browser.post("/console/api/conversations/web:u1/take-over")).status == 200
    # Rasa publishes what the console sent: the greeting first, a real reply later.
    greeting = rasa.greetings()[0]
    await ingest([{**greeting, "timestamp": time.time()}])
    first = store.handoff_history("web:u1")[-1]
    assert first["first_reply_at"] is None  # the greeting is no reply
    assert store.transcript("web:u1")[-1]["kind"] == "system"
    response = await browser.post("/console/api/conversations/web:u1/reply", {"text": "请问您需要什么帮助？"})
    assert response.status == 200
    reply = rasa.sent[-1]
    reply_at = time.time()
    await ingest([
        {
            "sender_id": "web:u1",
            "event": "bot",
            "text": reply["text"],
            "timestamp": reply_at,
            "metadata": {"from_staff": True, "staff_name": reply["staff_name"]},
        }
    ])
    handoff = store.handoff_history("web:u1")[-1]
    assert handoff["first_reply_at"] == pytest.approx(reply_at)
    assert handoff["first_reply_at"] >= handoff["taken_at"] >= handoff["requested_at"]
    boss = await staff("boss")
    figures = await (await boss.get("/console/api/figures")).json()
    assert figures["first_reply_median_s"] == pytest.approx(reply_at - handoff["requested_at"], abs=0.01)
    assert figures["first_reply_median_s"] > 50


async def test_staff_only_pages_answer_agents_in_chinese(desk):
    staff, store, rasa = desk
    agent = await staff("agent1")
    for path in ("/console/api/figures", "/console/api/audit"):
        response = await agent.get(path)
        assert response.status == 403
        assert "仅主管" in (await response.json())["error"]


async def test_admins_manage_accounts_and_unlock_a_slowed_account(desk):
    staff, store, rasa = desk
    store.add_staff("root", PASSWORD, "admin")
    admin, agent = await staff("root"), await staff("agent1")
    assert (await agent.get("/console/api/staff")).status == 403
    assert "仅管理员" in (await (await agent.get("/console/api/staff")).json())["error"]
    listing = await (await admin.get("/console/api/staff")).json()
    assert {"四川", "重庆", "政策", "供需", "专家"} <= set(listing["teams"])
    response = await admin.post(
        "/console/api/staff",
        {"username": "agent3", "password": "short", "role": "agent"},
    )
    assert response.status == 400 and "10 个字符" in (await response.json())["error"]
    response = await admin.post(
        "/console/api/staff",
        {"username": "agent3", "password": PASSWORD, "role": "agent", "display_name": "小张",
         "teams": ["重庆", "供需"]},
    )
    assert response.status == 201
    accounts = {a["username"]: a for a in (await (await admin.get("/console/api/staff")).json())["accounts"]}
    assert accounts["agent3"]["teams"] == ["重庆", "供需"] and accounts["agent3"]["display_name"] == "小张"
    assert (await admin.post("/console/api/staff/agent3", {"role": "supervisor", "teams": ["四川"]})).status == 200
    assert (await admin.post("/console/api/staff/agent3", {"teams": ["火星"]})).status == 400
    # disabling logs the account out at once
    third = await staff("agent3")
    assert (await admin.post("/console/api/staff/agent3", {"active": False})).status == 200
    assert (await third.get("/console/api/me")).status == 401
    assert (await admin.post("/console/api/staff/root", {"active": False})).status == 400  # not oneself
    # an account slowed by guesses is unlocked by an admin
    for _ in range(8):
        store.check_login("agent2", "wrong guess", "10.3.0.1")
    assert store.login_wait_s("agent2", "192.168.0.7") > 0
    unlocked = await (await admin.post("/console/api/staff/agent2/unlock")).json()
    assert unlocked["cleared_failures"] == 8
    assert store.login_wait_s("agent2", "192.168.0.7") == 0
    assert (await admin.post("/console/api/staff/agent2/password", {"password": "another long password"})).status == 200
    actions = [e["action"] for e in store.audit_entries()]
    assert {"account_create", "account_update", "account_unlock", "account_password"} <= set(actions)


async def test_transfer_to_a_colleague_or_a_team_with_the_per_agent_cap(desk):
    staff, store, rasa = desk
    holder, colleague, boss = await staff("agent1"), await staff("agent2"), await staff("boss")
    detail = "/console/api/conversations/web:u1"
    assert (await holder.post(detail + "/take-over")).status == 200
    # to a colleague: they hold it now, the user is told who continues (display name)
    response = await holder.post(detail + "/transfer", {"to": "agent2"})
    assert response.status == 200
    assert store.get_conversation("web:u1")["assigned_to"] == "agent2"
    assert rasa.sent[-1]["text"] == "已为您转接工作人员 小李，将继续为您服务。"
    assert rasa.sent[-1]["metadata"]["handoff_notice"] is True
    assert (await (await colleague.get(detail)).json())["allowed_actions"][0] == "reply"
    assert (await holder.post(detail + "/reply", {"text": "还在吗"})).status == 409
    # to a team's queue: waiting again, for that team, found by the team filter
    assert (await colleague.post(detail + "/transfer", {"team": "重庆"})).status == 200
    conversation = store.get_conversation("web:u1")
    assert (conversation["status"], conversation["assigned_to"], conversation["team"]) == ("waiting", None, "重庆")
    assert "重庆" in rasa.sent[-1]["text"]
    page = await (await holder.get("/console/api/conversations?team=重庆")).json()
    assert [c["sender_id"] for c in page["conversations"]] == ["web:u1"]
    assert (await colleague.post(detail + "/transfer", {"team": "火星"})).status == 400
    assert (await colleague.post(detail + "/transfer", {"to": "nobody"})).status == 400
    # the per-agent cap (5): a sixth conversation is refused to an agent, not to a supervisor
    for i in range(5):
        store.request_handoff(f"web:cap{i}", "user_request", in_office_hours=True)
        assert (await holder.post(f"/console/api/conversations/web:cap{i}/take-over")).status == 200
    response = await holder.post(detail + "/take-over")
    assert response.status == 409 and "上限 5 个" in (await response.json())["error"]
    assert (await boss.post(detail + "/take-over")).status == 200
    response = await boss.post(detail + "/transfer", {"to": "agent1"})
    assert response.status == 409 and "上限" in (await response.json())["error"]
    load = {s["username"]: s["holding"] for s in (await (await boss.get("/console/api/colleagues")).json())["staff"]}
    assert load["agent1"] == 5 and load["boss"] == 1


def test_assignment_rules_queue_for_the_team_of_the_topic_or_region():
    from bot.handoff.assignment import team_for

    def user(intent):
        return {"event": "user", "parse_data": {"intent": {"name": intent}}}

    assert team_for([user("find_suppliers"), user("ask_policy")]) == "政策"  # the latest topic
    assert team_for([user("contact_expert"), user("request_human")]) == "专家"
    assert team_for([user("greet"), user("request_human")], {"demand_region": "重庆市"}) == "重庆"
    assert team_for([user("request_human")], {"product_region": "成都"}) == "四川"
    assert team_for([user("greet")]) is None


async def test_after_staff_end_the_conversation_the_user_rates_it_and_may_comment(desk, monkeypatch, tmp_path):
    import bot.handoff.store
    from bot.channels.payloads import payload_answer
    from bot.messages import user_text
    from bot.settings import reload_settings

    staff, store, rasa = desk
    monkeypatch.setenv("HANDOFF_DATABASE_URL", store.url)
    monkeypatch.setattr(bot.handoff.store, "_shared", {})
    reload_settings()
    try:
        holder = await staff("agent1")
        detail = "/console/api/conversations/web:u1"
        assert (await holder.post(detail + "/take-over")).status == 200
        assert (await holder.post(detail + "/close")).status == 200
        request = next(e for e in rasa.sent if e.get("text") == user_text("rating.request"))
        buttons = request["data"]["buttons"]
        assert [b["title"] for b in buttons] == ["非常满意", "满意", "一般", "不满意", "非常不满意"]
        # The user presses 不满意: the channel records it and thanks, the assistant never sees it.
        answer = await payload_answer(buttons[3]["payload"], "web:u1", agent=None)
        assert answer == user_text("rating.thanks")
        assert [(r["score"], r["staff"]) for r in store.rating_of("web:u1")] == [(2, "agent1")]
        # A forged score is refused; a second press keeps the first rating.
        assert await payload_answer('/rate_service{"score": 9}', "web:u1", None) == user_text("rating.invalid")
        await payload_answer(buttons[0]["payload"], "web:u1", None)
        assert [r["score"] for r in store.rating_of("web:u1")] == [2]
        # The next thing the user writes is kept as the comment.
        ingest = Ingestor(store, LiveHub())
        await ingest([{"sender_id": "web:u1", "event": "user", "text": "回复太慢了", "timestamp": time.time()}])
        assert store.rating_of("web:u1")[0]["comment"] == "回复太慢了"
        # Nothing to rate where nobody from staff served the user.
        assert await payload_answer(buttons[0]["payload"], "web:other", None) == user_text("rating.nothing_to_rate")
        boss = await staff("boss")
        figures = await (await boss.get("/console/api/figures")).json()
        assert figures["ratings"]["2"] == 1 and figures["per_agent"]["agent1"]["rating_average"] == 2
    finally:
        monkeypatch.undo()
        reload_settings()


async def test_canned_responses_are_shared_editable_and_filled_per_conversation(desk):
    staff, store, rasa = desk
    store.set_company("web:u1", "重庆长安汽车", time.time())
    first, second = await staff("agent1"), await staff("agent2")
    welcome = {"shortcut": "欢迎", "text": "{company}您好，我是{staff}，{unknown}"}
    response = await first.post("/console/api/canned", welcome)
    assert response.status == 200
    assert (await first.post("/console/api/canned", {"shortcut": "bad shortcut!", "text": "x"})).status == 400
    listed = (await (await second.get("/console/api/canned?sender_id=web:u1")).json())["canned"]
    assert [c["shortcut"] for c in listed] == ["欢迎"]
    assert listed[0]["filled"] == "重庆长安汽车您好，我是工作人员 小李，{unknown}"  # the viewer's display name
    # a colleague edits it; everyone sees the new text
    await second.post("/console/api/canned", {"shortcut": "/欢迎", "text": "{company}您好"})
    listed = (await (await first.get("/console/api/canned?sender_id=web:u1")).json())["canned"]
    assert [c["filled"] for c in listed] == ["重庆长安汽车您好"]
    assert (await first.post("/console/api/canned/欢迎/delete")).status == 200
    assert (await (await first.get("/console/api/canned")).json())["canned"] == []


async def test_labels_filter_the_list_and_show_in_rows(desk):
    staff, store, rasa = desk
    store.record_message("web:u2", "user", "你好", time.time(), event_key="l2")
    browser = await staff("agent1")
    response = await browser.post("/console/api/conversations/web:u1/labels", {"label": "补贴"})
    assert (await response.json())["labels"] == ["补贴"]
    await browser.post("/console/api/conversations/web:u1/labels", {"label": "紧急"})
    assert (await browser.post("/console/api/conversations/web:u1/labels", {"label": ""})).status == 400
    page = await (await browser.get("/console/api/conversations?label=补贴")).json()
    assert [c["sender_id"] for c in page["conversations"]] == ["web:u1"]
    assert sorted(page["conversations"][0]["labels"]) == sorted(["紧急", "补贴"])
    await browser.post("/console/api/conversations/web:u1/labels/remove", {"label": "补贴"})
    assert (await (await browser.get("/console/api/conversations?label=补贴")).json())["total"] == 0
    in_use = (await (await browser.get("/console/api/labels")).json())["labels"]
    assert in_use == [{"label": "紧急", "conversations": 1}]


async def test_csv_export_of_a_filtered_list_opens_cleanly_in_a_spreadsheet(desk):
    staff, store, rasa = desk
    now = time.time()
    store.record_message("web:x1", "user", "=HYPERLINK(\"http://evil\") 电话13800000000", now, event_key="x1")
    store.set_company("web:x1", "+成都某公司", now)
    store.record_message("web:x2", "user", "你好", now, event_key="x2")
    browser = await staff("agent1")
    response = await browser.get("/console/api/conversations.csv?status=bot&tz=Asia/Shanghai")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/csv")
    raw = await response.read()
    assert raw.startswith("\ufeff".encode("utf-8"))
    import csv as csv_module
    import io

    rows = list(csv_module.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["对话", "状态", "渠道"]
    by_id = {r[0]: r for r in rows[1:]}
    assert set(by_id) == {"web:x1", "web:x2"}  # the waiting web:u1 is filtered out
    assert by_id["web:x1"][3] == "'+成都某公司"  # formula start neutralised
    assert by_id["web:x1"][7].startswith("'=HYPERLINK") and "13800000000" not in by_id["web:x1"][7]
    from datetime import datetime
    from zoneinfo import ZoneInfo

    expected = datetime.fromtimestamp(now, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    assert by_id["web:x2"][8].startswith(expected)
    assert (await browser.get("/console/api/conversations.csv?tz=Mars/Olympus")).status == 400


async def test_handoff_summary_unread_count_and_who_is_viewing(desk):
    staff, store, rasa = desk
    ingest = Ingestor(store, LiveHub())
    now = time.time()
    store.record_message("web:h", "user", "重庆有没有做轮毂的", now - 30, event_key="h1", intent="find_suppliers",
                         confidence=0.91)
    store.record_next_action("web:h", "action_find_suppliers")
    await ingest([
        {"sender_id": "web:h", "event": "slot", "name": "match_text", "value": "轮毂", "timestamp": now - 29}
    ])
    await ingest([{"sender_id": "web:h", "event": "slot", "name": "requested_slot", "value": "x", "timestamp": now}])
    store.record_message("web:h", "user", "阿巴阿巴", now - 20, event_key="h2", intent="nlu_fallback", confidence=0.2)
    store.record_next_action("web:h", "action_fallback")
    store.request_handoff("web:h", "fallback", in_office_hours=True, at=now - 19)
    store.record_message("web:h", "user", "人呢", now - 10, event_key="h3")
    first, second = await staff("agent1"), await staff("agent2")
    listed = await (await first.get("/console/api/conversations?status=waiting")).json()
    assert next(c for c in listed["conversations"] if c["sender_id"] == "web:h")["unread"] == 3
    detail = await (await first.get("/console/api/conversations/web:h")).json()
    summary = detail["summary"]
    assert summary["reason"] == "助手连续未能理解"
    assert [q["text"] for q in summary["questions"]] == ["重庆有没有做轮毂的", "阿巴阿巴"]
    assert summary["questions"][0]["intent"] == "find_suppliers" and summary["questions"][1]["unanswered"]
    assert summary["assistant_did"] == ["推荐供应商", "未能理解"]
    assert summary["slots"] == [{"name": "查找的产品", "value": "轮毂"}]
    assert detail["viewers"] == ["agent1"]
    assert store.get_conversation("web:h")["unread"] == 0  # opened by staff
    seen = await (await second.get("/console/api/conversations/web:h/presence")).json()
    assert seen["viewers"] == ["agent1", "agent2"]
    await first.get("/console/api/conversations/web:h/presence?leaving=1")
    assert (await (await second.get("/console/api/conversations/web:h/presence")).json())["viewers"] == ["agent2"]


async def test_staff_send_a_policy_entry_as_the_assistant_words_it(desk):
    staff, store, rasa = desk
    holder = await staff("agent1")
    found = await (await holder.get("/console/api/knowledge?q=川渝联合研发项目支持哪些领域")).json()
    entry = found["entries"][0]
    assert "研发" in entry["title"] and "来源" in entry["text"]
    assert (await holder.post("/console/api/conversations/web:u1/take-over")).status == 200
    assert (await holder.post("/console/api/conversations/web:u1/reply", {"text": entry["text"]})).status == 200
    assert rasa.sent[-1]["text"] == entry["text"]


async def test_the_user_is_told_staff_are_typing_only_while_the_holder_types(desk):
    staff, store, rasa = desk
    holder, colleague = await staff("agent1"), await staff("agent2")
    typing = "/console/api/conversations/web:u1/typing"
    # Nobody holds the conversation yet: nobody may signal.
    assert (await holder.post(typing, {"typing": True})).status == 409
    assert (await holder.post("/console/api/conversations/web:u1/take-over")).status == 200
    assert (await colleague.post(typing, {"typing": True})).status == 409
    assert rasa.typing == []
    # Keystrokes in quick succession: one signal for the user, not one per key.
    answers = [await (await holder.post(typing, {"typing": True})).json() for _ in range(5)]
    assert [a["sent"] for a in answers] == [True, False, False, False, False]
    assert rasa.typing == [("web:u1", "socketio", True)]
    # Idle: the signal is withdrawn, and typing again signals at once.
    assert (await (await holder.post(typing, {"typing": False})).json())["sent"] is True
    assert (await (await holder.post(typing, {"typing": True})).json())["sent"] is True
    # The reply ends it; the next keystroke after it signals again at once.
    assert (await holder.post("/console/api/conversations/web:u1/reply", {"text": "您好"})).status == 200
    assert (await (await holder.post(typing, {"typing": True})).json())["sent"] is True
    assert rasa.typing == [("web:u1", "socketio", flag) for flag in (True, False, True, True)]
    assert (await holder.post(typing, {"typing": "yes"})).status == 400


async def test_typing_goes_to_wechat_but_not_to_wecom_which_has_no_such_signal(desk):
    staff, store, rasa = desk
    for sender, channel in (("wechat:o1", "wechat"), ("wecom:u9", "wecom")):
        store.record_message(sender, "user", "转人工", time.time() - 5, event_key=f"{sender}-1", channel=channel)
        store.request_handoff(sender, "user_request", in_office_hours=True, at=time.time() - 4)
    holder = await staff("agent1")
    for sender in ("wechat:o1", "wecom:u9"):
        assert (await holder.post(f"/console/api/conversations/{sender}/take-over")).status == 200
    answer = await holder.post("/console/api/conversations/wechat:o1/typing", {"typing": True})
    assert answer.status == 200 and (await answer.json())["sent"] is True
    answer = await holder.post("/console/api/conversations/wecom:u9/typing", {"typing": True})
    assert answer.status == 200 and (await answer.json())["sent"] is False
    assert rasa.typing == [("wechat:o1", "wechat", True)]


def supplier_slots(demo_index, request: str, language: str) -> Dict[str, Any]:
    """The slots the assistant leaves after answering ``request`` (actions/matching.py)."""
    result = demo_index.find_suppliers(request, None, language)
    return {
        "matching_kind": "supplier",
        "supplier_query": result.query.to_dict(),
        "shown_suppliers": [{"number": m.number, "name": m.name, "reasons": m.reasons} for m in result.items],
        "language": None if language == "zh" else language,
    }


async def test_staff_send_the_last_supplier_list_as_the_assistant_draws_it_on_each_channel(
    platform_desk, demo_index
):
    staff, store, rasa = platform_desk
    holder = await staff("agent1")
    send = "/console/api/conversations/web:u1/match-list"
    assert (await holder.post("/console/api/conversations/web:u1/take-over")).status == 200
    # No list in this conversation yet: a clear refusal, nothing sent.
    refused = await holder.post(send)
    assert refused.status == 409 and "还没有供应商或专家匹配清单" in (await refused.json())["error"]

    # An English-speaking user on Telegram: the numbered list as text, in English, marked as staff's.
    request = "我们需要重庆的铝合金轮毂供应商"
    rasa.trackers["web:u1"] = {"slots": supplier_slots(demo_index, request, "en"), "latest_input_channel": "telegram"}
    mark = len(rasa.sent)
    assert (await holder.post(send)).status == 200
    expected = supplier_reply(demo_index.find_suppliers(request, None, "en"), "en")
    text, payload = rasa.sent[mark:]
    assert text["text"] == expected.text and "suppliers" in text["text"].lower()
    assert text["metadata"]["staff_name"] == "工作人员 小王"
    assert "buttons" not in text.get("data", {})  # the assistant is paused: nothing to press
    assert payload["data"]["custom"] == expected.custom

    # The same list for a widget user in Chinese: heading, cards, hint, as the assistant sends them.
    rasa.trackers["web:u1"] = {"slots": supplier_slots(demo_index, request, "zh"), "latest_input_channel": "socketio"}
    mark = len(rasa.sent)
    assert (await holder.post(send)).status == 200
    expected = supplier_reply(demo_index.find_suppliers(request, None, "zh"), "zh")
    heading, cards, hint = rasa.sent[mark:]
    assert heading["text"] == expected.heading and "重庆" in heading["text"]
    assert cards["data"]["custom"]["items"] == expected.custom["items"]
    assert hint["text"] == expected.hint
    assert {"match_list"} <= {e["action"] for e in store.audit_entries(sender_id="web:u1")}

    # A colleague who does not hold the conversation cannot send it.
    colleague = await staff("agent2")
    assert (await colleague.post(send)).status == 409


async def test_the_transfer_list_shows_which_colleagues_are_online(desk):
    staff, store, rasa = desk
    first = await staff("agent1")

    def online(answer: Dict[str, Any]) -> Dict[str, bool]:
        return {c["username"]: c["online"] for c in answer["staff"]}

    assert online(await (await first.get("/console/api/colleagues")).json()) == {
        "agent1": True, "agent2": False, "boss": False
    }
    second = await staff("agent2")
    await second.get("/console/api/colleagues")  # agent2's console is open
    assert online(await (await first.get("/console/api/colleagues")).json())["agent2"] is True

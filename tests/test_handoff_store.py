"""The handoff store and office hours, on SQLite and on the PostgreSQL server."""
from __future__ import annotations

import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from bot.handoff.officehours import OfficeHours, OfficeHoursError
from bot.handoff.store import (
    STATUS_BOT,
    STATUS_CLOSED,
    STATUS_STAFF,
    STATUS_WAITING,
    HandoffConflict,
    HandoffError,
    HandoffStore,
    StaffMember,
    hash_password,
    verify_password,
)
from tests.services import require_postgres

SHANGHAI = ZoneInfo("Asia/Shanghai")
ALICE = StaffMember(1, "alice", "agent")
BOB = StaffMember(2, "bob", "agent")
BOSS = StaffMember(3, "boss", "supervisor")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def store(request, tmp_path):
    if request.param == "sqlite":
        store = HandoffStore(f"sqlite:///{tmp_path / 'handoff.db'}")
        yield store
        store.dispose()
        return
    # Our own database on the shared server, so parallel test runs never meet.
    admin_url = require_postgres()
    name = f"handoff_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(admin_url).set(database=name)
    store = HandoffStore(url.render_as_string(hide_password=False))
    yield store
    store.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}"'))
    admin.dispose()


def test_office_hours_parse_and_decide():
    hours = OfficeHours.parse("mon-fri 09:00-12:00,13:30-17:30; sat 09:00-12:00", "Asia/Shanghai")
    assert hours.is_open(datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI))  # Thursday morning
    assert not hours.is_open(datetime(2026, 11, 26, 12, 30, tzinfo=SHANGHAI))  # lunch
    assert not hours.is_open(datetime(2026, 11, 29, 10, 0, tzinfo=SHANGHAI))  # Sunday
    assert hours.is_open(datetime(2026, 11, 28, 11, 59, tzinfo=SHANGHAI))  # Saturday
    # Friday evening → Saturday 09:00; Saturday afternoon → Monday 09:00
    assert hours.next_opening(datetime(2026, 11, 27, 18, 0, tzinfo=SHANGHAI)) == datetime(
        2026, 11, 28, 9, 0, tzinfo=SHANGHAI
    )
    assert hours.format_opening(hours.next_opening(datetime(2026, 11, 28, 13, 0, tzinfo=SHANGHAI))) == "周一 09:00"
    assert hours.describe() == "周一至周五 09:00-12:00、13:30-17:30；周六 09:00-12:00"
    assert hours.describe("en") == "Mon–Fri 09:00-12:00, 13:30-17:30; Sat 09:00-12:00"
    # UTC input is converted: 02:00 UTC is 10:00 in Chengdu
    assert hours.is_open(datetime(2026, 11, 26, 2, 0, tzinfo=ZoneInfo("UTC")))
    always = OfficeHours.parse("mon-sun 00:00-24:00")
    assert always.is_open(datetime(2026, 11, 29, 23, 59, 59, tzinfo=SHANGHAI))
    assert always.describe() == "周一至周日 00:00-24:00"


@pytest.mark.parametrize(
    "text", ["", "mon-fri", "someday 09:00-10:00", "mon 10:00-09:00", "fri-mon 09:00-10:00", "mon 25:00-26:00"]
)
def test_office_hours_errors_are_clear(text):
    with pytest.raises(OfficeHoursError):
        OfficeHours.parse(text)


def test_password_hashes_are_salted_and_verifiable():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and "correct horse" not in first
    assert verify_password("correct horse", first)
    assert not verify_password("wrong horse", first)
    assert not verify_password("correct horse", "garbage")


def test_queue_positions_and_repeated_requests(store):
    first, pos1 = store.request_handoff("web:a", "user_request", in_office_hours=True, channel="socketio")
    second, pos2 = store.request_handoff("web:b", "fallback", in_office_hours=True)
    again, pos_again = store.request_handoff("web:a", "user_request", in_office_hours=True)
    assert (pos1, pos2) == (1, 2)
    assert again["id"] == first["id"] and pos_again == 1  # asking twice keeps the place
    store.take_over("web:a", ALICE)
    _, pos_b = store.request_handoff("web:b", "fallback", in_office_hours=True)
    assert pos_b == 1  # moved up once the first was taken
    assert store.get_conversation("web:a")["status"] == STATUS_STAFF
    assert store.get_conversation("web:b")["status"] == STATUS_WAITING
    assert store.waiting_count() == 1


def test_lifecycle_messages_and_figures(store):
    now = time.time()
    store.record_message(
        "tg:1", "user", "你好", now - 100, event_key="k1", channel="telegram", intent="greet", confidence=0.98
    )
    store.record_next_action("tg:1", "utter_greet")
    store.record_message("tg:1", "user", "阿巴阿巴", now - 90, event_key="k2", intent="nlu_fallback", confidence=0.3)
    store.record_next_action("tg:1", "action_fallback")
    assert store.record_message("tg:1", "user", "阿巴阿巴", now - 90, event_key="k2") is None  # redelivery
    store.request_handoff("tg:1", "fallback", in_office_hours=True, at=now - 80)
    with pytest.raises(HandoffError):
        store.end_handoff("nobody", ALICE, close=False)
    store.take_over("tg:1", ALICE)
    with pytest.raises(HandoffConflict):
        store.take_over("tg:1", BOB)  # alice holds it
    # The greeting sent on take-over is a system notice: it is no first reply.
    store.record_message("tg:1", "system", "您好，工作人员已接入", now + 1, event_key="k2b")
    store.record_message("tg:1", "staff", "您好，我是工作人员", now + 30, event_key="k3", author="alice")
    store.add_note("tg:1", "alice", "企业想要补贴申请表", now + 31)
    store.end_handoff("tg:1", ALICE, close=False)
    assert store.get_conversation("tg:1")["status"] == STATUS_BOT
    store.record_message(
        "web:2", "user", "政策", now - 10, event_key="k4", channel="socketio", intent="ask_policy", confidence=0.9
    )

    transcript = store.transcript("tg:1")
    assert [m["kind"] for m in transcript] == ["user", "user", "system", "staff", "note"]
    assert transcript[0]["intent"] == "greet" and transcript[0]["confidence"] == pytest.approx(0.98)
    assert transcript[1]["next_action"] == "action_fallback"

    figures = store.figures(days=1, now=now)
    assert figures["conversations"] == 2
    assert figures["handoff_rate"] == pytest.approx(0.5)
    assert figures["containment"] == pytest.approx(0.5)
    # from the request (now - 80) to the first staff message (now + 30)
    assert figures["first_reply_median_s"] == pytest.approx(110, abs=0.01)
    assert figures["top_failed_questions"] == [{"text": "阿巴阿巴", "times": 1, "conversations": 1}]
    assert sum(n for _, n in figures["conversations_per_day"]) == 2

    # search finds user and staff text and private notes
    assert {r["kind"] for r in store.search("我是工作人员")["results"]} == {"staff"}
    assert [r["kind"] for r in store.search("补贴申请表")["results"]] == ["note"]
    assert store.search("100%_")["total"] == 0  # LIKE wildcards are literal


def test_closed_conversation_reopens_with_the_assistant(store):
    store.record_message("web:c", "user", "转人工", time.time(), event_key="c1")
    store.request_handoff("web:c", "user_request", in_office_hours=True)
    store.take_over("web:c", ALICE)
    store.end_handoff("web:c", ALICE, close=True)
    assert store.get_conversation("web:c")["status"] == STATUS_CLOSED
    store.record_message("web:c", "user", "还有一个问题", time.time(), event_key="c2")
    assert store.get_conversation("web:c")["status"] == STATUS_BOT


@pytest.mark.parametrize("close", [True, False], ids=["closed", "handed_back"])
def test_user_is_with_the_assistant_after_staff_end_the_handoff_before_the_resume_arrives(store, close):
    # The console resumes Rasa, then records the close / hand-back; the resume event
    # reaches the store later through the event feed, after the user's next message.
    now = time.time()
    store.request_handoff("web:r", "user_request", in_office_hours=True, at=now - 30)
    store.set_paused("web:r", True, now - 30)
    store.take_over("web:r", ALICE)
    store.end_handoff("web:r", ALICE, close=close)
    store.record_message("web:r", "user", "还有一个问题", now, event_key="r1")
    conversation = store.get_conversation("web:r")
    assert conversation["status"] == STATUS_BOT  # not held by nobody, not queued
    assert conversation["assigned_to"] is None and conversation["waiting_since"] is None
    assert store.waiting_count() == 0
    assert store.claim_waiting_notice("web:r") is False  # no "please wait for staff"
    store.set_paused("web:r", False, now)  # the resume catches up
    assert store.get_conversation("web:r")["status"] == STATUS_BOT


def test_waiting_notice_is_claimed_once_per_handoff(store):
    store.request_handoff("web:n", "user_request", in_office_hours=True)
    assert store.claim_waiting_notice("web:n") is True
    assert store.claim_waiting_notice("web:n") is False
    store.end_handoff("web:n", ALICE, close=False)
    assert store.claim_waiting_notice("web:n") is False  # not waiting any more
    store.request_handoff("web:n", "user_request", in_office_hours=True)
    assert store.claim_waiting_notice("web:n") is True  # a new handoff, a new notice


def test_staff_accounts_sessions_and_login_attempts(store):
    with pytest.raises(ValueError, match="角色"):
        store.add_staff("eve", "long enough pw", "boss")
    with pytest.raises(ValueError, match="10 个字符"):
        store.add_staff("eve", "short", "agent")
    member = store.add_staff("alice", "long enough pw", "agent")
    with pytest.raises(ValueError, match="已存在"):
        store.add_staff("alice", "long enough pw", "agent")
    assert store.check_login("alice", "wrong", "10.0.0.1") is None
    assert store.check_login("alice", "long enough pw", "10.0.0.1") == member

    token, csrf = store.create_session(member)
    resolved = store.resolve_session(token, idle_s=60, max_age_s=3600)
    assert resolved == (member, csrf)
    assert store.resolve_session(token + "x", 60, 3600) is None
    assert store.resolve_session(token, idle_s=-1, max_age_s=3600) is None  # idle expiry deletes
    assert store.resolve_session(token, idle_s=60, max_age_s=3600) is None

    # Background refreshes (touch=False) do not count as activity.
    token, _ = store.create_session(member)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE handoff_staff_sessions SET last_seen = last_seen - 50"))
    assert store.resolve_session(token, idle_s=60, max_age_s=3600, touch=False) is not None
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE handoff_staff_sessions SET last_seen = last_seen - 20"))
    assert store.resolve_session(token, idle_s=60, max_age_s=3600, touch=False) is None  # 70 s idle

    token, _ = store.create_session(member)
    store.set_staff_password("alice", "a new long password")
    assert store.resolve_session(token, 60, 3600) is None  # password change logs out
    assert store.check_login("alice", "a new long password", "10.0.0.2") == member


def _age_attempts(store, seconds):
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE handoff_login_attempts SET at = at - :s"), {"s": seconds})


def test_failed_logins_slow_the_attacker_without_locking_the_owner_out(store):
    store.add_staff("alice", "long enough pw", "agent")
    # An attacker guesses alice's password from two addresses, 30 times.
    for i in range(30):
        store.check_login("alice", f"guess {i}", f"10.1.0.{i % 2}")
    # The attacker's addresses wait longer and longer: 2^(failures - 5) seconds.
    assert store.login_wait_s("mallory", "10.1.0.1") > 600
    # Alice, from her own address, waits at most the per-account delay, not 15 minutes ...
    wait = store.login_wait_s("alice", "192.168.1.20")
    assert 0 < wait <= store.login_policy.account_max_delay_s
    _age_attempts(store, store.login_policy.account_max_delay_s + 1)
    # ... and then logs in, while the attacker's address is still slowed.
    assert store.login_wait_s("alice", "192.168.1.20") == 0
    assert store.check_login("alice", "long enough pw", "192.168.1.20") is not None
    assert store.login_wait_s("alice", "10.1.0.1") > 0
    # Her successful login clears the per-account delay for her.
    store.check_login("alice", "one more guess", "10.1.0.3")
    assert store.login_wait_s("alice", "192.168.1.20") == 0


def test_exponential_delay_per_address_and_admin_unlock(store):
    store.add_staff("bob", "long enough pw", "agent")
    for _ in range(5):
        store.check_login("bob", "wrong", "10.2.0.1")
    first = store.login_wait_s("bob", "10.2.0.1")
    store.check_login("bob", "wrong", "10.2.0.1")
    second = store.login_wait_s("bob", "10.2.0.1")
    assert 0 < first <= 1 < second <= 2  # the delay doubles with each failure
    assert 0 < store.login_wait_s("bob", "10.9.9.9") <= 2  # the account is slowed everywhere, briefly
    assert store.unlock_account("bob") == 6  # an admin unlocks the account
    assert store.login_wait_s("bob", "10.9.9.9") == 0


def test_a_database_made_before_the_migrations_is_stamped_and_upgraded(tmp_path):
    # The schema as ``metadata.create_all`` made it before the Alembic history existed.
    import importlib.util

    from bot.handoff.schema import VERSION_TABLE

    legacy = Path(__file__).parent / "data" / "handoff_schema_before_migrations.py"
    spec = importlib.util.spec_from_file_location("legacy_store", legacy)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    module.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            module.staff.insert().values(
                username="alice", password_hash=hash_password("long enough pw"), role="agent",
                created_at=time.time(), active=True,
            )
        )
    engine.dispose()
    store = HandoffStore(url)
    try:
        member = store.check_login("alice", "long enough pw", "10.0.0.1")
        assert member is not None and member.display_name is None  # the data is kept
        assert store.update_staff("alice", display_name="小王").public_name == "工作人员 小王"
        with store.engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() is not None
    finally:
        store.dispose()


def test_a_restart_ends_the_handoff_and_gives_the_conversation_back(store):
    store.request_handoff("web:x", "user_request", in_office_hours=True)
    store.take_over("web:x", ALICE)
    store.restart("web:x", time.time())
    conversation = store.get_conversation("web:x")
    assert conversation["status"] == STATUS_BOT and conversation["assigned_to"] is None
    assert store.handoff_history("web:x")[-1]["end_kind"] == "restarted"



def test_the_feed_announces_each_conversation_as_stored_and_a_redelivered_batch_changes_nothing(store):
    """One batch mixing messages, the answering action, slots staff see, a pause and a staff
    reply for two conversations: the rows the console is sent are the rows stored, and the
    same batch delivered again adds nothing."""
    import asyncio

    from bot.handoff.ingest import Ingestor, LiveHub

    hub = LiveHub()
    updates = hub.subscribe()
    now = time.time()

    def turn(sender: str, start: float) -> list:
        return [
            {"event": "user", "text": "找制动盘", "input_channel": "rest",
             "parse_data": {"intent": {"name": "find_suppliers", "confidence": 0.9}}},
            {"event": "action", "name": "action_find_suppliers"},
            {"event": "bot", "text": "为您找到 3 家"},
            {"event": "pause"},
            {"event": "user", "text": "人呢", "input_channel": "rest"},
            {"event": "slot", "name": "product_company", "value": "渝北制动"},
            {"event": "bot", "text": "我是工作人员", "metadata": {"from_staff": True, "staff_name": "alice"}},
            {"event": "slot", "name": "demand_product", "value": "制动盘"},
            {"event": "slot", "name": "unanswered", "value": "partial"},
            {"event": "bot", "text": "还需要别的吗？"},
        ]

    batch = []
    for sender in ("rest:a", "rest:b"):
        for offset, event in enumerate(turn(sender, now)):
            batch.append({**event, "sender_id": sender, "timestamp": now + offset / 10})
    batch.sort(key=lambda event: event["timestamp"])  # the two conversations interleaved
    ingestor = Ingestor(store, hub)
    asyncio.run(ingestor(batch))

    announced = {}
    while not updates.empty():
        update = updates.get_nowait()
        if update["type"] == "conversation":
            announced[update["conversation"]["sender_id"]] = update["conversation"]
    for sender in ("rest:a", "rest:b"):
        stored = store.get_conversation(sender)
        assert announced[sender] == stored
        assert stored["message_count"] == 5 and stored["paused"] and stored["company"] == "渝北制动"
        assert '"demand_product": "制动盘"' in stored["slots"]
        transcript = store.transcript(sender)
        assert [m["next_action"] for m in transcript if m["kind"] == "user"] == ["action_find_suppliers", None]
        assert [m["unanswered"] for m in transcript if m["kind"] == "user"] == [None, "partial"]

    asyncio.run(ingestor(batch))
    for sender in ("rest:a", "rest:b"):
        assert store.get_conversation(sender) == announced[sender]
        assert len(store.transcript(sender)) == 5

"""Supervisor figures on a scripted day, checked against values computed by hand.

The day (Thursday 2026-11-26, Asia/Shanghai; SLA: first reply 120 s, waiting 300 s;
alice is on the 四川 desk, bob on the 重庆 desk):

=======  =====  ==================  ==========  ============  ==========  ===========  ======
conv.    start  request (team)      taken       first reply   ended       waiting/1st  rating
=======  =====  ==================  ==========  ============  ==========  ===========  ======
web:1    09:00  09:01 (政策)         09:03 alice  09:04         09:10 close   120 / 180    5
web:2    09:30  09:31               09:37 bob    09:38         09:50 back    360 / 420    2
web:3    10:00  —                   —           —             —            —            —
web:4    11:00  staff stepped in    11:05 alice  11:06         11:20 close     0 / 60     —
web:5    12:00  12:01               waiting at 12:05 ("now")                  240 / —      —
=======  =====  ==================  ==========  ============  ==========  ===========  ======

Resolution (request → end): web:1 540 s, web:2 1140 s, web:4 900 s.
SLA breaches: web:1 first reply 180 > 120; web:2 waiting 360 > 300 and first reply
420 > 120; web:5 no reply after 240 > 120 s.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from bot.handoff.store import HandoffStore
from tests.services import require_postgres

DAY = datetime(2026, 11, 26, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


def at(hhmm: str) -> float:
    hours, minutes = hhmm.split(":")
    return DAY + int(hours) * 3600 + int(minutes) * 60


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database(request, tmp_path):
    """A new handoff database: SQLite, and our own database on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'handoff.db'}"
        return
    admin_url = require_postgres()
    name = f"handoff_figures_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def day(database):
    store = HandoffStore(database)
    alice = store.add_staff("alice", "long enough pw", "agent", teams=["四川"])
    bob = store.add_staff("bob", "long enough pw", "agent", teams=["重庆"])
    for n, start in ((1, "09:00"), (2, "09:30"), (3, "10:00"), (4, "11:00"), (5, "12:00")):
        store.record_message(f"web:{n}", "user", "你好", at(start), event_key=f"start{n}")
    store.request_handoff("web:1", "user_request", in_office_hours=True, at=at("09:01"), team="政策")
    store.take_over("web:1", alice, at=at("09:03"))
    store.record_message("web:1", "system", "工作人员已接入", at("09:03"), event_key="g1")
    store.record_message("web:1", "staff", "您好", at("09:04"), event_key="r1")
    store.end_handoff("web:1", alice, close=True, at=at("09:10"))
    store.record_rating("web:1", 5, at=at("09:11"))
    store.request_handoff("web:2", "fallback", in_office_hours=True, at=at("09:31"))
    store.take_over("web:2", bob, at=at("09:37"))
    store.record_message("web:2", "staff", "您好", at("09:38"), event_key="r2")
    store.end_handoff("web:2", bob, close=False, at=at("09:50"))
    store.record_rating("web:2", 2, at=at("09:52"))
    store.add_rating_comment("web:2", "等太久了", at=at("09:53"))
    store.take_over("web:4", alice, at=at("11:05"))
    store.record_message("web:4", "staff", "您好", at("11:06"), event_key="r4")
    store.end_handoff("web:4", alice, close=True, at=at("11:20"))
    store.request_handoff("web:5", "user_request", in_office_hours=True, at=at("12:01"))
    yield store.figures(days=1, now=at("12:05"), sla_first_reply_s=120, sla_waiting_s=300), store
    store.dispose()


def test_overall_figures(day):
    figures, _ = day
    assert figures["conversations"] == 5
    assert figures["handoff_requests"] == 3  # staff stepping in is no request
    assert figures["handoff_rate"] == pytest.approx(3 / 5)
    overall = figures["overall"]
    assert overall["handoffs"] == 4
    assert overall["waiting_median_s"] == pytest.approx((120 + 240) / 2)  # 0, 120, 240, 360
    assert overall["first_reply_median_s"] == pytest.approx(180)  # 60, 180, 420
    assert overall["resolution_median_s"] == pytest.approx(900)  # 540, 900, 1140
    assert overall["sla_breaches"] == 3
    assert overall["ratings"] == 2 and overall["rating_average"] == pytest.approx(3.5)
    assert figures["ratings"] == {"5": 1, "4": 0, "3": 0, "2": 1, "1": 0}


def test_figures_per_agent_and_team(day):
    figures, _ = day
    alice, bob = figures["per_agent"]["alice"], figures["per_agent"]["bob"]
    assert (alice["handoffs"], alice["waiting_median_s"], alice["first_reply_median_s"]) == (2, 60, 120)
    assert (alice["resolution_median_s"], alice["sla_breaches"], alice["rating_average"]) == (720, 1, 5)
    assert (bob["handoffs"], bob["waiting_median_s"], bob["first_reply_median_s"]) == (1, 360, 420)
    assert (bob["resolution_median_s"], bob["sla_breaches"], bob["rating_average"]) == (1140, 1, 2)
    teams = figures["per_team"]
    assert {name: t["handoffs"] for name, t in teams.items()} == {"政策": 1, "重庆": 1, "四川": 1, "未分组": 1}
    assert teams["重庆"]["first_reply_median_s"] == 420


def test_figures_per_day_and_breaches(day):
    figures, store = day
    [only_day] = figures["per_day"]
    assert only_day["day"] == "2026-11-26"
    assert only_day["conversations"] == 5 and only_day["handoff_rate"] == pytest.approx(0.6)
    assert only_day["first_reply_median_s"] == 180 and only_day["sla_breaches"] == 3
    missed = {b["sender_id"]: b["missed"] for b in figures["breaches"]}
    assert missed == {"web:1": ["first_reply"], "web:2": ["waiting", "first_reply"], "web:5": ["first_reply"]}
    assert store.rating_of("web:2")[0]["comment"] == "等太久了"
    assert store.transcript("web:1")[-1]["text"] == "用户评价：非常满意（5 分）"

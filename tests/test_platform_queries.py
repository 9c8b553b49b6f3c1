"""Query functions and publishing on SQLite and PostgreSQL: what staff and actions rely on."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.platform.db import session_scope, upgrade_to_head
from bot.platform.importer import ensure_demo_data, import_export
from bot.platform.matching import PlatformIndex
from bot.platform.models import PublishedDemand, RegisteredProduct
from bot.platform.publishing import publish_demand, register_product
from bot.platform.queries import (
    RequestError,
    create_expert_contact_request,
    get_expert_public,
    list_expert_contact_requests_for_staff,
    list_published_demands,
    list_registered_products,
    platform_counts,
)
from tests.platform_fixtures import small_export, write_export

TODAY = dt.date(2026, 11, 26)


@pytest.fixture
def loaded(empty_db_url, tmp_path):
    rows = small_export(companies=200, experts=400)
    import_export(write_export(tmp_path / "export", rows), empty_db_url)
    return empty_db_url, rows


def test_counts_and_public_expert_view_without_contact_data(loaded):
    url, rows = loaded
    with session_scope(url) as session:
        counts = platform_counts(session)
        assert counts["experts"] == {"active": len(rows["experts"]), "retired": 0}
        public = get_expert_public(session, rows["experts"][0]["expert_id"])
    assert public["name"] == rows["experts"][0]["name"]
    assert "email" not in public and "phone" not in public
    assert rows["experts"][0]["email"] not in str(public)


def test_contact_requests_are_stored_and_staff_see_the_experts_email(loaded):
    url, rows = loaded
    available = next(r for r in rows["experts"] if r["available"] == "是")
    unavailable = next(r for r in rows["experts"] if r["available"] == "否")
    with session_scope(url) as session:
        create_expert_contact_request(session, available["expert_id"], sender_id="tg:1", channel="telegram",
                                      requester_organization="重庆大学", purpose="项目评审")
        with pytest.raises(RequestError):
            create_expert_contact_request(session, unavailable["expert_id"], sender_id="tg:1")
        with pytest.raises(RequestError):
            create_expert_contact_request(session, "E404", sender_id="tg:1")
    with session_scope(url) as session:
        [task] = list_expert_contact_requests_for_staff(session)
    assert (task["expert_id"], task["expert_email"], task["sender_id"]) == (
        available["expert_id"], available["email"], "tg:1"
    )


def test_published_demand_and_registered_product_are_stored_with_matches(loaded):
    url, rows = loaded
    index = PlatformIndex.load(url)
    with session_scope(url) as session:
        demand, suppliers = publish_demand(
            session, index, product="刹车卡钳", quantity=5000, unit="件", target_region="不限",
            deadline=TODAY + dt.timedelta(days=60), contact="王工 13800000000", company_name="某整车厂",
            sender_id="web:9", today=TODAY)
        assert demand.category == "底盘/制动系统"
        assert suppliers.matches and all(m.product_name == "制动卡钳" for m in suppliers.matches)
        with pytest.raises(RequestError):
            publish_demand(session, index, product="轮毂", quantity=0, unit="件", target_region="不限",
                           deadline=None, contact="13800000000", today=TODAY)
        with pytest.raises(RequestError):
            publish_demand(session, index, product="轮毂", quantity=10, unit="件", target_region="不限",
                           deadline=TODAY - dt.timedelta(days=1), contact="13800000000", today=TODAY)
    with session_scope(url) as session:
        # The supplier side sees the demand just published among the open demands it can serve.
        _, demands = register_product(
            session, index, product="制动卡钳", company_name="自贡某机械有限公司", annual_capacity=100000,
            unit="件", region="四川", city="自贡", contact="sales@example.cn", today=TODAY)
        assert any(d.demand_id == f"PD{demand.id}" for d in demands)
    with session_scope(url) as session:
        assert [d.product for d in list_published_demands(session)] == ["刹车卡钳"]
        assert [p.product for p in list_registered_products(session)] == ["制动卡钳"]
        assert session.scalars(select(PublishedDemand)).one().sender_id == "web:9"
        assert session.scalars(select(RegisteredProduct)).one().city == "自贡"


def test_ensure_demo_data_imports_once(empty_db_url, monkeypatch, tmp_path):
    demo = write_export(tmp_path / "demo", small_export(companies=10, experts=20))
    monkeypatch.setenv("PLATFORM_DEMO_EXPORT_DIR", str(demo))
    first = ensure_demo_data(empty_db_url)
    assert first is not None and first.counts["companies"].inserted == 10
    assert ensure_demo_data(empty_db_url) is None
    upgrade_to_head(empty_db_url)  # idempotent

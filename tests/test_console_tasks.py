"""Tasks for staff: what the assistant created in the platform data, through the
console API, marked done with an audit entry."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.handoff.store import HandoffStore
from bot.platform.db import session_scope
from bot.platform.importer import import_export
from bot.platform.matching import PlatformIndex
from bot.platform.models import Expert
from bot.platform.publishing import publish_demand, register_product
from bot.platform.queries import create_expert_contact_request
from bot.settings import get_settings
from bot.web.app import create_app
from tests.platform_fixtures import DEMO_EXPORT

pytestmark = pytest.mark.asyncio
PASSWORD = "a long enough password"


@pytest_asyncio.fixture
async def console_with_tasks(tmp_path):
    platform_url = f"sqlite:///{tmp_path / 'platform.db'}"
    report = import_export(DEMO_EXPORT, platform_url)
    assert not report.problems
    index = PlatformIndex.load(platform_url)
    with session_scope(platform_url) as session:
        expert = session.scalars(select(Expert).where(Expert.available.is_(True)).limit(1)).one()
        create_expert_contact_request(
            session, expert.expert_id, sender_id="web:t1", channel="socketio",
            requester_organization="重庆某研究院", requester_contact="023-1234", purpose="项目评审",
        )
        publish_demand(
            session, index, product="铝合金轮毂", quantity=5000, unit="件", target_region="重庆",
            deadline=dt.date.today() + dt.timedelta(days=30), contact="王经理 13800000000",
            company_name="<b>川渝精工</b>", sender_id="web:t2", channel="socketio",
        )
        register_product(
            session, index, product="动力电池包", company_name="成都新能", annual_capacity=20000, unit="套",
            region="四川", contact="李工 028-85551234", sender_id="telegram:9", channel="telegram",
        )
        expert_name = expert.name
    settings = get_settings().replace(
        var_dir=tmp_path,
        handoff_database_url=f"sqlite:///{tmp_path / 'handoff.db'}",
        platform_database_url=platform_url,
        rasa_url="http://127.0.0.1:9",
        rasa_token="test-token",
    )
    store = HandoffStore(settings.handoff_database_url)
    store.add_staff("agent1", PASSWORD, "agent")
    client = TestClient(TestServer(create_app(settings, follow_events=False)))
    await client.start_server()
    page = await client.get("/console/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)
    await client.post("/console/login", data={"username": "agent1", "password": PASSWORD, "csrf_token": csrf})
    yield client, store, expert_name
    await client.close()
    store.dispose()


async def test_tasks_list_and_mark_done(console_with_tasks):
    client, store, expert_name = console_with_tasks
    data = await (await client.get("/console/api/tasks")).json()
    assert data["error"] is None
    kinds = {kind["kind"]: kind["items"] for kind in data["kinds"]}
    assert set(kinds) == {"expert_contact", "published_demand", "registered_product"}
    contact = kinds["expert_contact"][0]
    assert expert_name in contact["title"] and contact["details"]["申请单位"] == "重庆某研究院"
    assert "专家电话" in contact["details"]  # staff arrange the contact, so they see it
    demand = kinds["published_demand"][0]
    assert demand["details"]["产品"] == "铝合金轮毂" and demand["details"]["企业"] == "<b>川渝精工</b>"
    assert kinds["registered_product"][0]["channel"] == "telegram"
    assert all(item["done"] is None for items in kinds.values() for item in items)

    csrf = (await (await client.get("/console/api/me")).json())["csrf_token"]
    done = await client.post(
        f"/console/api/tasks/published_demand/{demand['id']}/done", headers={"X-CSRF-Token": csrf}
    )
    assert done.status == 200
    data = await (await client.get("/console/api/tasks")).json()
    kinds = {kind["kind"]: kind["items"] for kind in data["kinds"]}
    assert kinds["published_demand"][0]["done"]["done_by"] == "agent1"
    assert store.audit_entries()[0]["action"] == "task_done"

    for path in ("published_demand/99999", "nonsense/1", "expert_contact/abc"):
        response = await client.post(f"/console/api/tasks/{path}/done", headers={"X-CSRF-Token": csrf})
        assert response.status == 404, path

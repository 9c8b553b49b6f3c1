"""The production profile: PostgreSQL tracker store, Redis lock store, RabbitMQ broker.

Runs against the real servers on this machine (tests/services.py); CI makes a missing
server a failure.
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from tests.helpers import send_rest


def test_conversation_is_stored_in_postgresql_under_the_production_profile(production_assistant, postgres_url):
    sender = f"prod-profile-{uuid.uuid4().hex[:8]}"

    replies = send_rest(production_assistant, sender, "双城经济圈发展基金规模多大")
    assert "300亿元" in "\n".join(m.get("text") or "" for m in replies)

    engine = sa.create_engine(postgres_url)
    with engine.connect() as connection:
        stored = connection.execute(
            sa.text("SELECT type_name FROM events WHERE sender_id = :sender"), {"sender": f"rest:{sender}"}
        ).scalars().all()
    assert "user" in stored and "bot" in stored

"""Alembic environment of the handoff database (tables in bot/handoff/schema.py).

Usual entry point: bot.handoff.schema.upgrade_to_head(engine), called whenever a
HandoffStore opens a database. It hands over its connection; the history keeps its
own version table so that it can share a PostgreSQL database with the platform data.
"""
from __future__ import annotations

import sys
from pathlib import Path

from alembic import context

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.handoff.schema import VERSION_TABLE, metadata

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()

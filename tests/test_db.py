"""The shared database set-up (bot.db) as the three stores use it, on SQLite and PostgreSQL."""
from __future__ import annotations

import sqlite3
import stat
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.db import BUSY_TIMEOUT_S, DirectStatement, create_engine, sqlite_file
from bot.handoff.store import HandoffStore
from bot.platform.db import dispose_engine, get_engine
from bot.stores import SQLiteTrackerStore
from tests.services import require_postgres


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def pragma(engine: sa.engine.Engine, name: str):
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_sqlite_files_and_new_folders_are_owner_only(tmp_path):
    path = tmp_path / "new" / "nested" / "handoff.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
    engine.dispose()


def test_existing_world_readable_database_is_tightened(tmp_path):
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    folder_mode = mode(tmp_path)
    create_engine(f"sqlite:///{path}").dispose()
    assert mode(path) == 0o600
    assert mode(tmp_path) == folder_mode  # folders that exist may be shared on purpose


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert pragma(engine, "journal_mode") == "wal"
    assert pragma(engine, "synchronous") == 1  # NORMAL
    assert pragma(engine, "busy_timeout") == BUSY_TIMEOUT_S * 1000
    assert pragma(engine, "foreign_keys") == 1
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id))")
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO child VALUES (1, 42)")
    engine.dispose()


def test_begin_immediate_takes_the_write_lock_before_the_first_write(tmp_path):
    path = tmp_path / "lock.db"
    engine = create_engine(f"sqlite:///{path}", begin="IMMEDIATE")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    other = sqlite3.connect(path, timeout=0)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM t").scalar()  # only read so far
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO t VALUES (1)")
        other.execute("INSERT INTO t VALUES (1)")  # free again after the commit
        other.commit()
    finally:
        other.close()
        engine.dispose()


def test_read_only_engine_reads_and_refuses_writes(tmp_path):
    url = f"sqlite:///{tmp_path / 'rasa.db'}"
    writer = create_engine(url)
    with writer.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE events (id INTEGER PRIMARY KEY, data TEXT)")
        conn.exec_driver_sql("INSERT INTO events (data) VALUES ('{}')")
    reader = create_engine(url, read_only=True, begin="DEFERRED")
    with reader.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar() == 1
    with pytest.raises(sa.exc.OperationalError, match="readonly"):
        with reader.begin() as conn:
            conn.exec_driver_sql("DELETE FROM events")
    writer.dispose()
    reader.dispose()


def test_bad_begin_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="IMMEDIATE"):
        create_engine(f"sqlite:///{tmp_path / 'x.db'}", begin="EXCLUSIVE")


def test_in_memory_and_uri_databases_have_no_file():
    assert sqlite_file("sqlite://") is None
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("sqlite:///var/x.db") == Path("var/x.db")
    engine = create_engine("sqlite://")
    assert pragma(engine, "foreign_keys") == 1
    engine.dispose()


def test_every_store_creates_its_sqlite_file_owner_only(tmp_path):
    handoff = HandoffStore(f"sqlite:///{tmp_path / 'handoff' / 'handoff.db'}")
    handoff.add_staff("alice", "a long enough password", "agent")
    handoff.dispose()
    platform_url = f"sqlite:///{tmp_path / 'platform' / 'platform.db'}"
    with get_engine(platform_url).connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    dispose_engine(platform_url)
    tracker = SQLiteTrackerStore(db=str(tmp_path / "tracker" / "tracker.db"))
    assert pragma(tracker.engine, "journal_mode") == "wal"
    tracker.engine.dispose()
    for name in ("handoff", "platform", "tracker"):
        assert mode(tmp_path / name) == 0o700
        assert mode(tmp_path / name / f"{name}.db") == 0o600
        for companion in (tmp_path / name).glob(f"{name}.db-*"):
            assert mode(companion) == 0o600


def test_postgresql_urls_get_a_plain_pre_pinging_engine(postgres_url):
    engine = create_engine(postgres_url, begin="IMMEDIATE", read_only=True)
    assert engine.dialect.name == "postgresql" and engine.pool._pre_ping
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'direct.db'}" if request.param == "sqlite" else require_postgres()
    engine = create_engine(url, begin="IMMEDIATE")
    yield engine
    engine.dispose()


def test_direct_statements_read_and_write_as_sqlalchemy_does_within_its_transaction(engine):
    table = sa.Table(
        f"direct_{uuid.uuid4().hex[:10]}",  # own table: parallel runs share the PostgreSQL database
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(32)),
        sa.Column("active", sa.Boolean),
        sa.Column("score", sa.Float),
    )
    table.create(engine)
    try:
        insert = DirectStatement(table.insert().values({c: sa.bindparam(c) for c in ("id", "name", "active", "score")}))
        with engine.begin() as conn:
            assert insert.rowcount(conn, {"id": 1, "name": "a", "active": True, "score": 0.9}) == 1
            assert insert.rowcount(conn, {"id": 2, "name": "b", "active": False, "score": 0.2}) == 1
        # A literal the statement carries (0.5) is bound along with the caller's values.
        query = sa.select(table).where(table.c.name == sa.bindparam("name"), table.c.score > 0.5)
        with engine.connect() as conn:
            row = DirectStatement(query).first(conn, {"name": "a"})
            assert row == dict(conn.execute(query, {"name": "a"}).mappings().one())
            assert row == {"id": 1, "name": "a", "active": True, "score": 0.9} and row["active"] is True
            assert DirectStatement(query).first(conn, {"name": "b"}) is None
        # A direct write belongs to the transaction it runs in: rolled back with it.
        deactivate = DirectStatement(table.update().where(table.c.id == sa.bindparam("row")).values(active=False))
        with pytest.raises(RuntimeError), engine.begin() as conn:
            assert deactivate.rowcount(conn, {"row": 1}) == 1
            raise RuntimeError("the transaction fails after the write")
        with engine.connect() as conn:
            assert conn.execute(sa.select(table.c.active).where(table.c.id == 1)).scalar_one() is True
        with engine.begin() as conn:
            assert deactivate.rowcount(conn, {"row": 99}) == 0
        with engine.connect() as conn, pytest.raises(RuntimeError, match="transaction"):
            deactivate.rowcount(conn, {"row": 1})  # outside a transaction it would be lost or kept unseen
        # The driver's errors reach callers as SQLAlchemy's, which is what they catch.
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            insert.rowcount(conn, {"id": 1, "name": "again", "active": True, "score": 0.1})
    finally:
        table.drop(engine)

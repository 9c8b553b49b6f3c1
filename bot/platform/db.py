"""Engine, sessions and schema migrations of the platform database.

The URL comes from ``bot.settings`` (``PLATFORM_DATABASE_URL``): a SQLite file under
``var/`` by default, PostgreSQL in production. The schema is owned by the Alembic
migrations in ``migrations/``; :func:`upgrade_to_head` applies them and is called by
the importer and by ``python -m bot run`` before anything reads the data.
"""
from __future__ import annotations

import contextlib
import threading
import uuid
from typing import Dict, Iterator, Optional

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.db import DirectStatement, create_engine
from bot.platform.models import PlatformMeta
from bot.settings import PROJECT_ROOT, get_settings

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
ALEMBIC_INI = MIGRATIONS_DIR / "alembic.ini"
DATA_VERSION_KEY = "data_version"
#: The newest ``data_version`` an action server has fully indexed and serves.
SERVED_VERSION_KEY = "served_data_version"

_engines: Dict[str, Engine] = {}
_engines_lock = threading.Lock()


def database_url(url: Optional[str] = None) -> str:
    """``url`` if given, else the configured ``platform_database_url``."""
    return url or get_settings().platform_database_url


def get_engine(url: Optional[str] = None) -> Engine:
    """The process-wide engine for ``url`` (default: the configured database).

    Opened through :func:`bot.db.create_engine`: SQLite files are created owner-only,
    in WAL mode, with foreign keys enforced, so both back-ends reject the same bad data.
    """
    url = database_url(url)
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = create_engine(url, future=True)
            _engines[url] = engine
        return engine


def dispose_engine(url: Optional[str] = None) -> None:
    """Close the pooled connections of ``url``'s engine (tests dropping a database)."""
    with _engines_lock:
        engine = _engines.pop(database_url(url), None)
    if engine is not None:
        engine.dispose()


def make_session(url: Optional[str] = None) -> Session:
    """A new ORM session bound to the platform database."""
    return sessionmaker(bind=get_engine(url), future=True, expire_on_commit=False)()


@contextlib.contextmanager
def session_scope(url: Optional[str] = None) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    session = make_session(url)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: Optional[str] = None):
    """The Alembic configuration of ``migrations/`` pointed at ``url``."""
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ``%`` is ConfigParser's interpolation character; URLs may contain it.
    config.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return config


def upgrade_to_head(url: Optional[str] = None) -> None:
    """Create or migrate the platform schema to the newest Alembic revision."""
    from alembic import command

    config = alembic_config(url)
    with get_engine(url).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


#: The data version's row; :func:`current_data_version` runs it directly, as every action
#: that matches asks for it.
_DATA_VERSION = select(PlatformMeta.value).where(PlatformMeta.key == DATA_VERSION_KEY)
_READ_DATA_VERSION = DirectStatement(_DATA_VERSION)


def data_version(session: Session) -> int:
    """Counter bumped by every change of the data that matching reads (0 when empty)."""
    value = session.execute(_DATA_VERSION).scalar_one_or_none()
    return int(value) if value is not None else 0


def current_data_version(url: Optional[str] = None) -> int:
    """:func:`data_version` of ``url``'s data, read on its own (no session)."""
    with get_engine(url).connect() as conn:
        row = _READ_DATA_VERSION.first(conn, {})
    return int(row["value"]) if row else 0


def bump_data_version(session: Session) -> int:
    """Increase ``data_version`` inside the caller's transaction; returns the new value."""
    row = session.get(PlatformMeta, DATA_VERSION_KEY, with_for_update=True)
    if row is None:
        row = PlatformMeta(key=DATA_VERSION_KEY, value="0")
        session.add(row)
    row.value = str(int(row.value) + 1)
    session.flush()
    return int(row.value)


def served_data_version(session: Session) -> int:
    """The newest ``data_version`` an action server serves from a complete index (0 if none)."""
    value = session.execute(
        select(PlatformMeta.value).where(PlatformMeta.key == SERVED_VERSION_KEY)
    ).scalar_one_or_none()
    return int(value) if value is not None else 0


def record_served_version(session: Session, version: int) -> None:
    """Note that an index of ``version`` now answers (``import-export --wait`` reads it)."""
    row = session.get(PlatformMeta, SERVED_VERSION_KEY, with_for_update=True)
    if row is None:
        session.add(PlatformMeta(key=SERVED_VERSION_KEY, value=str(version)))
    elif int(row.value) < version:
        row.value = str(version)
    session.flush()


@contextlib.contextmanager
def scratch_postgres_database(server_url: str, prefix: str) -> Iterator[str]:
    """Create a uniquely named database on a PostgreSQL server, yield its URL, drop it.

    For tests and benchmarks that must not touch each other's data (several run at once)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = str(sa.engine.make_url(server_url).set(database=name))
    try:
        yield url
    finally:
        dispose_engine(url)
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
